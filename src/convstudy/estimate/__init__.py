"""Expected wall time of what ``snakemake`` would run now (``convstudy estimate``).

The planned jobs come from Snakemake's own dry run (``dryrun``), each job's cost
from an earlier run, a measured reference table or a labelled fallback (``costs``),
and the wall time from simulating Snakemake's scheduling on the given cores
(``schedule``). ``--record`` writes the reference table from a finished run's
benchmark files, so that every number in it was measured.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import birds_experiments, cifar_variants, load_config, load_schema
from ..provenance import cpu_model
from ..variants import deep_merge
from .costs import (
    EARLIER,
    FALLBACK,
    REFERENCE,
    Cost,
    Workload,
    job_cost,
    read_benchmark,
    reference_rules,
)
from .costs import workload as workload_of
from .dryrun import Job, dependencies, dry_run, parse_dry_run
from .schedule import Schedule, Task, simulate

#: The configfile the Snakefile names; --configfile files extend it, as in Snakemake.
DEFAULT_CONFIGFILE = "config/config.yaml"
SCHEMA = "config/config.schema.yaml"
#: The reference shipped with the workflow, relative to the workflow directory.
#: Costs measured by this project on its 2-core machine, shipped with the package so
#: that every copy of the workflow (a module deployment too) has them.
DEFAULT_REFERENCE = Path(__file__).resolve().parent / "reference" / "cpu_2core.json"


class EstimateError(Exception):
    """Something the estimate cannot work from; one line for the user."""


@dataclass(frozen=True)
class Invocation:
    """The Snakemake arguments being estimated: where, with which config and cores."""

    workdir: Path
    cores: int
    configfiles: tuple[str, ...] = ()
    config: tuple[str, ...] = ()

    def describe(self) -> str:
        args = [f"--cores {self.cores}"]
        files = [_relative(Path(f), self.workdir) for f in self.configfiles]
        args += [f"--configfile {' '.join(files)}"] if files else []
        args += [f"--config {' '.join(self.config)}"] if self.config else []
        return f"snakemake {' '.join(args)}"


def _relative(path: Path, base: Path) -> str:
    """``path`` from ``base`` when it lies inside (as a user typed it), else in full."""
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def resolve_config(run: Invocation) -> dict:
    """The config Snakemake would use: the Snakefile's configfile, each --configfile
    over it, then --config (parsed by Snakemake's own parser), validated with defaults."""
    from snakemake.cli import parse_config  # the exact --config syntax; imported on use

    overlay: dict = {}
    for path in run.configfiles:
        with open(run.workdir / path) as fh:
            overlay = deep_merge(overlay, yaml.safe_load(fh) or {})
    overlay = deep_merge(overlay, parse_config(list(run.config)))
    return load_config(run.workdir / DEFAULT_CONFIGFILE, overlay, run.workdir / SCHEMA)


def planned_workload(config: Mapping, workdir: Path) -> Workload:
    """Work-unit sizes of a resolved config, through the workflow's own resolution."""
    schema = load_schema(workdir / SCHEMA)
    cifar = cifar_variants(config, schema) if config["cifar"]["enabled"] else {}
    birds = birds_experiments(config, schema) if config["birds"]["enabled"] else {}
    return workload_of(config, cifar, birds)


def load_reference(path: Path | None) -> dict:
    """A reference table written by --record; none (every rule a fallback) without a file."""
    if path is None or not path.is_file():
        return {"rules": {}}
    try:
        reference = json.loads(path.read_text())
    except ValueError as exc:
        raise EstimateError(f"{path}: not JSON ({exc})") from None
    if not isinstance(reference, dict) or not isinstance(reference.get("rules"), dict):
        raise EstimateError(f"{path}: not a reference table (no 'rules')")
    return reference


def tasks(jobs: Sequence[Job], costs: Mapping[int, Cost]) -> list[Task]:
    """The scheduling view of planned jobs with their costs."""
    deps = dependencies(jobs)
    return [
        Task(j.jobid, costs[j.jobid].seconds, j.threads, j.priority, deps[j.jobid]) for j in jobs
    ]


@dataclass(frozen=True)
class Estimate:
    """Planned jobs, their costs, and the simulated schedule."""

    run: Invocation
    jobs: list[Job]
    costs: dict[int, Cost]
    schedule: Schedule
    reference: Path | None
    recorded: dict
    #: Wall time with the fallback jobs counted as 0 s (None: no fallback): the bound
    #: that the measured jobs alone set.
    measured_wall_seconds: float | None = None


def estimate(run: Invocation, reference_path: Path | None, forceall: bool = False) -> Estimate:
    """Plan with Snakemake, cost every job, simulate the schedule."""
    jobs = parse_dry_run(
        dry_run(run.workdir, run.cores, run.configfiles, run.config, forceall=forceall)
    )
    work = planned_workload(resolve_config(run), run.workdir)
    reference = load_reference(reference_path)
    costs = {j.jobid: job_cost(j, run.workdir, reference["rules"], work, run.cores) for j in jobs}
    schedule = simulate(tasks(jobs, costs), run.cores)
    used = reference_path if reference["rules"] else None
    recorded = reference.get("recorded", {})
    return Estimate(run, jobs, costs, schedule, used, recorded, measured_wall(jobs, costs, run))


def measured_wall(jobs: Sequence[Job], costs: Mapping[int, Cost], run: Invocation) -> float | None:
    """The wall time with every fallback counted as 0 s, or None without fallbacks: how
    much of the estimate rests on assumptions rather than measurements."""
    if not any(c.source == FALLBACK and c.seconds > 0 for c in costs.values()):
        return None
    zeroed = {i: Cost(0.0, c.source) if c.source == FALLBACK else c for i, c in costs.items()}
    return simulate(tasks(jobs, zeroed), run.cores).wall_seconds


# ------------------------------------------------------------------ output


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 42 s, 6 min 05 s, 2 h 07 min."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _sources(costs: Sequence[Cost]) -> str:
    """Where a rule's job costs came from, e.g. "reference (12), earlier run (2)"."""
    counts: dict[str, int] = {}
    for cost in costs:
        label = f"{cost.source}: {cost.note}" if cost.source == FALLBACK else cost.source
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"{label} ({n})" for label, n in counts.items())


def rule_table(est: Estimate) -> list[str]:
    """Per rule, in the order the simulation starts them: jobs, threads, seconds, source."""
    start = est.schedule.start
    rules: dict[str, list[Job]] = {}
    for job in sorted(est.jobs, key=lambda j: (start[j.jobid], j.jobid)):
        rules.setdefault(job.rule, []).append(job)
    lines = ["| rule | jobs | threads | estimated s | cost from |", "|---|--:|--:|--:|---|"]
    for rule, jobs in rules.items():
        costs = [est.costs[j.jobid] for j in jobs]
        threads = max(min(j.threads, est.run.cores) for j in jobs)
        seconds = sum(c.seconds for c in costs)
        lines.append(f"| {rule} | {len(jobs)} | {threads} | {seconds:.1f} | {_sources(costs)} |")
    return lines


def _reference_line(est: Estimate) -> str:
    """Which reference priced the jobs, and where it was measured."""
    if est.reference is None:
        return "Reference: none (no file): jobs without an earlier run fall back."
    rec = est.recorded
    return (
        f"Reference: {est.reference}, measured {rec.get('measured_on', '?')} on "
        f"{rec.get('cpu_model', '?')} ({rec.get('cpu_count', '?')} CPUs) "
        f"with --cores {rec.get('cores', '?')}."
    )


#: Work this many times the reference's (or a fraction as small) is an extrapolation.
EXTRAPOLATION = 10.0


def extrapolations(est: Estimate) -> list[str]:
    """Rules whose jobs are far bigger or smaller than the ones the reference measured:
    a job's fixed start-up time scaled with its work over- or under-states it."""
    scales: dict[str, float] = {}
    for job in est.jobs:
        cost = est.costs[job.jobid]
        if cost.source == REFERENCE and abs(math.log(cost.scale)) > math.log(EXTRAPOLATION):
            worst = scales.get(job.rule, 1.0)
            scales[job.rule] = max(worst, cost.scale, key=lambda x: abs(math.log(x)))
    if not scales:
        return []
    parts = ", ".join(f"{rule} x{scale:.3g}" for rule, scale in scales.items())
    return [
        f"Extrapolated (work per job vs the reference's): {parts}. Start-up time is "
        "scaled too: likely over-estimates above x1, under-estimates below."
    ]


def fallback_lines(est: Estimate) -> list[str]:
    """What the estimate would be without the fallbacks' assumed seconds."""
    if est.measured_wall_seconds is None:
        return []
    rules = sorted({j.rule for j in est.jobs if est.costs[j.jobid].source == FALLBACK})
    return [
        f"Not measured: {', '.join(rules)} (fallback). With those jobs counted as 0 s, "
        f"the wall time would be {duration(est.measured_wall_seconds)} "
        f"({est.measured_wall_seconds:.0f} s)."
    ]


def format_estimate(est: Estimate) -> str:
    """The estimate as text: wall time, CPU-busy time, critical path, per-rule table."""
    sched, by_id = est.schedule, {j.jobid: j for j in est.jobs}
    head = [f"Estimate of `{est.run.describe()}` in {est.run.workdir}", ""]
    if not est.jobs:
        return "\n".join([*head, "Nothing to run: Snakemake plans no job.", ""])
    path = [by_id[i] for i in sched.critical_path]
    lines = [
        *head,
        f"Expected wall time: {duration(sched.wall_seconds)} ({sched.wall_seconds:.0f} s) "
        f"for {len(est.jobs)} jobs on {est.run.cores} cores",
        f"Sum of job times (CPU-busy): {duration(sched.busy_seconds)} ({sched.busy_seconds:.0f} s)",
        f"Critical path: {duration(sched.critical_seconds)} ({sched.critical_seconds:.0f} s), "
        f"{len(path)} jobs:",
        *(f"  {j.label}: {est.costs[j.jobid].seconds:.1f} s" for j in path),
        "",
        *rule_table(est),
        "",
        _reference_line(est),
        *fallback_lines(est),
        *extrapolations(est),
        f"Cost from: {EARLIER} = the job's own benchmark file; {REFERENCE} = the reference's "
        f"seconds per work unit x the job's work units; {FALLBACK} = not measured, an "
        "assumption.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ --record


def _inside(results: Path, config: Mapping, workdir: Path) -> None:
    """The config must be the recorded run's: its results_dir is the one measured."""
    configured = (workdir / config["results_dir"]).resolve()
    if configured != results.resolve():
        raise EstimateError(
            f"{results} is not this config's results_dir ({config['results_dir']}): "
            "pass the --configfile and --config the recorded run used"
        )


def record(run: Invocation, results: Path) -> dict:
    """A reference table from the benchmark files of a finished run in ``results``:
    every job Snakemake plans for that config (as if from scratch) that has one."""
    config = resolve_config(run)
    _inside(results, config, run.workdir)
    jobs = parse_dry_run(
        dry_run(run.workdir, run.cores, run.configfiles, run.config, forceall=True)
    )
    measured, missing = [], {}
    for job in jobs:
        path = run.workdir / job.benchmark if job.benchmark else None
        if path is not None and path.is_file():
            measured.append((job, read_benchmark(path), path.stat().st_mtime))
        else:
            missing[job.rule] = missing.get(job.rule, 0) + 1
    if not measured:
        raise EstimateError(f"{results}: no benchmark file of any planned job")
    work = planned_workload(config, run.workdir)
    newest = max(mtime for *_, mtime in measured)
    return {
        "about": "Seconds per work unit of each rule, measured by `convstudy estimate "
        "--record` from a finished run's benchmark files (column s); per experiment "
        "where the rule has wildcards. `convstudy estimate` scales them by each "
        "planned job's work units.",
        "recorded": {
            "measured_on": datetime.date.fromtimestamp(newest).isoformat(),
            "recorded_on": datetime.date.today().isoformat(),
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "cores": run.cores,
            "configfiles": [_relative(Path(f), run.workdir) for f in run.configfiles],
            "config_args": list(run.config),
            "config": config,
        },
        "rules": reference_rules(((j, b) for j, b, _ in measured), work),
        "not_measured": dict(sorted(missing.items())),
    }
