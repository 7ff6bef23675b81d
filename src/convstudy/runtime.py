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
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Keras backends the workflow runs on (``training.backend``; the config's schema, the
#: rules' conda environments and the tests take the list from here).
BACKENDS = ("tensorflow", "jax")


def select_backend(backend: str) -> None:
    """Make ``backend`` the Keras backend of this process (before Keras is imported)."""
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


@dataclass(frozen=True)
class RunOptions:
    """How a job runs its networks, built once per job and passed to what needs it.

    ``backend``, ``jit_compile`` and ``mixed_precision`` change the numbers, so the
    rules pass them as params (changing them reruns); ``threads`` is the job's own
    (Snakemake's ``threads``); ``steps_per_execution`` only changes speed, so it is read
    from the config and changing it reruns nothing.
    """

    backend: str = "tensorflow"
    threads: int = 1
    seed: int = 0
    jit_compile: bool = False
    mixed_precision: bool = False
    deterministic: bool = True
    steps_per_execution: int = 1

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(
                f"training.backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}"
            )

    @classmethod
    def from_snakemake(cls, snakemake) -> RunOptions:
        p = snakemake.params
        run = dict(p.run)
        return cls(
            threads=max(1, int(snakemake.threads)),
            seed=p.seed,
            steps_per_execution=snakemake.config["training"]["steps_per_execution"],
            **run,
        )

    @property
    def compiled(self) -> bool:
        """The ``jit_compile`` a model gets: the setting on TensorFlow (where XLA is
        optional, and slower on a CPU); always on JAX, which runs op by op otherwise."""
        return True if self.backend == "jax" else self.jit_compile


def configure(options: RunOptions) -> dict:
    """Choose the Keras backend, size its threads, seed every generator, make its
    results deterministic, let jobs share a GPU, pick the precision.

    Returns a description of the set-up, also logged as the job's ``runtime:`` line.
    """
    select_backend(options.backend)
    setup = _tensorflow if options.backend == "tensorflow" else _jax
    devices = setup(options.threads, options.deterministic)
    import keras
    import numpy as np

    random.seed(options.seed)
    np.random.seed(options.seed)
    keras.utils.set_random_seed(options.seed)
    policy = "float32"
    if options.mixed_precision and devices["gpus"]:
        policy = "mixed_float16"
    elif options.mixed_precision:
        log.info("mixed_precision requested but no GPU is visible: training in float32")
    keras.mixed_precision.set_global_policy(policy)
    info = {
        "backend": options.backend,
        "threads": options.threads,
        **devices,
        "precision": policy,
        "deterministic": options.deterministic,
        "keras": keras.__version__,
    }
    log.info("runtime: %s", info)
    return info
