"""Shared fixtures: the package from this checkout, workflow copies, Snakemake runs."""

from __future__ import annotations

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

#: What a copy of the workflow needs (results/ and caches stay behind).
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "report", "envs", "profiles", "src")


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow, so tests can run Snakemake side by side."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(
                src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(src, dest / part)
    return dest


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
    only read outputs share it; tests that change things make their own copy.
    """
    workdir = copy_workflow(tmp_path_factory.mktemp("demo") / "workflow")
    snakemake(workdir, "--cores", "2", "--configfile", "config/demo.yaml")
    return workdir
