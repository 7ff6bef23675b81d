"""Make this checkout's ``convstudy`` package importable in every job.

Snakemake puts the directory of a ``script:`` on ``sys.path``; each script
imports this module first. Jobs in a conda env from envs/*.yaml (which holds the
dependencies, not this package) then still find the package next to the workflow.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
