"""Each job's log: one format for every script, errors recorded before they
propagate, and the job's rerun record once it succeeded (:mod:`convstudy.reruns`)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from .provenance import now, provenance
from .reruns import PLAN_INPUT, write_record


def setup_logging(log_file: str | None = None) -> None:
    """Log to the job's ``log:`` file (and stderr), one format for every script."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


@contextlib.contextmanager
def logged(snakemake) -> Iterator[logging.Logger]:
    """Run a job's body: log to its ``log:`` file, record any error in the log before
    it propagates, and write the job's rerun record once the body succeeded."""
    setup_logging(snakemake.log[0] if snakemake.log else None)
    logger = logging.getLogger("convstudy.job")
    started = now()
    try:
        yield logger
    except Exception as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        raise
    if hasattr(snakemake.input, PLAN_INPUT):
        write_record(snakemake, provenance=provenance(snakemake.threads, started))


#: Seconds between two progress lines of a long step (an epoch, a download...).
PROGRESS_EVERY = 30.0


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"


class Progress:
    """Log lines a person can follow through a long step: at most one every ``every``
    seconds, each with what is done of ``total``, the rate and the time left."""

    def __init__(
        self,
        what: str,
        total: float,
        unit: str,
        *,
        scale: float = 1.0,
        every: float = PROGRESS_EVERY,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ):
        self.what, self.total, self.unit, self.scale = what, total, unit, scale
        self.every, self.clock = every, clock
        self.log = logger or logging.getLogger("convstudy.progress")
        self.began = self.last = clock()

    def line(self, done: float) -> str:
        elapsed = max(self.clock() - self.began, 1e-9)
        rate = done / elapsed
        shown = f"{done / self.scale:.{1 if self.scale != 1 else 0}f}"
        total = f"{self.total / self.scale:.{1 if self.scale != 1 else 0}f}"
        text = f"{self.what}: {shown}/{total} {self.unit}"
        if self.total:
            text += f" ({100 * done / self.total:.0f}%)"
        text += f", {rate / self.scale:.1f} {self.unit}/s"
        if rate > 0 and done < self.total:
            text += f", about {duration((self.total - done) / rate)} left"
        return text

    def update(self, done: float) -> None:
        """Log where the step is, if the last line is ``every`` seconds old."""
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self.log.info(self.line(done))
