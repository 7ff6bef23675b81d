"""One run at a time per results directory, whichever checkout it comes from.

Snakemake locks the files of a run in the working directory's ``.snakemake/``, so two
checkouts (or two working directories) writing one ``results_dir`` do not see each
other: the second would delete and remake files under the first. The workflow
therefore takes a lock of its own, ``<results_dir>/.lock``, when a run starts jobs
(``onstart``) and gives it back when the run ends (``onsuccess``, ``onerror``).

A lock left by a run that died on this host (its process is gone) is taken over
with a warning. One left on another host cannot be checked from here: ``snakemake
--unlock`` (with the same config) removes it, as it removes Snakemake's own.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_FILE = ".lock"


class ResultsLocked(RuntimeError):
    """Another run is writing the results directory."""


def lock_path(results: str | Path) -> Path:
    return Path(results) / LOCK_FILE


def holder(results: str | Path) -> dict | None:
    """Who holds the lock of ``results`` (None: nobody)."""
    try:
        return json.loads(lock_path(results).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return {"host": "?", "pid": 0, "checkout": "?", "started": "?"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(owner: dict) -> bool:
    """A lock of a run that died on this host."""
    return owner.get("host") == socket.gethostname() and not _alive(int(owner.get("pid", 0)))


def describe(owner: dict) -> str:
    return (
        f"a run from {owner.get('checkout')} (pid {owner.get('pid')} on "
        f"{owner.get('host')}, started {owner.get('started')})"
    )


def acquire(results: str | Path, checkout: str | Path) -> None:
    """Take the lock of ``results`` for this process, or raise ResultsLocked naming
    the run that holds it and what to do."""
    path = lock_path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "checkout": str(Path(checkout).resolve()),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(sys.argv),
    }
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = holder(results)
            if owner is None:
                continue
            if owner.get("pid") == me["pid"] and owner.get("host") == me["host"]:
                return
            if _stale(owner):
                print(f"convstudy: taking over the lock of {describe(owner)}, which died")
                path.unlink(missing_ok=True)
                continue
            raise ResultsLocked(
                f"results_dir {Path(results).resolve()} is in use by {describe(owner)}: "
                "wait for it to end, or, if it died, run snakemake --unlock "
                "(with the same --configfile) and start again"
            ) from None
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return
    raise ResultsLocked(f"results_dir {Path(results).resolve()}: could not take its lock")


def release(results: str | Path) -> None:
    """Give back the lock, if this process holds it."""
    owner = holder(results)
    if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        lock_path(results).unlink(missing_ok=True)


def unlock(results: str | Path) -> dict | None:
    """Remove the lock whoever holds it (``snakemake --unlock``); return its holder."""
    owner = holder(results)
    lock_path(results).unlink(missing_ok=True)
    return owner
