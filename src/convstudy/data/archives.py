"""Fetching, checking and reading archives: checksums, retried downloads, atomic
writes, and one forward pass over a tar archive's members.

A download lands under a temporary name and is renamed into place only after
its checksum matched, so no rule ever sees a partial or wrong archive.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
import time
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..files import atomic_path
from ..logs import PROGRESS_EVERY, Progress, duration

log = logging.getLogger(__name__)


class ArchiveError(RuntimeError):
    """An archive that is missing, corrupt, truncated or not what the checksum says."""


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.md5(), chunk)


def sha256sum(path: str | Path, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.sha256(), chunk)


def _digest(path: str | Path, digest, chunk: int) -> str:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _mismatch(path: Path, kind: str, expected: str, actual: str, setting: str | None) -> str:
    fix = f"; for a file of your own, set {setting}" if setting else ""
    return (
        f"{path}: {kind} checksum mismatch: expected {expected}, got {actual} "
        f"(a truncated or different file{fix})"
    )


def verify_checksums(
    path: str | Path,
    md5: str | None = None,
    sha256: str | None = None,
    setting: str | None = None,
) -> str:
    """Check whichever checksums are given (some catalogues publish only a sha256);
    a mismatch names ``setting``, the config key that holds the expected checksum.

    Returns the file's md5, for the record.
    """
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    actual = md5sum(path)
    if md5 is not None and actual != md5.lower():
        raise ArchiveError(_mismatch(path, "md5", md5.lower(), actual, setting))
    if sha256 is not None:
        actual_sha = sha256sum(path)
        if actual_sha != sha256.lower():
            raise ArchiveError(_mismatch(path, "sha256", sha256.lower(), actual_sha, setting))
    return actual


def check_archive(path: str | Path, checksums: Mapping[str, str | None], what: str = "") -> str:
    """Verify an archive against whichever of ``md5``/``sha256`` ``checksums`` gives
    (None: not checked; ``setting`` names where the config sets them), log what was
    verified, return its md5 for the record."""
    md5 = verify_checksums(
        path, checksums.get("md5"), checksums.get("sha256"), checksums.get("setting")
    )
    checked = [k for k in ("md5", "sha256") if checksums.get(k)]
    log.info(
        "%s%s: md5 %s%s",
        path,
        f" ({what})" if what else "",
        md5,
        f" ({', '.join(checked)} verified)" if checked else "",
    )
    return md5


def _fetch(url: str, dest: Path, timeout: float, every: float = PROGRESS_EVERY) -> None:
    """Copy ``url`` to ``dest``, logging the progress of a long transfer."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        expected = response.headers.get("Content-Length")
        size = int(expected) if expected and expected.strip().isdigit() else 0
        progress = Progress(Path(url).name, size, "MB", scale=1e6, every=every, logger=log)
        done = 0
        while block := response.read(1 << 20):
            out.write(block)
            done += len(block)
            progress.update(done)
        log.info(
            "%s: %.1f MB in %s",
            Path(url).name,
            done / 1e6,
            duration(progress.clock() - progress.began),
        )
    # A connection that drops mid-body just ends the read, without an error: count
    # the bytes, so that a truncated transfer is retried like other network errors
    # instead of failing the checksum (which is not retried).
    got = Path(dest).stat().st_size
    if expected is not None and expected.strip().isdigit() and got != int(expected):
        raise ConnectionError(f"transfer ended after {got} of {int(expected)} bytes")


def download(
    urls: Sequence[str],
    dest: str | Path,
    md5: str | None,
    *,
    attempts: int = 3,
    backoff: float = 5.0,
    timeout: float = 60.0,
    fetch: Callable[[str, Path, float], None] = _fetch,
    sha256: str | None = None,
    setting: str | None = None,
) -> str:
    """Download the first URL that yields a file with the right checksum (``setting``:
    the config key of that checksum, named when it does not match).

    Each URL is tried ``attempts`` times with growing pauses; a file with the
    wrong checksum is discarded at once (retrying the same host would not fix it).
    Returns the URL that worked.
    """
    dest = Path(dest)
    problems = []
    for url in urls:
        for attempt in range(1, attempts + 1):
            try:
                with atomic_path(dest) as tmp:
                    log.info("downloading %s (attempt %d/%d)", url, attempt, attempts)
                    fetch(url, tmp, timeout)
                    verify_checksums(tmp, md5, sha256, setting)
                return url
            except ArchiveError as exc:
                problems.append(f"{url}: {exc}")
                break
            except OSError as exc:
                problems.append(f"{url} (attempt {attempt}): {exc}")
                if attempt < attempts:
                    time.sleep(backoff * attempt)
    raise ArchiveError(f"could not download {dest.name}:\n  " + "\n  ".join(problems))


# Errors a damaged, truncated or foreign file raises while tarfile reads it.
UNREADABLE = (tarfile.TarError, EOFError, zlib.error, OSError)


def open_stream(archive: str | Path) -> tarfile.TarFile:
    """A forward-only reader: members are read in archive order, nothing is seeked."""
    archive = Path(archive)
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such file")
    return tarfile.open(archive, "r|*")


def member_name(member: tarfile.TarInfo) -> str:
    # Archives made with `tar -C dir .` name their members ./images/...
    return member.name[2:] if member.name.startswith("./") else member.name


def unreadable(archive: str | Path, exc: BaseException) -> ArchiveError:
    kind = ".tgz" if str(archive).endswith(".tgz") else ".tar.gz"
    return ArchiveError(f"{archive}: not a readable {kind} archive, or truncated ({exc})")


def read_members(archive: str | Path, names: Sequence[str]) -> dict[str, bytes]:
    """The named members of a tar archive, in one pass that stops once all are found;
    errors say whether the file is unreadable or the members are missing."""
    wanted = set(names)
    found: dict[str, bytes] = {}
    try:
        with open_stream(archive) as tar:
            for member in tar:
                name = member_name(member)
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read()
                    if len(found) == len(wanted):
                        break
    except UNREADABLE as exc:
        raise unreadable(archive, exc) from None
    missing = [n for n in names if n not in found]
    if missing:
        raise ArchiveError(f"{archive}: missing {', '.join(missing)} (incomplete archive?)")
    return found
