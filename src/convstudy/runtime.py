"""Keras runtime set-up for a job: backend, threads, seeds, determinism, GPU, precision.

Call :func:`configure` once, first thing in a job, before Keras is imported
anywhere: the backend is chosen when Keras is first imported, and TensorFlow's
thread pools and XLA's flags cannot change after they start.
"""

from __future__ import annotations

import logging
import os
import random
import sys

log = logging.getLogger(__name__)

#: Keras backends the workflow runs on (``training.backend``).
BACKENDS = ("tensorflow", "jax")


def select_backend(backend: str) -> None:
    """Make ``backend`` the Keras backend of this process (before Keras is imported)."""
    if backend not in BACKENDS:
        raise ValueError(f"training.backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    keras = sys.modules.get("keras")
    if keras is not None and keras.config.backend() != backend:
        raise RuntimeError(
            f"Keras was imported with the {keras.config.backend()} backend before the job "
            f"could choose {backend}: configure the runtime first"
        )
    os.environ["KERAS_BACKEND"] = backend


def _tensorflow(threads: int, deterministic: bool) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    # Intra-op threads do the arithmetic; one inter-op thread is enough for these
    # sequential models and keeps the job within its `threads:` on a shared node.
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        # A second job function in the same process (tests, notebooks): the pools
        # already run and keep their size; everything else is set again below.
        log.info("TensorFlow's thread pools already started: keeping their size")
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        # Grow GPU memory as needed so several jobs can share a card.
        tf.config.experimental.set_memory_growth(gpu, True)
    return {"gpus": [g.name for g in gpus], "tensorflow": tf.__version__}


def _jax(threads: int, deterministic: bool) -> dict:
    # XLA reads its flags when the backend starts: set them before importing jax.
    flags = os.environ.get("XLA_FLAGS", "").split()
    if threads == 1:
        flags += ["--xla_cpu_multi_thread_eigen=false"]
    if deterministic:
        flags.append("--xla_gpu_deterministic_ops=true")
    os.environ["XLA_FLAGS"] = " ".join(dict.fromkeys(flags))
    # Take GPU memory as needed, not 75% of the card at start: jobs can share a GPU.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    # Its search for a TPU fails on every other machine; nothing to report.
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    info = {"gpus": [str(d) for d in gpus], "jax": jax.__version__}
    if threads > 1 and not gpus:
        # JAX has no per-process thread cap on a CPU (only one thread, or all).
        info["cpu_threads"] = "all visible cores (JAX cannot cap them above one)"
    return info


def configure(
    threads: int,
    seed: int,
    *,
    backend: str = "tensorflow",
    deterministic: bool = True,
    mixed_precision: bool = False,
) -> dict:
    """Choose the Keras backend, size its threads, seed every generator, make its
    results deterministic, let jobs share a GPU, pick the precision.

    Returns a description of the set-up, also logged as the job's ``runtime:`` line.
    """
    threads = max(1, int(threads))
    select_backend(backend)
    devices = (_tensorflow if backend == "tensorflow" else _jax)(threads, deterministic)
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    policy = "float32"
    if mixed_precision and devices["gpus"]:
        policy = "mixed_float16"
    elif mixed_precision:
        log.info("mixed_precision requested but no GPU is visible: training in float32")
    keras.mixed_precision.set_global_policy(policy)
    info = {
        "backend": backend,
        "threads": threads,
        **devices,
        "precision": policy,
        "deterministic": deterministic,
        "keras": keras.__version__,
    }
    log.info("runtime: %s", info)
    return info


def compiled(jit_compile: bool) -> bool:
    """The ``jit_compile`` a model gets: the setting on TensorFlow (where XLA is
    optional, and slower on a CPU); always on JAX, which runs op by op otherwise."""
    import keras

    return True if keras.config.backend() == "jax" else jit_compile


def training_options(params, config: dict) -> dict:
    """The machine-level options a training rule passes on.

    ``backend``, ``jit_compile`` and ``mixed_precision`` change the numbers, so they
    come from the rule's ``params`` (changing them retrains); ``steps_per_execution``
    only changes speed, so it is read from the config and changing it retrains nothing.
    """
    return {
        "backend": params.backend,
        "jit_compile": params.jit_compile,
        "mixed_precision": params.mixed_precision,
        "steps_per_execution": config["training"]["steps_per_execution"],
    }
