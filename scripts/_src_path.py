"""Make this checkout's ``convstudy`` package the one every job imports.

Snakemake puts the directory of a ``script:`` on ``sys.path``; each script
imports this module first. Jobs in a conda env from envs/*.yaml (which holds the
dependencies, not this package) then still find the package next to the workflow.
The checkout's ``src`` goes first even when it is on the path already: Snakemake
appends it behind site-packages, where an installed ``convstudy`` (another
checkout's, say) would otherwise win.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
while SRC in sys.path:
    sys.path.remove(SRC)
sys.path.insert(0, SRC)
