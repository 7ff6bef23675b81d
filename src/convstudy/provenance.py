"""What made a result: software versions, the workflow's commit, the machine.

Recorded by every job with its rerun record (:mod:`convstudy.reruns`) and copied into
each run's ``metrics.json``; the report lists it. Nothing here is a param: a new
commit or another machine reruns nothing, it is only written down.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from .checkout import ROOT

#: Distributions whose versions a result records, when the job imported them.
LIBRARIES = {"keras": "keras", "numpy": "numpy", "tensorflow": "tensorflow", "jax": "jax"}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def versions() -> dict[str, str]:
    """Python's version and those of the libraries this process imported."""
    found = {"python": platform.python_version()}
    for module, dist in LIBRARIES.items():
        if module in sys.modules:
            try:
                found[module] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                # tensorflow-cpu, jaxlib...: the module's own version.
                found[module] = str(getattr(sys.modules[module], "__version__", "unknown"))
    return found


def commit(root: Path = ROOT) -> dict[str, str | bool | None]:
    """The workflow's git commit and whether its tree had changes (None: not a git
    checkout, or git missing)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what the platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[str]:
    """Names of the GPUs the job's Keras backend sees (none when it imported no backend)."""
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    if "jax" in sys.modules:
        return [d.device_kind for d in sys.modules["jax"].devices() if d.platform == "gpu"]
    return []


def provenance(threads: int, started: str) -> dict:
    """A job's provenance, at its end."""
    return {
        **versions(),
        **commit(),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cpus_visible": os.cpu_count(),
        "gpus": gpus(),
        "threads": threads,
        "started": started,
        "finished": now(),
    }
