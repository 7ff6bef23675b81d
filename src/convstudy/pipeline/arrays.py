"""Backend-neutral input pipeline in plain NumPy (no TensorFlow): batches.

The counterpart of :mod:`.tfdata` for Keras backends without TensorFlow (JAX). The
guarantees are the same: every random choice is a pure function of (seed, epoch,
batch), so a resumed run sees the same epoch as an uninterrupted one, and
augmentation works on whole batches with array operations (:mod:`.geometry`), never
a Python call per image or per pixel. The random draws differ from the tf.data
pipeline (another generator), the geometry does not.

Keras is imported only to hand batches to ``fit`` (:func:`as_keras_dataset`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from .constants import CROP_SEED_OFFSET, EPOCH_STRIDE, NO_AUGMENT, crops
from .geometry import augment_batch, augments, crop_flip_batch

BatchTransform = Callable[[np.ndarray, Sequence[int]], np.ndarray]


# --------------------------------------------------------------------------- batches


class ArrayBatches:
    """Batches of an in-memory array, indexable like ``keras.utils.PyDataset``.

    ``batches[i]`` is (x float32 [b, H, W, C], y one-hot float32 [b, K]), or x
    alone when there are no labels; the last batch is partial. ``order`` (a
    permutation, or None for the stored order) picks the images; ``transform``,
    if any, is applied to batch i with seed [seed, epoch * 1_000_003 + i], so a
    batch is the same whenever and however often it is asked for.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        num_classes: int,
        batch_size: int,
        *,
        order: np.ndarray | None = None,
        transform: BatchTransform | None = None,
        seed: int = 0,
        epoch: int = 0,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        self.x = x
        self.y = None if y is None else np.asarray(y, dtype=np.intp)
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.order = order
        self.transform = transform
        self.seed = seed
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        start = index * self.batch_size
        picks = slice(start, start + self.batch_size)
        if self.order is not None:
            picks = self.order[picks]
        batch_x = np.asarray(self.x[picks], dtype=np.float32)
        if self.transform is not None:
            batch_x = self.transform(batch_x, [self.seed, self.epoch * EPOCH_STRIDE + index])
        if self.y is None:
            return batch_x
        return batch_x, np.eye(self.num_classes, dtype=np.float32)[self.y[picks]]

    def __iter__(self) -> Iterator:
        return (self[i] for i in range(len(self)))


def train_batches(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    batch_size: int,
    augment: Mapping,
    seed: int,
    epoch: int,
    transform: BatchTransform | None = None,
) -> ArrayBatches:
    """One epoch of shuffled, augmented, one-hot batches; a pure function of
    (seed, epoch), like :func:`convstudy.pipeline.tfdata.train_dataset`.

    The order is ``default_rng([seed, epoch]).permutation(n)``. ``transform``
    (callable(batch_x, batch_seed) -> batch_x, e.g. a
    :func:`convstudy.pipeline.geometry.crop_flip_batch` wrapper) replaces
    :func:`convstudy.pipeline.geometry.augment_batch`, so it comes with an empty
    ``augment``.
    """
    aug = {**NO_AUGMENT, **augment}
    if transform is not None and augments(aug):
        raise ValueError("give either augment or transform, not both")
    if transform is None and augments(aug):

        def transform(batch_x, batch_seed):
            return augment_batch(batch_x, batch_seed, aug)

    order = np.random.default_rng([seed, epoch]).permutation(len(x))
    return ArrayBatches(
        x, y, num_classes, batch_size, order=order, transform=transform, seed=seed, epoch=epoch
    )


def eval_batches(
    x: np.ndarray, y: np.ndarray | None, num_classes: int, batch_size: int = 256
) -> ArrayBatches:
    """Batches in order, no augmentation (validation, test, feature extraction);
    x alone when ``y`` is None."""
    return ArrayBatches(x, y, num_classes, batch_size)


def as_keras_dataset(batches: ArrayBatches):
    """``batches`` as a ``keras.utils.PyDataset``, which ``fit`` and ``predict`` take
    on every backend (no workers: batches are made in order, in this process)."""
    return _keras_batches()(batches)


@functools.cache
def _keras_batches():
    import keras

    class KerasBatches(keras.utils.PyDataset):
        def __init__(self, batches: ArrayBatches):
            super().__init__()
            self.batches = batches

        def __len__(self) -> int:
            return len(self.batches)

        def __getitem__(self, index: int):
            return self.batches[index]

    return KerasBatches


class TrainData:
    """The training split; ``epoch(e)`` is that epoch's batches for ``fit``."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        num_classes: int,
        batch_size: int,
        augment: Mapping,
        seed: int,
    ):
        self.x, self.y = x, y
        self.num_classes, self.batch_size, self.seed = num_classes, batch_size, seed
        self.transform = None
        self.augment = dict(augment)
        if crops(augment):
            min_crop, flip = augment["min_crop"], augment["horizontal_flip"]

            def crop(batch_x, batch_seed):
                return crop_flip_batch(
                    batch_x, [batch_seed[0] + CROP_SEED_OFFSET, batch_seed[1]], min_crop, flip
                )

            self.transform, self.augment = crop, {}

    def epoch(self, epoch: int):
        return as_keras_dataset(
            train_batches(
                self.x,
                self.y,
                self.num_classes,
                self.batch_size,
                self.augment,
                self.seed,
                epoch,
                transform=self.transform,
            )
        )
