"""Each job's log: one format for every script, and errors recorded before they propagate."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


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
def logged(log_file: str | None = None) -> Iterator[logging.Logger]:
    """Set up logging for a job and record any error in its log before it propagates."""
    setup_logging(log_file)
    logger = logging.getLogger("convstudy.job")
    try:
        yield logger
    except Exception as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        raise
