"""Input pipelines: one epoch of shuffled, augmented, one-hot batches per (seed, epoch).

Two implementations with the same guarantees, chosen by the Keras backend in use:
:mod:`.tfdata` (TensorFlow: tf.data, augmentation as one kernel per batch inside
the graph) and :mod:`.arrays` (every other backend: NumPy batches, no TensorFlow).
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

import numpy as np

NO_AUGMENT = {
    "horizontal_flip": False,
    "translate": 0.0,
    "rotation": 0.0,
    "zoom": 0.0,
    "fill_mode": "nearest",
}
#: Multiplier of the epoch in a batch's seed: [seed, epoch * EPOCH_STRIDE + batch].
EPOCH_STRIDE = 1_000_003
#: Crops draw from a stream of their own, [seed + this, ...], apart from the shuffle.
CROP_SEED_OFFSET = 17


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def crops(augment: Mapping) -> bool:
    """Whether ``augment`` asks for the fine-tuning crops (else projective transforms)."""
    return "min_crop" in augment


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


def _tensorflow() -> bool:
    import keras

    return keras.config.backend() == "tensorflow"


def train_data(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    batch_size: int,
    augment: Mapping,
    seed: int,
    threads: int,
):
    """Training data of the backend in use: ``.epoch(e)`` is epoch ``e`` as ``fit`` takes it."""
    if _tensorflow():
        from .tfdata import TrainData
    else:
        from .arrays import TrainData
    return TrainData(x, y, num_classes, batch_size, augment, seed, threads)


def eval_data(x: np.ndarray, y: np.ndarray | None, num_classes: int, batch_size: int, threads: int):
    """Batches in order, no augmentation (validation, test), as the backend in use takes them."""
    if _tensorflow():
        from .tfdata import eval_dataset, options

        return eval_dataset(x, y, num_classes, batch_size, options(threads))
    from .arrays import as_keras_dataset, eval_batches

    return as_keras_dataset(eval_batches(x, y, num_classes, batch_size))
