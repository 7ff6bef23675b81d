"""Resuming after a kill: a training job killed after an epoch picks up from its
checkpoint on rerun and ends with exactly the numbers of an uninterrupted run.
Downloads: retries, URL fallback and no partial archive, with a fake fetch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import snakemake
from convstudy.data import archives
from convstudy.data.archives import ArchiveError, download

RESULTS = "results/demo"
REPLICATE = "rep1"


def _history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as fh:
        return list(csv.DictReader(fh))


def _start_in_own_session(workdir: Path, *args: str, env: dict) -> subprocess.Popen:
    """Snakemake as the leader of its own process group, which the kill hook may kill
    whole (never the test's own group)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


#: (part, experiment, training rule, extra config): the CIFAR variant with every
#: source of randomness (dropout, flips and translations, batch normalisation, a
#: warm-up + cosine schedule, momentum and weight decay); a birds head on the
#: cached features; and stage 2 of fine-tuning (ResNet50 + a trained head, random
#: crops and flips), given two epochs here so that the kill comes halfway.
CASES = {
    "cifar": ("cifar", "resnet", "train_cifar", ""),
    "birds-head": ("birds", "conv", "train_birds_head", ""),
    "birds-finetune": (
        "birds",
        "finetune_top",
        "finetune_birds",
        "birds:\n  finetune:\n    finetune_top:\n      epochs: 2\n",
    ),
}


def _without_run(demo_run: Path, dest: Path, part: str, name: str, extra: str) -> Path:
    """A copy of the finished demo without one experiment's replicate: only its
    training and evaluation run again, on the demo's prepared data and features."""
    workdir = Path(shutil.copytree(demo_run, dest, symlinks=True))
    shutil.rmtree(workdir / RESULTS / part / name / REPLICATE)
    (workdir / "config" / "extra.yaml").write_text(extra or "{}\n")
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, killed",
    [("cifar", "job"), ("cifar", "workflow"), ("birds-head", "job"), ("birds-finetune", "job")],
)
def test_killed_training_resumes_with_the_same_result(tmp_path, demo_run, case, killed):
    """Compared with a run straight through, with the same config and the same number
    of threads (--cores 2): the session's demo, or, where the test changes the config,
    a run of its own.

    ``job``: the training job dies (out of memory, scancel); Snakemake reports it.
    ``workflow``: Snakemake dies with it (a crashed login node), leaving its lock:
    the documented way back is ``snakemake --unlock``, then ``--rerun-incomplete``.
    """
    part, name, rule, extra = CASES[case]
    workdir = _without_run(demo_run, tmp_path / "workflow", part, name, extra)
    out = workdir / RESULTS / part / name / REPLICATE
    resume_dir = workdir / RESULTS / "resume" / part / name / REPLICATE
    target = f"{RESULTS}/{part}/{name}/{REPLICATE}/metrics.json"
    args = (target, "--cores", "2", "--configfile", "config/demo.yaml", "config/extra.yaml")
    if extra:
        straight = _without_run(demo_run, tmp_path / "straight", part, name, extra)
        snakemake(straight, *args)
    else:
        straight = demo_run
    expected_dir = straight / RESULTS / part / name / REPLICATE
    epochs = len(_history(expected_dir))
    assert epochs >= 2

    # The job SIGKILLs itself (and, for `workflow`, Snakemake) right after epoch 1's
    # checkpoint, as an OOM kill or scancel would.
    scope = "1" if killed == "job" else "1:workflow"
    proc = _start_in_own_session(workdir, *args, env={"CONVSTUDY_KILL_AFTER_EPOCH": scope})
    output, _ = proc.communicate(timeout=1200)
    assert proc.returncode != 0, output[-3000:]
    if killed == "job":
        assert f"Error in rule {rule}" in output
    else:
        assert proc.returncode == -signal.SIGKILL, output[-3000:]
        # Snakemake's lock outlives it: a plain rerun is refused until --unlock.
        refused = snakemake(workdir, *args, "--rerun-incomplete", check=False)
        assert refused.returncode != 0
        assert "cannot be locked" in refused.stdout + refused.stderr
        snakemake(workdir, "--unlock", "--configfile", "config/demo.yaml")
    assert not (out / "model.keras").exists() and not (out / "history.csv").exists()
    state = json.loads((resume_dir / "state.json").read_text())
    assert state["epoch"] == 1 and len(state["history"]) == 1

    # The rerun picks up after epoch 1 and trains only what is left.
    snakemake(workdir, *args, "--rerun-incomplete")
    log = (workdir / RESULTS / "logs" / part / name / REPLICATE / "train.log").read_text()
    assert f"resuming after epoch 1 from {resume_dir.relative_to(workdir)}" in log
    assert f"epoch 1/{epochs}" not in log and f"epoch {epochs}/{epochs}" in log
    # A finished job leaves no resume state behind, nor empty folders above it.
    assert not (workdir / RESULTS / "resume").exists()

    # Same history (but for timings) and the same test metrics as straight through.
    resumed, expected = _history(out), _history(expected_dir)
    assert [r["epoch"] for r in resumed] == [str(e) for e in range(1, epochs + 1)]
    for a, b in zip(resumed, expected, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
            assert a[key] == b[key], (a["epoch"], key, a[key], b[key])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == epochs
    assert metrics["test"] == json.loads((expected_dir / "metrics.json").read_text())["test"]


@pytest.mark.slow
def test_a_killed_job_is_retried_with_more_memory(tmp_path, demo_run):
    """As the SLURM profiles do (`retries: 1`): the job killed after epoch 1 (as by an
    out-of-memory kill) is started again at once, asking for twice the memory, and
    resumes after epoch 1."""
    part, name, _, extra = CASES["cifar"]
    workdir = _without_run(demo_run, tmp_path / "workflow", part, name, extra)
    target = f"{RESULTS}/{part}/{name}/{REPLICATE}/metrics.json"
    args = (target, "--cores", "2", "--configfile", "config/demo.yaml", "--retries", "1")
    proc = _start_in_own_session(workdir, *args, env={"CONVSTUDY_KILL_AFTER_EPOCH": "1"})
    output, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, output[-3000:]
    asked = re.findall(
        r"^(?:local)?rule train_cifar:\n(?:    .*\n)*?    resources: .*mem_mb=(\d+)", output, re.M
    )
    assert [int(m) for m in asked] == [6000, 12000], output[-4000:]
    log = (workdir / RESULTS / "logs" / part / name / REPLICATE / "train.log").read_text()
    assert "resuming after epoch 1" in log


def test_checkpoint_of_another_run_is_not_resumed(tmp_path):
    """Resume state restores weights, optimizer and history, but only for its own run."""
    import keras
    import numpy as np

    from convstudy.training import Checkpointer

    def model():
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        m.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
        return m

    trained = model()
    trained.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    history = [{"epoch": 1, "loss": 1.0}]
    Checkpointer(tmp_path, "run-a").save(trained, 1, history)

    fresh = model()
    assert Checkpointer(tmp_path, "run-b").load(fresh) == (0, [])
    assert not np.array_equal(fresh.get_weights()[0], trained.get_weights()[0])

    assert Checkpointer(tmp_path, "run-a").load(fresh) == (1, history)
    for a, b in zip(fresh.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fresh.optimizer.variables, trained.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(np.asarray(fresh.optimizer.iterations)) == 1


# --- downloads ------------------------------------------------------------------


PAYLOAD = b"archive bytes " * 1000
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class FakeFetch:
    """Plays a script of outcomes per URL: bytes to write, or an exception to raise
    (after writing part of the file, as a dropped connection does)."""

    def __init__(self, script: dict[str, list]):
        self.script = {url: list(outcomes) for url, outcomes in script.items()}
        self.calls: list[str] = []

    def __call__(self, url: str, dest: Path, timeout: float) -> None:
        self.calls.append(url)
        outcome = self.script[url].pop(0)
        if isinstance(outcome, Exception):
            dest.write_bytes(PAYLOAD[: len(PAYLOAD) // 3])
            raise outcome
        dest.write_bytes(outcome)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_download_retries_after_transient_errors(tmp_path):
    fetch = FakeFetch({"http://a": [ConnectionResetError("reset"), TimeoutError("slow"), PAYLOAD]})
    dest = tmp_path / "archive.tar.gz"
    assert download(["http://a"], dest, MD5, attempts=3, backoff=0, fetch=fetch) == "http://a"
    assert fetch.calls == ["http://a"] * 3
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["archive.tar.gz"]


def test_download_gives_up_after_its_attempts_leaving_nothing(tmp_path):
    fetch = FakeFetch({"http://a": [ConnectionResetError("reset")] * 3})
    dest = tmp_path / "archive.tar.gz"
    with pytest.raises(ArchiveError, match=r"could not download archive.tar.gz") as err:
        download(["http://a"], dest, MD5, attempts=3, backoff=0, fetch=fetch)
    assert "attempt 3" in str(err.value) and "reset" in str(err.value)
    assert len(fetch.calls) == 3
    assert _leftovers(tmp_path) == []


def test_download_with_wrong_checksum_leaves_no_file(tmp_path):
    fetch = FakeFetch({"http://a": [b"something else"]})
    dest = tmp_path / "archive.tar.gz"
    with pytest.raises(ArchiveError, match="md5 checksum mismatch"):
        download(["http://a"], dest, MD5, attempts=3, backoff=0, fetch=fetch)
    # A wrong file is not fetched again from the same place.
    assert fetch.calls == ["http://a"]
    assert _leftovers(tmp_path) == []


def test_download_falls_back_to_the_next_url(tmp_path):
    fetch = FakeFetch(
        {
            "http://moved": [b"<html>moved</html>"],
            "http://down": [ConnectionRefusedError("refused")] * 2,
            "http://mirror": [PAYLOAD],
        }
    )
    dest = tmp_path / "archive.tar.gz"
    urls = ["http://moved", "http://down", "http://mirror"]
    assert download(urls, dest, MD5, attempts=2, backoff=0, fetch=fetch) == "http://mirror"
    assert fetch.calls == ["http://moved", "http://down", "http://down", "http://mirror"]
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["archive.tar.gz"]


def test_download_keeps_an_existing_archive_when_a_new_one_fails(tmp_path):
    dest = tmp_path / "archive.tar.gz"
    dest.write_bytes(b"older archive")
    fetch = FakeFetch({"http://a": [b"corrupt"]})
    with pytest.raises(ArchiveError):
        download(["http://a"], dest, MD5, attempts=1, backoff=0, fetch=fetch)
    assert dest.read_bytes() == b"older archive"
    assert _leftovers(tmp_path) == ["archive.tar.gz"]


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes, length: int):
        super().__init__(body)
        self.headers = {"Content-Length": str(length)}


def test_truncated_transfer_is_retried(tmp_path, monkeypatch):
    """The real fetch: a body shorter than its Content-Length counts as a network
    error (retried), not as a wrong file (given up at once)."""
    responses = [
        FakeResponse(PAYLOAD[:1000], len(PAYLOAD)),  # the connection dropped
        FakeResponse(PAYLOAD, len(PAYLOAD)),
    ]
    monkeypatch.setattr(archives.urllib.request, "urlopen", lambda url, timeout: responses.pop(0))
    dest = tmp_path / "archive.tar.gz"
    assert download(["http://a"], dest, MD5, attempts=2, backoff=0) == "http://a"
    assert not responses
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["archive.tar.gz"]
