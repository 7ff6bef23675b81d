"""The workflow's own files, and private copies of them.

Tests and benchmarks run Snakemake in copies of the workflow, side by side, so
that no run touches this checkout's results or another run's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: The checkout: the folder of the Snakefile.
ROOT = Path(__file__).resolve().parents[2]
#: What a copy of the workflow needs (results/ and caches stay behind).
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "report", "envs", "profiles", "src")


def copy_workflow(dest: str | Path, root: Path = ROOT) -> Path:
    """A private copy of the workflow in ``dest`` (created; parts already there replaced)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = root / part
        if src.is_dir():
            shutil.copytree(
                src,
                dest / part,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
            )
        else:
            shutil.copy2(src, dest / part)
    return dest
