"""Reruns of only what changed, planned (`snakemake -n`) on a copy of the finished demo.

Snakemake reruns a job when an output is missing or older than an input or the
rule's script (mtime), or when its params, its set of inputs or its code changed.
Each test changes one thing and checks that exactly the expected jobs are planned.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from test_envs import rules  # noqa: F401  (module fixture: every rule, via Snakemake's API)

from conftest import REPO, snakemake

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
REPORT_CIFAR = {
    ("report_accuracy", "part=cifar"),
    ("report_curves", "part=cifar"),
    ("report_confusion", "part=cifar"),
    ("report", ""),
} | REPORT_PDF


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


def test_speed_only_setting_plans_nothing(done):
    """steps_per_execution changes how fast training runs, not its result."""
    (done / "config" / "fast.yaml").write_text("training:\n  steps_per_execution: 4\n")
    assert planned(done, "config/fast.yaml") == set()


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
    assert "Params have changed since last execution" in proc.stdout + proc.stderr


def test_changed_epochs_plan_only_variants_that_inherit_them(done):
    """`augmented` sets 2 epochs in the demo; `deeper` sets its own, so it is not affected."""
    (done / "config" / "epochs.yaml").write_text(
        "cifar:\n  variants:\n    augmented:\n      epochs: 3\n"
    )
    assert planned(done, "config/epochs.yaml") == variant_jobs(["augmented"])


def _edit(script: Path) -> None:
    """Change a script; being newer than the outputs it made is what triggers."""
    script.write_text(script.read_text() + "# edited\n")


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
REPORT_ALL = (
    {
        (rule, f"part={part}")
        for part in ("cifar", "birds")
        for rule in ("report_accuracy", "report_curves", "report_confusion", "report_per_class")
        if (rule, part) not in {("report_confusion", "birds"), ("report_per_class", "cifar")}
    }
    | {("report", ""), ("all", "")}
    | REPORT_PDF
)


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
    # draw_learning_curves draws each run's curves and the report's curve grids;
    # the report's other figures do not use it.
    curves = {("report_curves", "part=cifar"), ("report_curves", "part=birds"), ("report", "")}
    assert (
        planned(done)
        == variant_jobs(VARIANTS, rules=("plot_cifar_curves",), report=curves | REPORT_PDF)
        | birds_plots()
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
