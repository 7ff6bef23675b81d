"""convstudy estimate: planned jobs, their costs, and the simulated schedule."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import SRC, snakemake
from convstudy import jobsize
from convstudy.checkout import copy_workflow
from convstudy.estimate import (
    DEFAULT_REFERENCE,
    Estimate,
    Invocation,
    estimate,
    extrapolations,
    format_estimate,
    measured_wall,
    planned_workload,
    record,
    resolve_config,
    tasks,
)
from convstudy.estimate.costs import (
    EARLIER,
    FALLBACK,
    NO_WORK,
    REFERENCE,
    Benchmark,
    Cost,
    Workload,
    job_cost,
    reference_rules,
    thread_factor,
)
from convstudy.estimate.dryrun import DryRunError, Job, dependencies, parse_dry_run
from convstudy.estimate.schedule import ScheduleError, Task, simulate

DEMO = ("--configfile", "config/demo.yaml")

# ------------------------------------------------------------------ schedule


def test_a_chain_takes_the_sum_of_its_jobs():
    chain = [Task(1, 3.0), Task(2, 4.0, deps=frozenset({1})), Task(3, 5.0, deps=frozenset({2}))]
    schedule = simulate(chain, cores=4)
    assert schedule.wall_seconds == 12.0
    assert schedule.start == {1: 0.0, 2: 3.0, 3: 7.0}
    assert (schedule.critical_path, schedule.critical_seconds) == ([1, 2, 3], 12.0)


def test_independent_one_core_jobs_on_two_cores_take_the_longest():
    schedule = simulate([Task(1, 3.0), Task(2, 7.0)], cores=2)
    assert schedule.wall_seconds == 7.0
    assert schedule.busy_seconds == 10.0
    assert simulate([Task(1, 3.0), Task(2, 7.0)], cores=1).wall_seconds == 10.0


def test_priority_decides_which_job_starts_first():
    # Three ready jobs for two cores; C (10 s) waits for A. Critical path first starts A
    # at once (A, C: 15 s); priority on B and D starts them first and C ends at 20 s.
    def graph(priority: float) -> list[Task]:
        return [
            Task(1, 5.0),
            Task(2, 5.0, priority=priority),
            Task(3, 10.0, deps=frozenset({1})),
            Task(4, 5.0, priority=priority),
        ]

    plain, prioritized = simulate(graph(0), cores=2), simulate(graph(1), cores=2)
    assert (plain.start[1], plain.wall_seconds) == (0.0, 15.0)
    assert (prioritized.start[1], prioritized.start[3], prioritized.wall_seconds) == (
        5.0,
        10.0,
        20.0,
    )
    assert simulate(graph(math.inf), cores=2).wall_seconds == 20.0  # "highest"


def test_the_set_with_the_larger_sum_of_priorities_starts_first():
    # As Snakemake's ilp scheduler: a 2-core job of priority 5 against two 1-core jobs
    # of 3 each (sum 6) on two cores loses; of priority 7 it starts first.
    def graph(long: float) -> list[Task]:
        return [
            Task(1, 10.0, threads=2, priority=long),
            Task(2, 1.0, priority=3),
            Task(3, 1.0, priority=3),
        ]

    assert simulate(graph(5), cores=2).start == {2: 0.0, 3: 0.0, 1: 1.0}
    assert simulate(graph(7), cores=2).start == {1: 0.0, 2: 10.0, 3: 10.0}
    # Equal sums, equal cores: the longer remaining path.
    assert simulate(graph(6), cores=2).start[1] == 0.0


def test_a_job_asking_more_threads_than_cores_is_capped():
    # Capped at 2 it runs at all, and holds both cores: the 1-thread job waits for it.
    schedule = simulate([Task(1, 4.0, threads=8), Task(2, 3.0)], cores=2)
    assert schedule.wall_seconds == 7.0
    assert schedule.start == {1: 0.0, 2: 4.0}


def test_cycles_and_unknown_dependencies_are_errors():
    with pytest.raises(ScheduleError, match="cycle"):
        simulate([Task(1, 1.0, deps=frozenset({2})), Task(2, 1.0, deps=frozenset({1}))], 2)
    with pytest.raises(ScheduleError, match="job 1 waits for job 9"):
        simulate([Task(1, 1.0, deps=frozenset({9}))], 2)


# ------------------------------------------------------------------ dry-run parsing

#: Blocks as Snakemake 9 prints them, with what the demo's dry run never shows.
BLOCKS = """\
Building DAG of jobs...
Job stats:
job          count
---------  -------
make_data        1
train            1
total            2


[Wed Dec  2 04:07:52 2026]
rule make_data:
    output: data.npz (pipe), split.json
    jobid: 2
    reason: Missing output files: data.npz
    priority: highest
    resources: tmpdir=/tmp
Shell command: None

[Wed Dec  2 04:07:52 2026]
localrule train:
    input: data.npz, raw.txt
    output: model/a, b.keras
    log: train.log
    jobid: 1
    benchmark: bench/train.tsv
    reason: Input files updated by another job: data.npz
    wildcards: name=a, b, rep=0
    priority: -2
    threads: 3
    resources: tmpdir=/tmp, runtime=18, mem_mb=6000, mem=6 GB
Shell command:
    python train.py \\
        --fast
This was a dry-run (flag -n). The order of jobs does not reflect the order of execution.
"""


def test_parse_blocks_with_priorities_threads_and_file_notes():
    make_data, train = parse_dry_run(BLOCKS)
    assert make_data == Job(
        jobid=2,
        rule="make_data",
        priority=math.inf,
        outputs=("data.npz", "split.json"),
        reason="Missing output files: data.npz",
        resources={"tmpdir": "/tmp"},
    )
    assert (train.rule, train.threads, train.priority, train.benchmark) == (
        "train",
        3,
        -2,
        "bench/train.tsv",
    )
    assert train.wildcards == {"name": "a, b", "rep": "0"}
    assert train.resources["runtime"] == "18" and train.resources["mem"] == "6 GB"
    assert dependencies([make_data, train]) == {2: frozenset(), 1: frozenset({2})}


def test_parse_refuses_what_it_cannot_read():
    assert parse_dry_run("Building DAG of jobs...\nNothing to be done.\n") == []
    with pytest.raises(DryRunError, match="read 1 job blocks but Snakemake counts 2"):
        parse_dry_run(BLOCKS.replace("rule make_data:", "rule make data:"))
    with pytest.raises(DryRunError, match="message: hides the details of job 7"):
        parse_dry_run(BLOCKS + "[Wed Dec  2 04:07:52 2026]\nJob 7: Training a\nReason: x\n")


@pytest.fixture(scope="module")
def demo_plan(tmp_path_factory) -> tuple[Path, str]:
    """A fresh copy of the workflow and Snakemake's dry run of the demo on 2 cores there."""
    workdir = copy_workflow(tmp_path_factory.mktemp("plan") / "workflow")
    return workdir, snakemake(workdir, "--dry-run", "--cores", "2", *DEMO).stdout


def test_parse_the_demo_dry_run(demo_plan):
    jobs = parse_dry_run(demo_plan[1])  # the counts are checked against "Job stats"
    by_rule: dict[str, list[Job]] = {}
    for job in jobs:
        by_rule.setdefault(job.rule, []).append(job)
    # Our residual CNN asks for training.threads (2), capped at --cores 2; the small
    # networks for one (convstudy.jobsize); plots print no threads line.
    threads = {j.wildcards["variant"]: j.threads for j in by_rule["train_cifar"]}
    assert threads["resnet"] == 2 and threads["basenet"] == threads["batchnorm"] == 1
    assert {j.threads for j in by_rule["plot_cifar_curves"]} == {1}
    # The longest jobs first: priorities follow the work, the data come first.
    priority = {j.wildcards["variant"]: j.priority for j in by_rule["train_cifar"]}
    assert priority["resnet"] > priority["batchnorm"] > priority["augmented"] > 0
    assert {j.priority for j in by_rule["prepare_cifar"]} == {jobsize.FIRST}
    assert {j.priority for j in by_rule["plot_cifar_curves"]} == {0}
    assert all(j.benchmark and j.benchmark.endswith(".tsv") for j in jobs if j.rule != "all")
    by_id, deps = {j.jobid: j for j in jobs}, dependencies(jobs)
    for job in by_rule["evaluate_cifar"]:
        before = {(by_id[d].rule, tuple(by_id[d].wildcards.items())) for d in deps[job.jobid]}
        assert before == {("train_cifar", tuple(job.wildcards.items())), ("prepare_cifar", ())}
    (everything,) = by_rule["all"]
    assert not everything.outputs and everything.benchmark is None
    assert {by_id[d].rule for d in deps[everything.jobid]} >= {"report", "evaluate_birds"}


# ------------------------------------------------------------------ costs


def _train(variant: str = "basenet", rep: int = 0, threads: int = 2) -> Job:
    return Job(
        jobid=rep,
        rule="train_cifar",
        wildcards={"variant": variant, "rep": str(rep)},
        threads=threads,
        outputs=(f"results/cifar/{variant}/rep{rep}/model.keras",),
        benchmark=f"results/benchmarks/cifar/{variant}/rep{rep}/train.tsv",
    )


SMALL = """
cifar:
  source: synthetic
  num_classes: 10
  validation_fraction: 0.1
  synthetic: {train_per_class: 60, test_per_class: 20}
  variants: {basenet: {epochs: 3}}
birds:
  source: synthetic
  num_classes: null
  weights: none
  image_size: 64
  validation_fraction: 0.2
  synthetic: {num_classes: 8, train_per_class: 10, test_per_class: 5}
"""
REAL = """
cifar: {source: download, dataset: cifar100, num_classes: 25, validation_fraction: 0.1,
        max_train_per_class: 400}
birds: {source: download, dataset: cub200, num_classes: 50, validation_fraction: 0.1,
        image_size: 224}
"""


def test_work_units_from_the_resolved_config(repo, tmp_path):
    (tmp_path / "small.yaml").write_text(SMALL)
    (tmp_path / "real.yaml").write_text(REAL)
    small = planned_workload(
        resolve_config(Invocation(repo, 2, (str(tmp_path / "small.yaml"),))), repo
    )
    # 10 classes x (60 - 6 validation) training images; 8 birds classes x (10 - 2) each.
    assert (small.cifar_train, small.cifar_test) == (540, 200)
    assert (small.birds_train, small.birds_test, small.birds_images) == (64, 40, 120)
    assert small.birds_pixels == pytest.approx((64 / 224) ** 2)
    assert small.epochs_of("cifar", "basenet") == 3
    real = planned_workload(
        resolve_config(Invocation(repo, 2, (str(tmp_path / "real.yaml"),))), repo
    )
    # CIFAR-100: 500 training images per class capped at 400, 40 of them for validation.
    assert (real.cifar_train, real.cifar_test) == (25 * 360, 25 * 100)
    # CUB-200: 3000 training and 3033 test images over 200 classes; a quarter of them.
    assert real.birds_train == pytest.approx(3000 / 4 * 0.9) and real.birds_pixels == 1.0
    assert real.birds_images == pytest.approx(6033 / 4)


def test_reference_costs_scale_with_work_units(tmp_path):
    measured = Workload(cifar_train=100, epochs={("cifar", "basenet"): 2, ("cifar", "deeper"): 2})
    reference = reference_rules(
        [
            (_train("basenet", 0), Benchmark(10.0, 16.0)),
            (_train("basenet", 1), Benchmark(12.0, 19.0)),
            (_train("deeper", 0), Benchmark(30.0, 50.0)),
        ],
        measured,
    )
    entry = reference["train_cifar"]
    assert (entry["unit"], entry["jobs"], entry["units"], entry["threads"]) == (
        "epoch x training image",
        3,
        600,
        2,
    )
    assert entry["by_experiment"]["variant=basenet"]["seconds_per_unit"] == 22.0 / 400
    # Same workload: each experiment costs the mean of its replicates.
    costs = [
        job_cost(_train(v, r), tmp_path, reference, measured, 2)
        for v, r in [("basenet", 3), ("deeper", 1)]
    ]
    assert [(c.seconds, c.source) for c in costs] == [(11.0, REFERENCE), (30.0, REFERENCE)]
    # Thirty epochs of 10x the images: 150x the work.
    bigger = Workload(cifar_train=1000, epochs={("cifar", "basenet"): 30, ("cifar", "new"): 30})
    scaled = job_cost(_train("basenet"), tmp_path, reference, bigger, 2)
    assert (scaled.seconds, scaled.scale) == (pytest.approx(1650), pytest.approx(150))
    # A variant the reference never measured: the rule's seconds per unit (52 s / 600).
    assert job_cost(_train("new"), tmp_path, reference, bigger, 2).seconds == pytest.approx(
        52 / 600 * 30000
    )
    # One core where the measurement kept 1.6 busy: 1.6x slower; more cores: no faster.
    one_core = job_cost(_train("basenet", threads=1), tmp_path, reference, measured, 1)
    assert one_core.seconds == pytest.approx(11.0 * 35 / 22)
    assert thread_factor(2, 1.9, 4) == 1.0 and thread_factor(2, None, 1) == 2.0


def test_extrapolations_and_fallbacks_are_named():
    jobs = [_train("basenet", 0), _train("deeper", 1), Job(jobid=2, rule="plot", outputs=("p",))]
    costs = {
        0: Cost(30.0, REFERENCE, scale=150.0),
        1: Cost(3.0, REFERENCE, scale=2.0),
        2: Cost(600.0, FALLBACK, "its runtime request, not a measurement"),
    }
    run = Invocation(Path("."), 2)
    est = Estimate(
        run, jobs, costs, simulate(tasks(jobs, costs), 2), None, {}, measured_wall(jobs, costs, run)
    )
    (line,) = extrapolations(est)
    assert "train_cifar x150." in line
    text = format_estimate(est)
    # The longest job (the 1-thread plot) starts first and holds a core, so the two
    # 2-thread jobs run after it, one after the other.
    assert "Expected wall time: 10 min 33 s (633 s) for 3 jobs on 2 cores" in text
    assert (
        "Not measured: plot (fallback). With those jobs counted as 0 s, the wall time "
        "would be 33 s (33 s)." in text
    )


def test_earlier_runs_come_first_and_fallbacks_are_labelled(tmp_path):
    job = _train()
    bench = tmp_path / job.benchmark
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tcpu_time\n40.0\t0:00:40\t70.1\n44.0\t0:00:44\t80.2\n")
    reference = reference_rules(
        [(_train(rep=1), Benchmark(1.0, 1.0))],
        Workload(cifar_train=1, epochs={("cifar", "basenet"): 1}),
    )
    work = Workload(cifar_train=1, epochs={("cifar", "basenet"): 1})
    assert job_cost(job, tmp_path, reference, work, 2).seconds == 42.0
    assert job_cost(job, tmp_path, reference, work, 2).source == EARLIER
    # Rerun for other params (say, epochs): what it took before is not what it will take.
    rerun = replace(job, reason="Params have changed since last execution: settings")
    assert job_cost(rerun, tmp_path, reference, work, 2).source == REFERENCE
    bench.unlink()
    assert job_cost(job, tmp_path, reference, work, 2).source == REFERENCE
    stale = {"train_cifar": {**reference["train_cifar"], "unit": "epoch"}}  # another unit
    plot = Job(jobid=5, rule="plot", outputs=("c.png",), resources={"runtime": "10"})
    for unmeasured in (
        job_cost(job, tmp_path, stale, work, 2),
        job_cost(plot, tmp_path, {}, work, 2),
    ):
        assert unmeasured.source == FALLBACK and "runtime request" in unmeasured.note
    assert job_cost(plot, tmp_path, {}, work, 2).seconds == 600.0
    target = Job(jobid=0, rule="all", inputs=("c.png",))
    assert job_cost(target, tmp_path, {}, work, 2).source == NO_WORK


# ------------------------------------------------------------------ end to end


def _estimate_cli(workdir: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "convstudy", "estimate", *map(str, args)]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)


def test_command_line_on_the_demo(demo_plan):
    workdir = demo_plan[0]
    reference = DEFAULT_REFERENCE
    done = _estimate_cli(workdir, "--cores", "2", *DEMO, "--reference", reference)
    assert done.returncode == 0, done.stderr
    wall = next(line for line in done.stdout.splitlines() if line.startswith("Expected wall time"))
    assert float(wall.split("(")[1].split(" s)")[0]) > 0
    train = next(line for line in done.stdout.splitlines() if line.startswith("| train_cifar |"))
    jobs = train.split("|")[2].strip()
    assert train.endswith(f"| reference ({jobs}) |") and "Critical path:" in done.stdout
    missing = _estimate_cli(workdir, "--cores", "2", "--reference", workdir / "none.json")
    assert missing.returncode == 2 and "none.json: no such reference file" in missing.stderr


def _benchmark_seconds(results: Path) -> dict[str, float]:
    """Measured seconds of every benchmark file, by path relative to the workflow."""
    from convstudy.estimate.costs import read_benchmark

    return {
        str(p.relative_to(results.parent.parent)): read_benchmark(p).seconds
        for p in (results / "benchmarks").rglob("*.tsv")
    }


@pytest.mark.slow
def test_record_then_estimate_reproduces_the_demo(done, tmp_path):
    results = done / "results" / "demo"
    measured = _benchmark_seconds(results)
    table = record(Invocation(done, 2, DEMO[1:]), results)
    assert table["recorded"]["configfiles"] == ["config/demo.yaml"]
    assert table["not_measured"] == {"all": 1}
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(table))
    # A fresh copy: nothing run there, every job priced by the reference.
    fresh = copy_workflow(tmp_path / "fresh")
    est = estimate(Invocation(fresh, 2, DEMO[1:]), reference)
    assert {c.source for c in est.costs.values()} == {REFERENCE, NO_WORK}
    estimated = {j.benchmark: est.costs[j.jobid].seconds for j in est.jobs if j.benchmark}
    assert set(estimated) == set(measured)
    assert est.schedule.busy_seconds == pytest.approx(sum(measured.values()), rel=0.01)
    for rule in {j.rule for j in est.jobs if j.benchmark}:
        jobs = [j for j in est.jobs if j.rule == rule]
        assert sum(estimated[j.benchmark] for j in jobs) == pytest.approx(
            sum(measured[j.benchmark] for j in jobs), rel=0.01
        ), rule


@pytest.mark.slow
def test_a_rerun_costs_what_its_jobs_took_before(done):
    results = done / "results" / "demo"
    measured = _benchmark_seconds(results)
    assert "Nothing to run" in format_estimate(estimate(Invocation(done, 2, DEMO[1:]), None))
    (results / "cifar" / "basenet" / "rep0" / "metrics.json").unlink()
    est = estimate(Invocation(done, 2, DEMO[1:]), None)
    evaluate = next(j for j in est.jobs if j.rule == "evaluate_cifar")
    assert evaluate.wildcards == {"variant": "basenet", "rep": "0"}
    assert est.costs[evaluate.jobid].source == EARLIER
    assert est.costs[evaluate.jobid].seconds == measured[evaluate.benchmark]
    assert {est.costs[j.jobid].source for j in est.jobs} == {EARLIER, NO_WORK}
    shutil.rmtree(results / "benchmarks")
    assert {c.source for c in estimate(Invocation(done, 2, DEMO[1:]), None).costs.values()} == {
        FALLBACK,
        NO_WORK,
    }
