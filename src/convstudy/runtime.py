"""TensorFlow runtime set-up: threads, seeds, determinism, GPU and precision.

Call :func:`configure` once, first thing in a job, before any tensor exists:
TensorFlow's thread pools cannot be resized after they start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator

log = logging.getLogger(__name__)


def configure(
    threads: int,
    seed: int,
    *,
    deterministic: bool = True,
    mixed_precision: bool = False,
) -> dict:
    """Size TensorFlow's pools to ``threads``, seed every generator, pick the precision.

    Returns a description of the device set-up for the log.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    import keras

    threads = max(1, int(threads))
    # Intra-op threads do the arithmetic; one inter-op thread is enough for these
    # sequential models and keeps the job within its `threads:` on a shared node.
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        # A second job function in the same process (tests, notebooks): the pools
        # already run and keep their size; everything else is set again below.
        log.info("TensorFlow's thread pools already started: keeping their size")
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        # Grow GPU memory as needed so several jobs can share a card.
        tf.config.experimental.set_memory_growth(gpu, True)
    policy = "float32"
    if mixed_precision and gpus:
        policy = "mixed_float16"
    elif mixed_precision:
        log.info("mixed_precision requested but no GPU is visible: training in float32")
    keras.mixed_precision.set_global_policy(policy)
    info = {
        "threads": threads,
        "gpus": [g.name for g in gpus],
        "precision": policy,
        "deterministic": deterministic,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    log.info("runtime: %s", info)
    return info


def tf_data_options(threads: int):
    """tf.data options whose thread pool matches the job's ``threads:``."""
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = max(1, int(threads))
    options.deterministic = True
    return options


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


def training_options(params, config: dict) -> dict:
    """The machine-level options a training rule passes on.

    ``jit_compile`` and ``mixed_precision`` change the numbers, so they come from the
    rule's ``params`` (changing them retrains); ``steps_per_execution`` only changes
    speed, so it is read from the config and changing it retrains nothing.
    """
    return {
        "jit_compile": params.jit_compile,
        "mixed_precision": params.mixed_precision,
        "steps_per_execution": config["training"]["steps_per_execution"],
    }
