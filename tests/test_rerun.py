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

from conftest import REPO, snakemake

pytestmark = pytest.mark.slow

RESULTS = "results/demo"
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
BASE = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
VARIANTS = list(BASE["cifar"]["variants"])
PER_VARIANT = ("train_cifar", "evaluate_cifar", "plot_cifar_curves")


@pytest.fixture
def done(demo_run, tmp_path) -> Path:
    """A private copy of the finished demo: workflow, results and Snakemake's records,
    with their modification times (which drive the mtime trigger)."""
    return Path(shutil.copytree(demo_run, tmp_path / "workflow", symlinks=True))


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
REPORT_CURVES = {("report_curves", "part=cifar"), ("report", "")} | REPORT_PDF


def birds_plots() -> set[tuple[str, str]]:
    """The birds part's curve plots (the shared plot script draws them too)."""
    from convstudy.config import load_config, load_schema
    from convstudy.experiments.birds import birds_experiments

    config = load_config(overrides=DEMO)
    return {
        ("plot_birds_curves", f"birds_experiment={name}")
        for name in birds_experiments(config, load_schema())
    }


def variant_jobs(
    variants: Iterable[str], rules=PER_VARIANT, report=REPORT_CIFAR
) -> set[tuple[str, str]]:
    jobs = {(rule, f"variant={v}") for v in variants for rule in rules}
    return jobs | {("all", "")} | report


def test_demo_covers_every_variant(demo_run):
    for variant in VARIANTS:
        assert (demo_run / RESULTS / "cifar" / variant / "metrics.json").is_file()


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
        f"{RESULTS}/cifar/deeper/model.keras",
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
    assert planned(done) == variant_jobs(
        VARIANTS, rules=("plot_cifar_curves",), report=set()
    ) | birds_plots()


def test_changed_training_script_plans_training_and_its_consumers(done):
    _edit(done / "scripts" / "train_cifar.py")
    # Not the data preparation, which training consumes.
    assert planned(done) == variant_jobs(VARIANTS)


def test_deleted_model_plans_only_what_depends_on_it(done):
    (done / RESULTS / "cifar" / "batchnorm" / "model.keras").unlink()
    # Retraining rewrites history.csv too, so the curves are redrawn; `resnet`
    # inherits batchnorm's settings, not its model, so it stays.
    assert planned(done) == variant_jobs(["batchnorm"])


def test_changed_package_code_plans_only_the_rules_behind_it(done):
    """Rules carry a digest of the package code behind them (convstudy.codeversion)."""
    plots = done / "src" / "convstudy" / "plots.py"
    source = plots.read_text()
    plots.write_text(source.replace("# noqa: E402", "# noqa: E402  (a comment changes nothing)"))
    assert planned(done) == set()
    plots.write_text(source.replace('ax.grid(alpha=0.3)', 'ax.grid(alpha=0.25)'))
    # plots.py draws the curves of both parts and the report's curve grids.
    assert planned(done) == variant_jobs(
        VARIANTS, rules=("plot_cifar_curves",), report=REPORT_CURVES
    ) | birds_plots() | {("report_curves", "part=birds")}
