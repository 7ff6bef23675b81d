"""tf.data input pipelines with augmentation inside the graph (TensorFlow backend).

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

from .constants import CROP_SEED_OFFSET, EPOCH_STRIDE, NO_AUGMENT, crops


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
    theta = (
        _uniform([batch], seeds[1], -rotation, rotation) * (math.pi / 180.0) if rotation else zeros
    )
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


def crop_flip_batch(images, seed, min_crop: float, flip: bool):
    """Random square crops (side in [min_crop, 1] of the image) resized back, and
    random horizontal flips, for a float batch [B, H, W, C]; stateless in ``seed``.

    One ``crop_and_resize`` call: a box whose x coordinates are swapped is a
    mirrored crop.
    """
    if min_crop >= 1.0 and not flip:
        return images
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)

    def uniform(s, low, high):
        return tf.random.stateless_uniform([batch], seed=s, minval=low, maxval=high)

    side = uniform(seeds[0], min_crop, 1.0) if min_crop < 1.0 else tf.ones([batch])
    y0 = uniform(seeds[1], 0.0, 1.0) * (1.0 - side)
    x0 = uniform(seeds[2], 0.0, 1.0) * (1.0 - side)
    x1 = x0 + side
    if flip:
        mirror = uniform(seeds[3], 0.0, 1.0) < 0.5
        x0, x1 = tf.where(mirror, x1, x0), tf.where(mirror, x0, x1)
    boxes = tf.stack([y0, x0, y0 + side, x1], axis=1)
    height, width = images.shape[1], images.shape[2]
    return tf.image.crop_and_resize(images, boxes, tf.range(batch), (height, width))


def _augment(images, seed: int, epoch, index, augment: Mapping):
    """One batch's augmentation: crops (fine-tuning) or projective transforms."""
    step = tf.cast(epoch, tf.int64) * EPOCH_STRIDE + index
    if crops(augment):
        batch_seed = tf.stack([tf.constant(seed + CROP_SEED_OFFSET, tf.int64), step])
        return crop_flip_batch(images, batch_seed, augment["min_crop"], augment["horizontal_flip"])
    return augment_batch(images, tf.stack([tf.constant(seed, tf.int64), step]), augment)


def threading(threads: int) -> tf.data.Options:
    """tf.data options whose thread pool matches the job's ``threads:``."""
    opts = tf.data.Options()
    opts.threading.private_threadpool_size = max(1, int(threads))
    opts.deterministic = True
    return opts


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

    The last batch is partial, as with Keras' own ``fit`` on arrays. ``x`` may be a
    tensor already (converted once for every epoch).
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
        batch_x = _augment(batch_x, seed, epoch, index, augment)
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


class TrainData:
    """The training split as one tensor for all epochs; ``epoch(e)`` is that epoch's
    dataset (converting the array every epoch would copy it every epoch)."""

    def __init__(self, x, y, num_classes, batch_size, augment, seed, threads):
        self.images = tf.convert_to_tensor(x)
        self.labels = np.asarray(y)
        self.args = (num_classes, batch_size, dict(augment), seed)
        self.options = threading(threads)

    def epoch(self, epoch: int) -> tf.data.Dataset:
        num_classes, batch_size, augment, seed = self.args
        return train_dataset(
            self.images, self.labels, num_classes, batch_size, augment, seed, epoch, self.options
        )
