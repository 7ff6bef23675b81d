"""The JAX backend, end to end, where TensorFlow cannot be imported.

The offline demo runs through benchmarks/gpu_workflow.py (the script made for a
GPU machine with JAX and no TensorFlow), at the demo's size on this CPU, with
``import tensorflow`` made to fail in every process and the network closed
(tests/jobhooks). Then, on the JAX path: a job killed after an epoch resumes to
the numbers of the uninterrupted run, and a second run of the same config gives
the same metrics.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, harness_env, job_records, snakemake

pytest.importorskip("jax", reason="JAX is not installed: pip install -r requirements-jax.txt")
pytestmark = pytest.mark.slow

RESULTS = "results/benchmark"
ARGS = ("--configfile", "config/demo.yaml", "benchmark.yaml")


def no_tensorflow_env(root: Path) -> dict:
    """The harness (no network, job records) plus a ``tensorflow`` that cannot be imported."""
    shadow = root / "no-tensorflow" / "tensorflow"
    shadow.mkdir(parents=True, exist_ok=True)
    (shadow / "__init__.py").write_text(
        'raise ImportError("TensorFlow is not installed here (a test of the JAX backend)")\n'
    )
    env = harness_env(root / "jobs")
    env["PYTHONPATH"] = os.pathsep.join([str(shadow.parent), env["PYTHONPATH"]])
    return env


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory) -> tuple[Path, str, dict]:
    root = tmp_path_factory.mktemp("jax")
    env = {**os.environ, **no_tensorflow_env(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "gpu_workflow.py"),
        "--size",
        "demo",
        "--backend",
        "jax",
        "--cores",
        "2",
        "--workdir",
        str(root / "workflow"),
        "--out",
        str(root / "times"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return root / "workflow", proc.stdout, env


def _metrics(workdir: Path, part: str, name: str, rep: int = 0) -> dict:
    return json.loads((workdir / RESULTS / part / name / f"rep{rep}" / "metrics.json").read_text())


def test_the_demo_runs_on_jax_without_tensorflow(jax_run):
    workdir, stdout, env = jax_run
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(
            [sys.executable, "-c", "import tensorflow"], env=env, check=True, capture_output=True
        )
    config = json.loads((workdir / "benchmark.yaml").read_text())
    assert config["training"]["backend"] == "jax"
    # Every output of every experiment; each names the backend that ran it.
    for part in ("cifar", "birds"):
        for folder in sorted((workdir / RESULTS / part).glob("*/rep0")):
            for name in ("model.keras", "history.csv", "curves.png", "metrics.json"):
                assert (folder / name).stat().st_size > 0, folder / name
            assert json.loads((folder / "metrics.json").read_text())["backend"] == "jax"
    train_log = (workdir / RESULTS / "logs" / "cifar" / "resnet" / "rep0" / "train.log").read_text()
    assert "'backend': 'jax'" in train_log
    # The synthetic task is learned, clearly above chance (10 classes).
    best = max(
        _metrics(workdir, "cifar", v)["test"]["accuracy"]
        for v in ("normalized", "augmented", "batchnorm")
    )
    assert best >= 0.3, best
    # The report renders, from every experiment.
    report = (workdir / RESULTS / "report" / "report.md").read_text()
    assert "## CIFAR" in report and "## Birds" in report and "single training run" in report
    # No job touched the network; the script printed every rule's time and the total.
    jobs = job_records(workdir.parent / "jobs")
    assert jobs and not any(job["network"] for job in jobs)
    for rule in ("train_cifar", "extract_birds_features", "finetune_birds", "report"):
        assert f"\n{rule} " in stdout
    assert "wall time of the run" in stdout
    times = json.loads((workdir.parent / "times" / "times.json").read_text())
    assert times["rules"]["train_cifar"]["jobs"] == 7 and times["wall"] > 0


def _history(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_a_killed_job_resumes_to_the_same_numbers_on_jax(jax_run, tmp_path):
    straight, _, env = jax_run
    workdir = Path(shutil.copytree(straight, tmp_path / "workflow", symlinks=True))
    out = workdir / RESULTS / "cifar" / "resnet" / "rep0"
    shutil.rmtree(out)
    target = f"{RESULTS}/cifar/resnet/rep0/metrics.json"
    killed = snakemake(
        workdir,
        target,
        "--cores",
        "2",
        *ARGS,
        check=False,
        env={**env, "CONVSTUDY_KILL_AFTER_EPOCH": "1"},
    )
    assert killed.returncode != 0 and not (out / "model.keras").exists()
    snakemake(workdir, target, "--cores", "2", *ARGS, "--rerun-incomplete", env=env)
    log = (workdir / RESULTS / "logs" / "cifar" / "resnet" / "rep0" / "train.log").read_text()
    assert "resuming after epoch 1" in log
    resumed = _history(out / "history.csv")
    original = _history(straight / RESULTS / "cifar" / "resnet" / "rep0" / "history.csv")
    for a, b in zip(resumed, original, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
            assert a[key] == b[key], (a["epoch"], key)
    assert (
        _metrics(workdir, "cifar", "resnet")["test"]
        == _metrics(straight, "cifar", "resnet")["test"]
    )


def test_same_config_same_metrics_on_jax(jax_run, tmp_path):
    """A variant with dropout trained again, in another process, from scratch."""
    straight, _, env = jax_run
    again = Path(shutil.copytree(straight, tmp_path / "workflow", symlinks=True))
    shutil.rmtree(again / RESULTS / "cifar" / "dropout" / "rep0")
    target = f"{RESULTS}/cifar/dropout/rep0/metrics.json"
    snakemake(again, target, "--cores", "2", *ARGS, env=env)
    log = (again / RESULTS / "logs" / "cifar" / "dropout" / "rep0" / "train.log").read_text()
    assert "resuming" not in log and "epoch 1/" in log
    first, second = _metrics(straight, "cifar", "dropout"), _metrics(again, "cifar", "dropout")
    assert first["test"] == second["test"]
    assert first["best_val_accuracy"] == second["best_val_accuracy"]
