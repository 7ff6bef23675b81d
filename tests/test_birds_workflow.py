"""The birds part through Snakemake: synthetic archives, random weights, 64x64 images
(the session's demo run, which runs both parts)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from conftest import copy_workflow, snakemake
from convstudy.config import birds_experiments, load_config, load_schema
from convstudy.files import HISTORY_FIELDS, load_arrays, read_history

pytestmark = pytest.mark.slow

BIRDS_ONLY = {"cifar": {"enabled": False}}
METRIC_FIELDS = {
    "part",
    "experiment",
    "kind",
    "parameters",
    "test",
    "epochs",
    "training_seconds",
    "best_val_accuracy",
    "best_val_epoch",
    "final_val_accuracy",
    "settings",
    "class_names",
}
TEST_FIELDS = {
    "accuracy",
    "top5_accuracy",
    "loss",
    "examples",
    "per_class_accuracy",
    "confusion_matrix",
}


def birds_configs(workdir, **extra):
    """Config-file arguments: the demo, birds only, plus ``extra`` (a YAML mapping)."""
    (workdir / "birds_only.yaml").write_text(yaml.safe_dump(BIRDS_ONLY))
    args = ["--configfile", "config/demo.yaml", "birds_only.yaml"]
    if extra:
        (workdir / "extra.yaml").write_text(yaml.safe_dump(extra))
        args.append("extra.yaml")
    return args


def planned_jobs(proc) -> dict[str, int]:
    """Job counts from a dry run's "Job stats" table."""
    text = proc.stdout + proc.stderr
    table = text.split("Job stats:")[-1]
    return {
        m[0]: int(m[1])
        for m in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)
        if m[0] != "total"
    }


@pytest.fixture(scope="module")
def birds_run(demo_run):
    return demo_run


def demo_experiments(workdir):
    config = yaml.safe_load((workdir / "config" / "demo.yaml").read_text())["birds"]
    main = yaml.safe_load((workdir / "config" / "config.yaml").read_text())["birds"]
    heads = list(main["heads"])
    finetunes = list(main["finetune"])
    assert set(config["heads"]) <= set(heads)
    return heads, finetunes


def test_every_birds_output(birds_run):
    results = birds_run / "results" / "demo" / "birds"
    heads, finetunes = demo_experiments(birds_run)
    assert heads and finetunes
    data = load_arrays(results / "data.npz")
    assert data["x_train"].shape[1:] == (64, 64, 3)
    split = json.loads((results / "split.json").read_text())
    assert split["skipped_images"] == [] and split["image_size"] == 64
    pooled = load_arrays(results / "features" / "pooled.npz")
    assert pooled["x_test"].shape == (len(data["y_test"]), 2048)
    # The demo has a convolutional head, so the spatial maps (2x2 at 64 pixels) are cached.
    spatial = load_arrays(results / "features" / "spatial.npz")
    assert spatial["x_val"].shape == (len(data["y_val"]), 2, 2, 2048)
    replicates = yaml.safe_load((birds_run / "config" / "demo.yaml").read_text())["replicates"]
    runs = [(name, f"rep{k}") for name in heads + finetunes for k in range(replicates)]
    for name, rep in runs:
        kind = "head" if name in heads else "finetune"
        folder = results / name / rep
        for file in ("model.keras", "history.csv", "curves.png", "metrics.json"):
            assert (folder / file).stat().st_size > 0, f"{name}/{file}"
        history = read_history(folder / "history.csv")
        assert history and list(history[0]) == list(HISTORY_FIELDS)
        metrics = json.loads((folder / "metrics.json").read_text())
        assert set(metrics) >= METRIC_FIELDS, name
        assert metrics["part"] == "birds" and metrics["experiment"] == name
        assert metrics["kind"] == kind and rep == f"rep{metrics['replicate']}"
        assert set(metrics["test"]) >= TEST_FIELDS
        assert metrics["test"]["examples"] == len(data["y_test"])
        assert set(metrics["test"]["per_class_accuracy"]) == set(data["class_names"])
        assert metrics["epochs"] == len(history)
        assert (folder / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        logs = birds_run / "results" / "demo" / "logs" / "birds" / name / rep
        assert (logs / "evaluate.log").exists() and (logs / "train.log").exists()
        bench = birds_run / "results" / "demo" / "benchmarks" / "birds" / name / rep
        assert (bench / "train.tsv").exists()
    for name, rep in runs:
        if name not in finetunes:
            continue
        metrics = json.loads((results / name / rep / "metrics.json").read_text())
        assert metrics["head"] in heads
        # Replicate k of a fine-tuning run starts from replicate k of its head.
        log = (
            birds_run / "results" / "demo" / "logs" / "birds" / name / rep / "train.log"
        ).read_text()
        assert f"head results/demo/birds/{metrics['head']}/{rep}/model.keras on ResNet50" in log
        # The backbone and the head together; only part of it was trained.
        assert 0 < metrics["trainable_parameters"] < metrics["parameters"]
    assert (birds_run / "results" / "demo" / "logs" / "birds" / "features.log").exists()


def test_nothing_to_do_after_a_run(birds_run):
    proc = snakemake(birds_run, "-n", "--cores", "2", "--configfile", "config/demo.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def demo_configs(workdir, **extra):
    """Config-file arguments: the demo plus ``extra`` (a YAML mapping)."""
    (workdir / "extra.yaml").write_text(yaml.safe_dump(extra))
    return ["--configfile", "config/demo.yaml", "extra.yaml"]


#: What the report redoes when a birds experiment's results change (the PDF only
#: where latexmk is installed); one job per replicate for the rest.
REPORT_JOBS = {
    # accuracy, curves, per-class accuracy, the error gallery
    "report_figure": 4,
    "report": 1,
    **({"report_pdf": 1} if shutil.which("latexmk") else {}),
}


def test_changing_one_head_reruns_only_it_and_its_consumers(done):
    experiments = birds_experiments(load_config(), load_schema())
    heads = {n: e for n, e in experiments.items() if e["kind"] == "head"}
    finetunes = {n: e for n, e in experiments.items() if e["kind"] == "finetune"}
    used = {e["settings"]["head"] for e in finetunes.values()}
    bases = {e["base"] for e in experiments.values()}
    # A head that nothing builds on: its change reruns it alone.
    lone = next(h for h in heads if h not in used and h not in bases)
    extra = {"birds": {"heads": {lone: {"architecture": {"dropout": 0.25}}}}}
    proc = snakemake(done, "-n", "--cores", "2", *demo_configs(done, **extra))
    r = yaml.safe_load((done / "config" / "demo.yaml").read_text())["replicates"]
    assert planned_jobs(proc) == {
        "train_birds_head": r,
        "evaluate_birds": r,
        "plot_birds_curves": r,
        "all": 1,
        **REPORT_JOBS,
    }
    assert f"results/demo/birds/{lone}/rep0/model.keras" in proc.stdout
    # The head a fine-tuning starts from: it reruns, and so do the fine-tuning runs
    # built on it (every demo head sets its own epochs: no other head changes).
    head = sorted(used)[0]
    consumers = [n for n, e in finetunes.items() if e["settings"]["head"] == head]
    extra = {"birds": {"heads": {head: {"epochs": 3}}}}
    proc = snakemake(done, "-n", "--cores", "2", *demo_configs(done, **extra))
    n = len(consumers)
    assert planned_jobs(proc) == {
        "train_birds_head": r,
        "finetune_birds": n * r,
        "evaluate_birds": (1 + n) * r,
        "plot_birds_curves": (1 + n) * r,
        "all": 1,
        **REPORT_JOBS,
    }
    assert "extract_birds_features" not in proc.stdout and "prepare_birds" not in proc.stdout


def test_2011_layout_prepares_through_the_workflow(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    extra = {"birds": {"dataset": "cub200_2011"}}
    snakemake(
        workdir, "results/demo/birds/data.npz", "--cores", "1", *birds_configs(workdir, **extra)
    )
    results = workdir / "results" / "demo" / "birds"
    assert (results / "synthetic" / "CUB_200_2011.tgz").exists()
    split = json.loads((results / "split.json").read_text())
    assert split["dataset"] == "cub200_2011"
    assert split["per_class"]["total"]["test"] == 8 * 5


def test_bad_config_stops_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    extra = {"birds": {"finetune": {"finetune_top": {"head": "missing"}}}}
    proc = snakemake(workdir, "-n", *birds_configs(workdir, **extra), check=False)
    assert proc.returncode != 0
    assert "head 'missing' is not a head" in proc.stdout + proc.stderr
