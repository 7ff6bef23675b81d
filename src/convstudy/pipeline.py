"""tf.data input pipelines with augmentation inside the graph.

Every random choice is a stateless function of (seed, epoch, batch), so an epoch
sees the same order and the same augmented images whether training ran straight
through or resumed after a kill. Augmentation works on whole batches: one
projective-transform kernel per batch instead of a Python call per image, which
is most of the speed-up over the study's ``ImageDataGenerator``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

NO_AUGMENT = {
    "horizontal_flip": False,
    "translate": 0.0,
    "rotation": 0.0,
    "zoom": 0.0,
    "fill_mode": "nearest",
}


def _uniform(shape, seed, low, high):
    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, augment: Mapping) -> tf.Tensor:
    """Randomly flip / shift / rotate / zoom a float batch [B, H, W, C].

    ``seed`` is a shape-[2] integer tensor; the same seed gives the same output.
    Geometry follows ImageDataGenerator: rotation in degrees, zoom as a scale
    range [1 - zoom, 1 + zoom], shifts as a fraction of the size (rounded to
    whole pixels, so a pure shift moves pixels without interpolating them).
    """
    aug = {**NO_AUGMENT, **augment}
    flip, shift = aug["horizontal_flip"], aug["translate"]
    rotation, zoom = aug["rotation"], aug["zoom"]
    if not (flip or shift or rotation or zoom):
        return images
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=5)
    batch = tf.shape(images)[0]
    if flip and not (shift or rotation or zoom):
        coin = _uniform([batch, 1, 1, 1], seeds[0], 0.0, 1.0) < 0.5
        return tf.where(coin, tf.reverse(images, axis=[2]), images)

    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    ones = tf.ones([batch])
    zeros = tf.zeros([batch])
    if flip:
        flipped = _uniform([batch], seeds[0], 0.0, 1.0) < 0.5
        sign = tf.where(flipped, -ones, ones)
        offset = tf.where(flipped, (width - 1.0) * ones, zeros)
    else:
        sign, offset = ones, zeros
    theta = _uniform([batch], seeds[1], -rotation, rotation) * (math.pi / 180.0) if rotation else zeros
    if zoom:
        zx = _uniform([batch], seeds[2], 1.0 - zoom, 1.0 + zoom)
        zy = _uniform([batch], tf.reverse(seeds[2], [0]), 1.0 - zoom, 1.0 + zoom)
    else:
        zx = zy = ones
    if shift:
        tx = tf.round(_uniform([batch], seeds[3], -shift, shift) * width)
        ty = tf.round(_uniform([batch], seeds[4], -shift, shift) * height)
    else:
        tx = ty = zeros
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    cos, sin = tf.cos(theta), tf.sin(theta)
    # Output pixel -> input pixel: flip, centre, zoom, rotate, un-centre, shift.
    a0 = cos * zx * sign
    a1 = -sin * zy
    a2 = cos * zx * (offset - cx) + sin * zy * cy + cx + tx
    b0 = sin * zx * sign
    b1 = cos * zy
    b2 = sin * zx * (offset - cx) - cos * zy * cy + cy + ty
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR" if (rotation or zoom) else "NEAREST",
        fill_mode=aug["fill_mode"].upper(),
    )


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    batch_size: int,
    augment: Mapping,
    seed: int,
    epoch: int,
    options: tf.data.Options | None = None,
) -> tf.data.Dataset:
    """One epoch of shuffled, augmented, one-hot batches; a pure function of (seed, epoch).

    The last batch is partial, as with Keras' own ``fit`` on arrays.
    """
    n = len(x)
    images = tf.convert_to_tensor(x)
    labels = tf.convert_to_tensor(np.asarray(y, dtype=np.int32))
    order = tf.random.experimental.stateless_shuffle(
        tf.range(n, dtype=tf.int32), seed=tf.constant([seed, epoch], tf.int64)
    )
    starts = tf.range(0, n, batch_size, dtype=tf.int32)

    def make_batch(index, start):
        idx = order[start : start + batch_size]
        batch_x = tf.cast(tf.gather(images, idx), tf.float32)
        batch_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64) * 1_000_003 + index])
        batch_x = augment_batch(batch_x, batch_seed, augment)
        batch_y = tf.one_hot(tf.gather(labels, idx), num_classes)
        return batch_x, batch_y

    ds = tf.data.Dataset.from_tensor_slices(starts).enumerate()
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds.with_options(options) if options is not None else ds


def eval_dataset(
    x: np.ndarray,
    y: np.ndarray | None,
    num_classes: int,
    batch_size: int = 256,
    options: tf.data.Options | None = None,
) -> tf.data.Dataset:
    """Batches in order, no augmentation (validation, test, feature extraction)."""
    images = tf.convert_to_tensor(x)

    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
        ds = ds.map(lambda b: tf.cast(b, tf.float32))
    else:
        ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(y, dtype=np.int32)))
        ds = ds.batch(batch_size).map(
            lambda b, lab: (tf.cast(b, tf.float32), tf.one_hot(lab, num_classes))
        )
    ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds.with_options(options) if options is not None else ds


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
