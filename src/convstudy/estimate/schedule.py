"""How long a set of dependent jobs takes on some cores: their schedule, simulated.

Whenever cores are free, Snakemake's default scheduler (``ilp``) starts the set of
ready jobs with the largest sum of ``priority`` that fits them, then, among equal
sums, the set that uses the most cores. This simulation chooses the same way (a
knapsack over the free cores, solved exactly). Among sets equal on both it prefers
the longer remaining paths to the end of the graph (critical path first, the classic
list scheduling rule, which keeps the longest chain from starting late), then the
lower jobids, so that every run of the estimate gives the same schedule; Snakemake
leaves that choice to its solver.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class ScheduleError(ValueError):
    """A graph that cannot run: a cycle, or a dependency on an unknown job."""


@dataclass(frozen=True)
class Task:
    """A job as the simulation sees it: its cost, cores and what it waits for."""

    id: int
    seconds: float
    threads: int = 1
    priority: float = 0
    deps: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Schedule:
    """Start time of every task, the time the last one ends, and the graph's longest path."""

    start: dict[int, float]
    wall_seconds: float
    busy_seconds: float
    critical_path: list[int]
    critical_seconds: float


def _dependents(tasks: Mapping[int, Task]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {tid: [] for tid in tasks}
    for task in tasks.values():
        for dep in task.deps:
            if dep not in tasks:
                raise ScheduleError(f"job {task.id} waits for job {dep}, which is not planned")
            out[dep].append(task.id)
    return out


def _topological(tasks: Mapping[int, Task], dependents: Mapping[int, list[int]]) -> list[int]:
    """Task ids, every task after those it waits for (Kahn); a cycle is an error."""
    waiting = {tid: len(task.deps) for tid, task in tasks.items()}
    order = [tid for tid, n in waiting.items() if n == 0]
    for tid in order:
        for child in dependents[tid]:
            waiting[child] -= 1
            if waiting[child] == 0:
                order.append(child)
    if len(order) != len(tasks):
        raise ScheduleError("the jobs' dependencies form a cycle")
    return order


def remaining_paths(
    tasks: Mapping[int, Task], dependents: Mapping[int, list[int]]
) -> dict[int, float]:
    """Per task, the longest chain of seconds from its start to the end of the graph."""
    remaining: dict[int, float] = {}
    for tid in reversed(_topological(tasks, dependents)):
        after = [remaining[child] for child in dependents[tid]]
        remaining[tid] = tasks[tid].seconds + max(after, default=0.0)
    return remaining


def _critical_path(
    remaining: Mapping[int, float], tasks: Mapping[int, Task], dependents: Mapping[int, list[int]]
) -> list[int]:
    """The longest chain: from the task with the longest remaining path, each step to the
    dependent whose remaining path continues it (ties to the lower id)."""
    if not tasks:
        return []
    starts = [tid for tid, task in tasks.items() if not task.deps]
    path = [min(starts, key=lambda t: (-remaining[t], t))]
    while dependents[path[-1]]:
        path.append(min(dependents[path[-1]], key=lambda t: (-remaining[t], t)))
    return path


def _rank(priority: float) -> tuple[int, float]:
    """``--prioritize``'s "highest" (inf) outranks any sum of finite priorities."""
    return (1, 0.0) if math.isinf(priority) else (0, priority)


def _start_set(
    ready: set[int],
    free: int,
    tasks: Mapping[int, Task],
    need: Mapping[int, int],
    remaining: Mapping[int, float],
) -> tuple[int, ...]:
    """The ready tasks to start on ``free`` cores: the largest sum of priorities, then
    the most cores, then the longest remaining paths (0/1 knapsack over used cores)."""
    best: dict[int, tuple[tuple, tuple[int, ...]]] = {0: ((0, 0.0, 0, 0.0), ())}
    for tid in sorted(ready):
        gain = (*_rank(tasks[tid].priority), need[tid], remaining[tid])
        for used, (value, chosen) in list(best.items()):
            if used + need[tid] > free:
                continue
            candidate = tuple(a + b for a, b in zip(value, gain, strict=True))
            if used + need[tid] not in best or candidate > best[used + need[tid]][0]:
                best[used + need[tid]] = (candidate, (*chosen, tid))
    return max(best.values())[1]


def simulate(tasks: Sequence[Task], cores: int) -> Schedule:
    """List scheduling of ``tasks`` on ``cores``: each task holds min(threads, cores)
    cores for its seconds (Snakemake caps a job's threads at --cores the same way)."""
    if cores < 1:
        raise ScheduleError(f"cores must be at least 1, not {cores}")
    by_id = {task.id: task for task in tasks}
    dependents = _dependents(by_id)
    remaining = remaining_paths(by_id, dependents)
    need = {tid: min(task.threads, cores) for tid, task in by_id.items()}
    waiting = {tid: len(task.deps) for tid, task in by_id.items()}
    ready = {tid for tid, n in waiting.items() if n == 0}
    running: list[tuple[float, int]] = []
    start: dict[int, float] = {}
    now, free = 0.0, cores
    while ready or running:
        for tid in _start_set(ready, free, by_id, need, remaining):
            free -= need[tid]
            ready.discard(tid)
            start[tid] = now
            heapq.heappush(running, (now + by_id[tid].seconds, tid))
        now, done = heapq.heappop(running)
        free += need[done]
        for child in dependents[done]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.add(child)
    path = _critical_path(remaining, by_id, dependents)
    return Schedule(
        start=start,
        wall_seconds=now,
        busy_seconds=sum(task.seconds for task in tasks),
        critical_path=path,
        critical_seconds=remaining[path[0]] if path else 0.0,
    )
