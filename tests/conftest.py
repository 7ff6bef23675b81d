"""Shared fixtures: the package from this checkout, workflow copies, Snakemake runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
# Tests import the package of this checkout, whatever is installed.
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from convstudy.checkout import copy_workflow  # noqa: E402  (tests run copies of the workflow)

#: Loaded by every Python process of a harnessed run (tests/jobhooks/sitecustomize.py):
#: no network, and each job records the package modules it loaded.
JOBHOOKS = Path(__file__).resolve().parent / "jobhooks"


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict | None = None, timeout: int = 1200
) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir``; on failure show its output in the assertion."""
    cmd = [sys.executable, "-m", "snakemake", *args]
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    proc = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, env=full_env, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def random_images(n: int = 16, size: int = 8, seed: int = 0):
    """``n`` random uint8 RGB images of ``size`` x ``size`` (the pipelines' tests)."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def harness_env(record: Path) -> dict:
    """Environment of a Snakemake run whose processes have no network and whose jobs
    record their loaded modules under ``record`` (see tests/jobhooks)."""
    path = os.pathsep.join(p for p in (str(JOBHOOKS), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "CONVSTUDY_JOB_RECORD": str(record)}


def job_records(record: Path) -> list[dict]:
    """What each job of a harnessed run recorded (rule, wildcards, modules, network)."""
    return [json.loads(p.read_text()) for p in sorted(record.glob("*.json"))]


@pytest.fixture
def workflow(tmp_path) -> Path:
    return copy_workflow(tmp_path / "workflow")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The documented offline demo, run once per session in a private copy.

    Returns the workflow directory; outputs are under ``results/demo``. Tests that
    only read outputs share it; tests that change things make their own copy. The
    run is harnessed: no process may use the network, and what each job loaded is
    recorded in ``demo_jobs``.
    """
    root = tmp_path_factory.mktemp("demo")
    workdir = copy_workflow(root / "workflow")
    env = harness_env(root / "jobs")
    snakemake(workdir, "--cores", "2", "--configfile", "config/demo.yaml", env=env)
    return workdir


@pytest.fixture(scope="session")
def demo_jobs(demo_run) -> list[dict]:
    """Records of the demo's jobs (tests/jobhooks): rule, wildcards, modules, network."""
    return job_records(demo_run.parent / "jobs")


@pytest.fixture
def done(demo_run, tmp_path) -> Path:
    """A private copy of the finished demo: workflow, results and Snakemake's records,
    with their modification times (which drive the mtime trigger)."""
    return Path(shutil.copytree(demo_run, tmp_path / "workflow", symlinks=True))
