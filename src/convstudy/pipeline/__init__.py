"""Input pipelines: one epoch of shuffled, augmented, one-hot batches per (seed, epoch).

Two implementations with the same guarantees, chosen by the job's backend
(:class:`convstudy.runtime.RunOptions`): :mod:`.tfdata` (TensorFlow: tf.data,
augmentation as one kernel per batch inside the graph) and :mod:`.arrays` (every
other backend: NumPy batches, no TensorFlow, the geometry in :mod:`.geometry`).
What both share is in :mod:`.constants`.
Every random choice is a stateless function of (seed, epoch, batch), so an epoch
is the same whether training ran straight through or resumed after a kill; the
geometry of the augmentation is the same in both (tests compare them pixel for
pixel), the random draws are not (other generators).

``augment`` is a variant's ``augment`` setting: the CIFAR keys (``horizontal_flip``,
``translate``, ``rotation``, ``zoom``, ``fill_mode``: projective transforms) or the
fine-tuning keys (``min_crop``, ``horizontal_flip``: random square crops resized
back, and flips).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..runtime import RunOptions


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def featurewise_stats(x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance of images scaled to [0, 1] (ImageDataGenerator's
    ``featurewise_center`` + ``featurewise_std_normalization``), in float64."""
    total = np.zeros(x.shape[-1])
    total_sq = np.zeros(x.shape[-1])
    count = 0
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].astype(np.float64) / 255.0
        total += part.sum(axis=(0, 1, 2))
        total_sq += (part**2).sum(axis=(0, 1, 2))
        count += part.shape[0] * part.shape[1] * part.shape[2]
    mean = total / count
    return mean, total_sq / count - mean**2


def train_data(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    batch_size: int,
    augment: Mapping,
    options: RunOptions,
):
    """Training data of the job's backend: ``.epoch(e)`` is epoch ``e`` as ``fit`` takes it."""
    if options.backend == "tensorflow":
        from .tfdata import TrainData

        return TrainData(x, y, num_classes, batch_size, augment, options.seed, options.threads)
    from .arrays import TrainData

    return TrainData(x, y, num_classes, batch_size, augment, options.seed)


def eval_data(
    x: np.ndarray, y: np.ndarray | None, num_classes: int, batch_size: int, options: RunOptions
):
    """Batches in order, no augmentation (validation, test), as the job's backend takes them."""
    if options.backend == "tensorflow":
        from .tfdata import eval_dataset, threading

        return eval_dataset(x, y, num_classes, batch_size, threading(options.threads))
    from .arrays import as_keras_dataset, eval_batches

    return as_keras_dataset(eval_batches(x, y, num_classes, batch_size))
