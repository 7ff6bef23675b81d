"""Test harness loaded by every Python process of a test's Snakemake run.

Tests put this directory on PYTHONPATH and name a directory in
``CONVSTUDY_JOB_RECORD``. Then, in every process:

- the network is closed: a connection to anything but this machine, or a name
  lookup, raises and is recorded (no job may download anything);
- a job (a process running a rule's script) writes, when it ends, which of the
  workflow's package modules it loaded, and from where:
  ``<record>/<rule>-<pid>.json``.
"""

import atexit
import json
import os
import socket
import sys

RECORD = os.environ.get("CONVSTUDY_JOB_RECORD")
LOCAL = {None, "localhost", "127.0.0.1", "::1", ""}
_attempts: list[str] = []


def _blocked(what: str) -> OSError:
    _attempts.append(what)
    return OSError(f"network access is blocked by the test harness: {what}")


def _install() -> None:
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def is_remote(sock, address) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        host = address[0] if isinstance(address, tuple) else address
        return host not in LOCAL

    def connect(self, address):
        if is_remote(self, address):
            raise _blocked(f"connect {address!r}")
        return original_connect(self, address)

    def connect_ex(self, address):
        if is_remote(self, address):
            raise _blocked(f"connect {address!r}")
        return original_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOCAL:
            raise _blocked(f"getaddrinfo {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo


def _record() -> None:
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    if job is None:
        if _attempts:  # Snakemake itself: only what it tried
            path = os.path.join(RECORD, f"snakemake-{os.getpid()}.json")
            with open(path, "w") as fh:
                json.dump({"rule": None, "network": _attempts}, fh)
        return
    modules = sorted(m for m in sys.modules if m == "convstudy" or m.startswith("convstudy."))
    package = getattr(sys.modules.get("convstudy"), "__file__", None)
    path = os.path.join(RECORD, f"{job.rule}-{os.getpid()}.json")
    with open(path, "w") as fh:
        json.dump(
            {
                "rule": job.rule,
                "wildcards": dict(job.wildcards.items()),
                "modules": modules,
                "package": package,
                "network": _attempts,
            },
            fh,
        )


if RECORD:
    os.makedirs(RECORD, exist_ok=True)
    _install()
    atexit.register(_record)
