"""Reruns of only what changed, planned (`snakemake -n`) on a copy of the finished demo.

A job reruns when an output is missing or older than an input, or when what it
would run with (its params, with the code digest, its inputs, its software) is not
what its outputs' record under the results directory says (convstudy.reruns).
Each test changes one thing and checks that exactly the expected jobs are planned,
from this copy of the workflow or another one, with or without `.snakemake/`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from test_envs import rules  # noqa: F401  (module fixture: every rule, via Snakemake's API)

from conftest import REPO, snakemake
from convstudy.checkout import copy_workflow

pytestmark = pytest.mark.slow

RESULTS = "results/demo"
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
BASE = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
VARIANTS = list(BASE["cifar"]["variants"])
PER_VARIANT = ("train_cifar", "evaluate_cifar", "plot_cifar_curves")
REPLICATES = range(DEMO["replicates"])


def planned(workdir: Path, *args: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run plans."""
    proc = snakemake(workdir, "-n", "--configfile", "config/demo.yaml", *args)
    out = proc.stdout + proc.stderr
    jobs = set()
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n?)*)", out, re.M):
        wildcards = re.search(r"^    wildcards: (.*)$", body, re.M)
        jobs.add((rule, wildcards.group(1) if wildcards else ""))
    if not jobs:
        assert "Nothing to be done" in out, out[-3000:]
    return jobs


#: The PDF is a target only where latexmk is installed.
REPORT_PDF = {("report_pdf", "")} if shutil.which("latexmk") else set()
#: What the report redoes when a CIFAR variant's results change.
REPORT_CIFAR = (
    {
        ("report_figure", f"part=cifar, figure={kind}")
        for kind in ("accuracy", "curves", "confusion", "errors")
    }
    | {("report", "")}
    | REPORT_PDF
)


def birds_plots() -> set[tuple[str, str]]:
    """The birds part's curve plots (the shared plot script draws them too)."""
    from convstudy.config import birds_experiments, load_config, load_schema

    config = load_config(overrides=DEMO)
    return {
        ("plot_birds_curves", f"birds_experiment={name}, rep={k}")
        for name in birds_experiments(config, load_schema())
        for k in REPLICATES
    }


def variant_jobs(
    variants: Iterable[str], rules=PER_VARIANT, report=REPORT_CIFAR, replicates=REPLICATES
) -> set[tuple[str, str]]:
    jobs = {(rule, f"variant={v}, rep={k}") for v in variants for rule in rules for k in replicates}
    return jobs | {("all", "")} | report


def test_demo_covers_every_variant_and_replicate(demo_run):
    assert len(REPLICATES) >= 2
    for variant in VARIANTS:
        for k in REPLICATES:
            assert (demo_run / RESULTS / "cifar" / variant / f"rep{k}" / "metrics.json").is_file()


def test_touching_nothing_plans_nothing(done):
    assert planned(done) == set()
    # The summary agrees: every output is up to date.
    proc = snakemake(done, "--summary", "--configfile", "config/demo.yaml")
    rows = [line.split("\t") for line in proc.stdout.splitlines()[1:] if "\t" in line]
    assert rows and all(row[-1] == "no update" for row in rows), proc.stdout[-3000:]


@pytest.mark.parametrize(
    "setting",
    ["training:\n  steps_per_execution: 4\n", "birds:\n  inference_batch_size: 3\n"],
)
def test_speed_only_setting_plans_nothing(done, setting):
    """steps_per_execution and inference_batch_size change how fast jobs run, not
    their results."""
    (done / "config" / "fast.yaml").write_text(setting)
    assert planned(done, "config/fast.yaml") == set()


#: Rules that make and prepare data: no network runs there.
DATA_RULES = {"synthetic_cifar", "synthetic_birds", "prepare_cifar", "prepare_birds"}


@pytest.mark.parametrize(
    "setting, untouched",
    [
        # Every job that runs a network, and what consumes its results.
        ("backend: jax", DATA_RULES),
        # float16 on a GPU: training and feature extraction, and their consumers.
        ("mixed_precision: true", DATA_RULES),
        # XLA: the training steps only (feature extraction never compiles).
        ("jit_compile: true", DATA_RULES | {"extract_birds_features"}),
    ],
)
def test_machine_settings_that_change_numbers_plan_what_they_touch(done, setting, untouched):
    (done / "config" / "machine.yaml").write_text(f"training:\n  {setting}\n")
    every_job = planned(done, "config/machine.yaml", "--forceall")
    assert untouched < {rule for rule, _ in every_job}
    expected = {(rule, wc) for rule, wc in every_job if rule not in untouched}
    assert planned(done, "config/machine.yaml") == expected


def test_changed_setting_plans_the_variant_and_those_that_inherit_it(done):
    """`deeper`'s dense layers are inherited by `dropout` and `batchnorm`; `resnet`
    builds on them too but sets its own head, so it keeps its results."""
    (done / "config" / "change.yaml").write_text(
        "cifar:\n  variants:\n    deeper:\n      architecture:\n        dense: [64, 50]\n"
    )
    assert planned(done, "config/change.yaml") == variant_jobs(["deeper", "dropout", "batchnorm"])
    proc = snakemake(
        done,
        f"{RESULTS}/cifar/deeper/rep0/model.keras",
        "-n",
        "--configfile",
        "config/demo.yaml",
        "config/change.yaml",
    )
    # The plan says what changed (convstudy.reruns).
    assert "train_cifar (variant=deeper,rep=0) reruns: changed: params.settings" in (
        proc.stdout + proc.stderr
    )


def test_changed_epochs_plan_only_variants_that_inherit_them(done):
    """`augmented` sets 2 epochs in the demo; `deeper` sets its own, so it is not affected."""
    (done / "config" / "epochs.yaml").write_text(
        "cifar:\n  variants:\n    augmented:\n      epochs: 3\n"
    )
    assert planned(done, "config/epochs.yaml") == variant_jobs(["augmented"])


def _edit(script: Path) -> None:
    """Change what a script does (a comment would change nothing)."""
    script.write_text(script.read_text() + "assert __name__\n")


def test_a_comment_in_a_script_plans_nothing(done):
    script = done / "scripts" / "plot_curves.py"
    script.write_text(script.read_text() + "# a comment\n")
    assert planned(done) == set()


def test_changed_plot_script_plans_only_the_plots(done):
    _edit(done / "scripts" / "plot_curves.py")
    # Both parts' curves; the report draws its own from the histories: none redone.
    assert (
        planned(done)
        == variant_jobs(VARIANTS, rules=("plot_cifar_curves",), report=set()) | birds_plots()
    )


def test_changed_training_script_plans_training_and_its_consumers(done):
    _edit(done / "scripts" / "train_cifar.py")
    # Not the data preparation, which training consumes.
    assert planned(done) == variant_jobs(VARIANTS)


def test_deleted_model_plans_only_what_depends_on_it(done):
    (done / RESULTS / "cifar" / "batchnorm" / "rep1" / "model.keras").unlink()
    # Retraining rewrites history.csv too, so the curves are redrawn; `resnet`
    # inherits batchnorm's settings, not its model, so it stays; replicate 0 stays.
    assert planned(done) == variant_jobs(["batchnorm"], replicates=[1])


#: What the report redoes when the replicates of every experiment change.
#: Every report figure of both parts.
FIGURES = {
    ("report_figure", f"part={part}, figure={kind}")
    for part, kinds in (
        ("cifar", ("accuracy", "curves", "confusion", "errors")),
        ("birds", ("accuracy", "curves", "per_class", "errors")),
    )
    for kind in kinds
}
REPORT_ALL = FIGURES | {("report", ""), ("all", "")} | REPORT_PDF


def _birds_replicate_jobs(k: int) -> set[tuple[str, str]]:
    from convstudy.config import birds_experiments, load_config, load_schema

    experiments = birds_experiments(load_config(overrides=DEMO), load_schema())
    jobs = set()
    for name, info in experiments.items():
        train = "train_birds_head" if info["kind"] == "head" else "finetune_birds"
        key = "birds_head" if info["kind"] == "head" else "birds_finetune"
        jobs.add((train, f"{key}={name}, rep={k}"))
        for rule in ("evaluate_birds", "plot_birds_curves"):
            jobs.add((rule, f"birds_experiment={name}, rep={k}"))
    return jobs


def test_one_more_replicate_plans_only_its_jobs_and_the_report(done):
    """Replicate k keeps seed `seed + k` whatever their number: adding one trains the
    new one only (the data, the feature cache and the other replicates stay)."""
    more = len(REPLICATES)
    (done / "config" / "more.yaml").write_text(f"replicates: {more + 1}\n")
    expected = variant_jobs(VARIANTS, replicates=[more], report=REPORT_ALL)
    expected |= _birds_replicate_jobs(more)
    assert planned(done, "config/more.yaml") == expected


def test_replicate_split_retrains_every_replicate_but_the_first(done):
    """replicate_split: replicate k > 0 trains on a split of its own (seed + k); replicate
    0 keeps the prepared one, so its jobs stay; the data are not prepared again."""
    (done / "config" / "split.yaml").write_text("replicate_split: true\n")
    expected = variant_jobs(VARIANTS, replicates=range(1, len(REPLICATES)), report=REPORT_ALL)
    expected |= {job for k in range(1, len(REPLICATES)) for job in _birds_replicate_jobs(k)}
    assert planned(done, "config/split.yaml") == expected


def test_fewer_replicates_retrain_nothing(done):
    """Going back down only re-aggregates: the report over the remaining replicates."""
    (done / "config" / "fewer.yaml").write_text(f"replicates: {len(REPLICATES) - 1}\n")
    assert planned(done, "config/fewer.yaml") == REPORT_ALL


def test_changed_package_code_plans_only_the_rules_behind_it(done):
    """Rules carry a digest of the package code their scripts reach (convstudy.codeversion)."""
    figures = done / "src" / "convstudy" / "figures.py"
    source = figures.read_text()
    figures.write_text(source.replace("# noqa: E402", "# noqa: E402  (a comment changes nothing)"))
    assert planned(done) == set()
    assert source.count("ax.grid(alpha=0.3)\n") == 1
    figures.write_text(source.replace("ax.grid(alpha=0.3)\n", "ax.grid(alpha=0.25)\n"))
    # draw_learning_curves draws each run's curves and the report's curve grids; the
    # report's figures share one rule (and script), so all of them are redrawn; nothing
    # is trained or evaluated again.
    assert (
        planned(done)
        == variant_jobs(VARIANTS, rules=("plot_cifar_curves",), report=REPORT_ALL) | birds_plots()
    )


def test_edit_of_a_shared_function_plans_every_job_that_uses_it(done):
    """eval_dataset feeds validation and test data to every part's training and
    evaluation: an edit of its body plans all of them (birds included, whose hand-kept
    digests once missed it), and neither data preparation nor feature extraction."""
    pipeline = done / "src" / "convstudy" / "pipeline" / "tfdata.py"
    source = pipeline.read_text()
    old = "    ds = ds.prefetch(tf.data.AUTOTUNE)\n    return ds.with_options(options) if options is not None else ds\n\n\nclass TrainData"
    assert source.count(old) == 1
    pipeline.write_text(
        source.replace(old, old.replace("prefetch(tf.data.AUTOTUNE)", "prefetch(2)"))
    )
    # Everything but making and preparing the data and extracting the features.
    data = {
        "synthetic_cifar",
        "synthetic_birds",
        "prepare_cifar",
        "prepare_birds",
        "extract_birds_features",
    }
    every_job = planned(done, "--forceall")
    assert data <= {rule for rule, _ in every_job}
    assert planned(done) == {(rule, wc) for rule, wc in every_job if rule not in data}


def _script(rule: dict) -> Path:
    return (Path(rule["file"]).parent / rule["script"]).resolve()


def test_every_rule_digests_the_code_its_script_reaches(rules):  # noqa: F811
    """No rule names its code by hand: each `code` param is its own script's digest."""
    from convstudy.codeversion import script_digest

    for name, rule in rules.items():
        if rule["script"] is None:
            assert rule["norun"] or rule["code"] is None, name
            continue
        if name == "download_archive":
            # Defined by its URLs and checksum: no code digest (tests/test_offline.py).
            assert rule["code"] is None
            continue
        assert rule["code"] == script_digest(_script(rule)), f"rule {name}"


def test_every_job_loaded_only_code_its_digest_covers(demo_run, demo_jobs, rules):  # noqa: F811
    """Each job of the demo recorded the package modules it loaded (tests/jobhooks);
    a module outside its rule's digest would be code that changes without a rerun.
    And each loaded the workflow's own package (not an installed copy elsewhere)."""
    from convstudy.codeversion import script_reach

    ran = set()
    for job in demo_jobs:
        if job["rule"] is None:
            continue
        ran.add(job["rule"])
        covered = script_reach(_script(rules[job["rule"]])).covered()
        loaded = set(job["modules"])
        assert loaded, job
        # The workflow's own package, not an installed copy of it.
        assert Path(job["package"]) == demo_run / "src" / "convstudy" / "__init__.py", job
        assert loaded <= covered, (job["rule"], sorted(loaded - covered))
    # Every kind of job but the downloads (tests/test_offline.py) ran in the demo.
    kinds = {name for name, rule in rules.items() if rule["script"]} - {"download_archive"}
    if not shutil.which("latexmk"):
        kinds.discard("report_pdf")
    assert ran == kinds


# Rerun records that travel with the results (convstudy.reruns), and one run at a
# time per results folder (convstudy.lock).

#: A setting of one leaf variant: only its jobs (and the report) depend on it.
RESNET_LR = "cifar:\n  variants:\n    resnet:\n      optimizer:\n        learning_rate: 0.02\n"
#: A setting that only the report's text uses: its jobs take seconds to run.
DESCRIPTION = "cifar:\n  variants:\n    resnet:\n      description: ours, described anew\n"
#: What a changed description redoes.
REPORT_TEXT = {("report", ""), ("all", "")} | REPORT_PDF


def _another_copy(done: Path, dest: Path) -> Path:
    """The same workflow at another path, as a fresh clone has it: every file new (its
    time is now), no `.snakemake/`, no results."""
    other = copy_workflow(dest, root=done)
    now = time.time()
    for path in other.rglob("*"):
        os.utime(path, (now, now))
    return other


def test_without_snakemakes_records_finished_results_plan_nothing_and_changes_rerun(done):
    shutil.rmtree(done / ".snakemake")
    assert planned(done) == set()
    (done / "config" / "lr.yaml").write_text(RESNET_LR)
    assert planned(done, "config/lr.yaml") == variant_jobs(["resnet"])


def test_a_fresh_copy_pointed_at_finished_results_plans_nothing(done, tmp_path):
    other = _another_copy(done, tmp_path / "clone")
    results = f"results_dir={done / RESULTS}"
    assert planned(other, "--config", results) == set()
    (other / "config" / "lr.yaml").write_text(RESNET_LR)
    assert planned(other, "config/lr.yaml", "--config", results) == variant_jobs(["resnet"])


def test_new_file_times_of_code_plan_nothing(done):
    """A `git pull` or `touch` of every script and module: the code did not change."""
    now = time.time() + 10
    for path in [*(done / "scripts").glob("*.py"), *(done / "src").rglob("*.py")]:
        os.utime(path, (now, now))
    assert planned(done) == set()


def test_a_version_bump_and_docstrings_plan_nothing(done):
    init = done / "src" / "convstudy" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', '__version__ = "9.9.9"'))
    training = done / "src" / "convstudy" / "training.py"
    source = training.read_text()
    old = '"""The optimizer of a variant\'s settings, with its learning-rate schedule."""'
    assert source.count(old) == 1
    training.write_text(source.replace(old, '"""The optimizer, described anew."""'))
    assert planned(done) == set()


def test_what_one_copy_reran_the_other_sees(done, tmp_path):
    """A copy with another description re-renders the report into the shared results;
    the first copy, whose `.snakemake/` still holds the old params, sees that the report
    on disk is not its own and plans it again; the second plans nothing."""
    other = _another_copy(done, tmp_path / "other")
    (other / "config" / "ref.yaml").write_text(DESCRIPTION)
    args = ("--configfile", "config/demo.yaml", "config/ref.yaml")
    args += ("--config", f"results_dir={done / RESULTS}")
    snakemake(other, "--cores", "2", *args)
    assert planned(other, *args[2:]) == set()
    assert planned(done) == REPORT_TEXT


def _lock(results: Path) -> Path:
    return results / ".lock"


def test_a_second_run_on_one_results_folder_is_refused(done, tmp_path):
    """Two checkouts, one results folder: while the first runs, the second stops
    before any job with one line naming the folder and the other run; the first
    ends well and gives the folder back."""
    results = done / RESULTS
    other = _another_copy(done, tmp_path / "other")
    # Two trainings and their evaluations, one at a time: long enough for the second
    # run to plan while the first holds the folder.
    targets = [f"{RESULTS}/cifar/resnet/rep{k}/metrics.json" for k in (0, 1)]
    first = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "config/demo.yaml"]
        + ["--forcerun", "train_cifar", *targets],
        cwd=done,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 300
        while not _lock(results).exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert _lock(results).exists(), first.communicate()[0][-3000:]
        second = snakemake(
            other,
            "--cores",
            "1",
            "--configfile",
            "config/demo.yaml",
            "--config",
            f"results_dir={results}",
            "--forcerun",
            "prepare_cifar",
            f"{results}/cifar/data.npz",
            check=False,
        )
        still_running = first.poll() is None
    finally:
        out = first.communicate(timeout=900)[0]
    assert still_running, "the first run ended before the second planned: inconclusive"
    assert second.returncode != 0
    message = f"results_dir {results} is in use by a run from {done} (pid {first.pid} on "
    assert message in second.stdout + second.stderr, (second.stdout + second.stderr)[-3000:]
    assert first.returncode == 0, out[-3000:]
    assert not _lock(results).exists()
    # The second run touched nothing: the data of the first are as they were.
    assert not {"synthetic_cifar", "prepare_cifar"} & {rule for rule, _ in planned(done)}


def test_a_lock_left_by_a_dead_run_is_cleared(done):
    import json
    import socket

    results = done / RESULTS
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    _lock(results).write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead)}))
    args = ("--cores", "1", "--configfile", "config/demo.yaml", "--forcerun", "report")
    proc = snakemake(done, *args, f"{RESULTS}/report/report.md")
    assert "taking over the lock of a run" in proc.stdout + proc.stderr
    # A run on another host cannot be checked from here: refused until --unlock.
    _lock(results).write_text(json.dumps({"host": "elsewhere", "pid": 1, "checkout": "/x"}))
    proc = snakemake(done, *args, f"{RESULTS}/report/report.md", check=False)
    assert proc.returncode != 0 and "pid 1 on elsewhere" in proc.stdout + proc.stderr
    snakemake(done, "--unlock", "--configfile", "config/demo.yaml")
    assert not _lock(results).exists()
    snakemake(done, *args, f"{RESULTS}/report/report.md")
