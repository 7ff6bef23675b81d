"""tf.data pipeline (TensorFlow backend): deterministic per (seed, epoch), correct
augmentation geometry."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_images

tf = pytest.importorskip("tensorflow")
from convstudy.pipeline import featurewise_stats  # noqa: E402
from convstudy.pipeline.tfdata import (  # noqa: E402
    augment_batch,
    eval_dataset,
    train_dataset,
)

FLIP = {"horizontal_flip": True}


def _epoch(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_epoch_is_a_pure_function_of_seed_and_epoch():
    x, y = random_images(20), np.arange(20) % 4
    aug = {"horizontal_flip": True, "translate": 0.25}
    a = _epoch(train_dataset(x, y, 4, 6, aug, seed=3, epoch=2))
    b = _epoch(train_dataset(x, y, 4, 6, aug, seed=3, epoch=2))
    c = _epoch(train_dataset(x, y, 4, 6, aug, seed=3, epoch=3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])  # another epoch, another order


def test_every_image_once_per_epoch_with_a_partial_last_batch():
    x, y = random_images(10), np.arange(10)
    batches = list(train_dataset(x, y, 10, 4, {}, seed=1, epoch=0))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    xs, ys = _epoch(batches)
    labels = ys.argmax(axis=1)
    assert sorted(labels.tolist()) == list(range(10))
    # Without augmentation the images are the originals, in the shuffled order.
    assert np.array_equal(xs, x[labels].astype(np.float32))
    assert xs.dtype == np.float32 and ys.shape == (10, 10)


def test_flip_mirrors_left_right_or_leaves_alone():
    x = tf.constant(random_images(32).astype(np.float32))
    out = augment_batch(x, tf.constant([1, 2], tf.int64), FLIP).numpy()
    flipped = [np.array_equal(o, xi[:, ::-1]) for o, xi in zip(out, x.numpy(), strict=True)]
    same = [np.array_equal(o, xi) for o, xi in zip(out, x.numpy(), strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert 4 < sum(flipped) < 28  # about half


def test_translation_moves_whole_pixels():
    x = np.zeros((64, 9, 9, 1), np.float32)
    x[:, 4, 4, 0] = 1.0  # one bright pixel in the centre
    out = augment_batch(
        tf.constant(x),
        tf.constant([5, 6], tf.int64),
        {"translate": 2 / 9, "fill_mode": "constant"},
    ).numpy()
    positions = set()
    for image in out:
        assert image.sum() == pytest.approx(1.0)  # moved, not blurred
        r, c = np.argwhere(image[..., 0] == 1.0)[0]
        positions.add((r - 4, c - 4))
    assert all(abs(dr) <= 2 and abs(dc) <= 2 for dr, dc in positions)
    assert len(positions) > 5


def test_flip_and_translation_compose_exactly():
    x = np.zeros((64, 8, 8, 1), np.float32)
    x[:, 2, 1, 0] = 1.0
    out = augment_batch(
        tf.constant(x),
        tf.constant([9, 9], tf.int64),
        {"horizontal_flip": True, "translate": 0.125, "fill_mode": "constant"},
    ).numpy()
    columns = {int(np.argwhere(o[..., 0] == 1.0)[0][1]) for o in out}
    # Column 1 stays near 1 (shift of <=1) or, flipped, near 6.
    assert columns <= {0, 1, 2, 5, 6, 7} and columns & {0, 1, 2} and columns & {5, 6, 7}


def test_rotation_and_zoom_keep_shape_and_range():
    x = tf.constant(random_images(8, 16).astype(np.float32))
    aug = {"rotation": 25.0, "zoom": 0.2, "fill_mode": "nearest"}
    a = augment_batch(x, tf.constant([1, 1], tf.int64), aug).numpy()
    b = augment_batch(x, tf.constant([1, 1], tf.int64), aug).numpy()
    assert a.shape == x.shape and np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 255
    assert not np.array_equal(a, x.numpy())


def test_no_augmentation_is_identity():
    x = tf.constant(random_images(4).astype(np.float32))
    out = augment_batch(x, tf.constant([0, 0], tf.int64), {"horizontal_flip": False})
    assert np.array_equal(out.numpy(), x.numpy())


def test_eval_dataset_keeps_order():
    x, y = random_images(7), np.arange(7) % 3
    xs, ys = _epoch(eval_dataset(x, y, 3, batch_size=3))
    assert np.array_equal(xs, x.astype(np.float32)) and np.array_equal(ys.argmax(1), y)
    only_x = np.concatenate([b.numpy() for b in eval_dataset(x, None, 3, batch_size=4)])
    assert np.array_equal(only_x, x.astype(np.float32))


def test_featurewise_stats_match_numpy():
    x = random_images(50, 8)
    mean, var = featurewise_stats(x, chunk=7)
    scaled = x / 255.0
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(var, scaled.var(axis=(0, 1, 2)), rtol=1e-8)
