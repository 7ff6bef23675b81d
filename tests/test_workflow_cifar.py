"""The CIFAR part run by Snakemake: the offline demo end to end, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import copy_workflow, snakemake

DEMO = Path("results/demo")
STUDY = ["basenet", "normalized", "augmented", "deeper", "dropout", "batchnorm"]


def _demo_config(workdir):
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    demo = yaml.safe_load((workdir / "config" / "demo.yaml").read_text())
    return config, demo


@pytest.mark.slow
def test_demo_writes_every_output(demo_run):
    config, demo = _demo_config(demo_run)
    variants = list(config["cifar"]["variants"])
    assert variants[:6] == STUDY and len(variants) >= 7
    root = demo_run / DEMO
    split = json.loads((root / "cifar" / "split.json").read_text())
    n = demo["cifar"]["num_classes"]
    per_class = demo["cifar"]["synthetic"]["train_per_class"]
    assert split["per_class"]["total"] == {
        "train": n * per_class - n * round(0.1 * per_class),
        "val": n * round(0.1 * per_class),
        "test": n * demo["cifar"]["synthetic"]["test_per_class"],
    }
    assert (root / "cifar" / "data.npz").stat().st_size > 0
    runs = [(v, f"rep{k}") for v in variants for k in range(demo["replicates"])]
    for variant, rep in runs:
        out = root / "cifar" / variant / rep
        for name in ("model.keras", "history.csv", "curves.png", "metrics.json"):
            assert (out / name).stat().st_size > 0, f"{variant}/{name}"
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        header, *rows = (out / "history.csv").read_text().splitlines()
        assert header == "epoch,loss,accuracy,val_loss,val_accuracy,seconds,learning_rate"
        metrics = json.loads((out / "metrics.json").read_text())
        assert len(rows) == metrics["epochs"] == metrics["settings"]["epochs"]
        test = metrics["test"]
        assert test["examples"] == split["per_class"]["total"]["test"]
        assert set(test["per_class_accuracy"]) == set(split["class_names"])
        assert sum(map(sum, test["confusion_matrix"])) == test["examples"]
        assert 0 <= test["accuracy"] <= test["top5_accuracy"] <= 1
        assert metrics["parameters"] > 0 and metrics["training_seconds"] > 0
        assert 1 <= metrics["best_val_epoch"] <= metrics["epochs"]
        assert (
            metrics["seed"] == 2020 + metrics["replicate"] and rep == f"rep{metrics['replicate']}"
        )
        for kind in ("train", "evaluate", "curves"):
            assert (root / "logs" / "cifar" / variant / rep / f"{kind}.log").exists()
            assert (root / "benchmarks" / "cifar" / variant / rep / f"{kind}.tsv").exists()
    basenet = json.loads((root / "cifar" / "basenet" / "rep0" / "metrics.json").read_text())
    assert basenet["parameters"] == 456 + 2416 + 20050 + (50 * 10 + 10)  # 10-class softmax
    # Training left no resume state behind.
    assert not any((root / "resume").glob("cifar/**/state.json"))


@pytest.mark.slow
def test_demo_task_is_learned_clearly_above_chance(demo_run):
    _, demo = _demo_config(demo_run)
    chance = 1 / demo["cifar"]["num_classes"]
    accuracy = {
        v: json.loads((demo_run / DEMO / "cifar" / v / "rep0" / "metrics.json").read_text())[
            "test"
        ]["accuracy"]
        for v in STUDY
    }
    assert max(accuracy.values()) >= 3 * chance, accuracy
    assert sum(a >= 2 * chance for a in accuracy.values()) >= 3, accuracy


@pytest.mark.slow
def test_same_config_same_metrics(demo_run, tmp_path):
    """A second, independent run of a variant on CPU gives the very same numbers;
    another replicate (another seed, same data) gives other numbers."""
    again = copy_workflow(tmp_path / "again")
    target = "results/demo/cifar/dropout/rep1/metrics.json"
    snakemake(again, target, "--cores", "2", "--configfile", "config/demo.yaml")
    first = json.loads((demo_run / target).read_text())
    second = json.loads((again / target).read_text())
    assert first["test"] == second["test"]
    assert first["best_val_accuracy"] == second["best_val_accuracy"]
    other = json.loads((demo_run / target.replace("rep1", "rep0")).read_text())
    assert other["seed"] == first["seed"] - 1
    assert other["test"]["confusion_matrix"] != first["test"]["confusion_matrix"]


BAD_CONFIGS = {
    "unknown base": (
        {"cifar": {"variants": {"dropout": {"base": "deepr"}}}},
        "cifar.variants.dropout: base 'deepr' is not a variant",
    ),
    "cycle": (
        {"cifar": {"variants": {"basenet": {"base": "dropout"}}}},
        "the bases form a cycle",
    ),
    "unknown setting": (
        {"cifar": {"variants": {"deeper": {"learning_rate": 0.1}}}},
        "invalid configuration: cifar.variants.deeper.learning_rate: unknown setting",
    ),
    "non-positive epochs": (
        {"cifar": {"variants": {"augmented": {"epochs": 0}}}},
        "invalid configuration: cifar.variants.augmented.epochs: 0 is less than the minimum of 1",
    ),
    "more classes than the dataset": (
        {"cifar": {"dataset": "cifar10", "num_classes": 25}},
        "invalid configuration: cifar.num_classes: 25 classes asked for, but cifar10 has 10",
    ),
    "unquoted md5": (
        {
            "cifar": {
                "source": "local",
                "local_archives": {"archive": "x.tar.gz"},
                "local_checksums": {"archive": {"md5": 12345678901234567890123456789012}},
            }
        },
        "invalid configuration: cifar.local_checksums.archive.md5: the checksum is a number",
    ),
    "no replicates": (
        {"replicates": 0},
        "invalid configuration: replicates: 0 is less than the minimum of 1",
    ),
    "a setting under its old name": (
        {"cifar": {"local_archive": "x.tar.gz"}},
        "invalid configuration: cifar.local_archive: renamed; write cifar.local_archives: "
        "{archive: PATH}",
    ),
    "fractional replicates": (
        {"replicates": 1.5},
        "invalid configuration: replicates: 1.5 is not of type 'integer'",
    ),
    "only as a string": (
        {"cifar": {"only": "basenet"}},
        "invalid configuration: cifar.only: 'basenet' is not null or a list of strings "
        "(a list is written [basenet])",
    ),
    "unknown birds experiment": (
        {"birds": {"only": ["nosuch"]}},
        "invalid configuration: birds.only: nosuch is not a head or fine-tuning variant "
        "(known: linear, study_1024, mlp, conv, finetune_top)",
    ),
    "results_dir under a file": (
        {"results_dir": "config/demo.yaml/results"},
        "invalid configuration: results_dir: config/demo.yaml/results cannot be created: ",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_stops_before_any_job(workflow, case):
    overrides, message = BAD_CONFIGS[case]
    (workflow / "bad.yaml").write_text(yaml.safe_dump(overrides))
    proc = snakemake(
        workflow, "--cores", "1", "--configfile", "config/demo.yaml", "bad.yaml", check=False
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert message in output
    # One short message, not the schema: it comes within the first lines.
    assert message in "\n".join(output.splitlines()[:6]), output[:3000]
    assert "$schema" not in output and "additionalProperties" not in output
    assert not (workflow / "results").exists()


def _local_archive_config(workflow, archive, md5):
    (workflow / "local.yaml").write_text(
        yaml.safe_dump(
            {
                "cifar": {
                    "source": "local",
                    "local_archives": {"archive": str(archive)},
                    "local_checksums": {"archive": {"md5": md5}},
                }
            }
        )
    )


@pytest.fixture(scope="module")
def good_archive(tmp_path_factory):
    from convstudy.data.archives import md5sum
    from convstudy.data.synthetic import write_synthetic_cifar

    path = tmp_path_factory.mktemp("archive") / "cifar-100-python.tar.gz"
    write_synthetic_cifar(path, "cifar100", train_per_class=10, test_per_class=2, seed=1)
    return path, md5sum(path)


def _run_until_prepare_fails(workflow):
    proc = snakemake(
        workflow, "--cores", "2", "--configfile", "config/demo.yaml", "local.yaml", check=False
    )
    assert proc.returncode != 0
    results = workflow / "results" / "demo" / "cifar"
    # Nothing of the preparation is left, and no training started.
    assert not (results / "data.npz").exists() and not (results / "split.json").exists()
    assert not list(results.glob("*/model.keras")) and not list(results.glob("*/history.csv"))
    assert not list(results.glob(".*.part*"))
    return (workflow / "results" / "demo" / "logs" / "cifar" / "prepare.log").read_text()


def test_wrong_checksum_stops_the_run(workflow, good_archive):
    archive, _ = good_archive
    _local_archive_config(workflow, archive, "0" * 32)
    log = _run_until_prepare_fails(workflow)
    assert "md5 checksum mismatch: expected 00000000000000000000000000000000" in log


def test_truncated_archive_stops_the_run(workflow, good_archive, tmp_path):
    from convstudy.data.archives import md5sum

    archive, _ = good_archive
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[:-5000])
    _local_archive_config(workflow, cut, md5sum(cut))
    log = _run_until_prepare_fails(workflow)
    assert "not a readable .tar.gz archive, or truncated" in log


def test_local_archive_is_used(workflow, good_archive):
    archive, md5 = good_archive
    _local_archive_config(workflow, archive, md5)
    # Targets before --configfile, which takes every word after it.
    snakemake(
        workflow,
        "results/demo/cifar/split.json",
        "--cores",
        "1",
        "--configfile",
        "config/demo.yaml",
        "local.yaml",
    )
    split = json.loads((workflow / "results/demo/cifar/split.json").read_text())
    assert split["archive_md5"] == md5
    assert split["per_class"]["total"] == {"train": 90, "val": 10, "test": 20}
    assert not (workflow / "results/demo/cifar/synthetic").exists()
