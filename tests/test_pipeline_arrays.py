"""NumPy pipeline: same guarantees as the tf.data one, and the same pixels as
TensorFlow's kernels for the same transform parameters.

Only the equivalence tests need TensorFlow; they skip without it, the rest run
on any Keras backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_images
from convstudy.pipeline.arrays import eval_batches, train_batches
from convstudy.pipeline.constants import EPOCH_STRIDE
from convstudy.pipeline.geometry import (
    affine_transform,
    augment_batch,
    crop_and_resize,
    crop_flip_batch,
    draw_boxes,
    draw_transforms,
)

FLIP = {"horizontal_flip": True}


def _epoch(batches):
    xs, ys = zip(*batches, strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def _shift(dx, dy=0.0, batch=1):
    """Transforms that read input (x + dx, y + dy) for output (x, y)."""
    return np.tile(np.array([[1, 0, dx, 0, 1, dy, 0, 0]], np.float32), (batch, 1))


# --------------------------------------------------------------------------- batches


def test_epoch_is_a_pure_function_of_seed_and_epoch():
    x, y = random_images(20), np.arange(20) % 4
    aug = {"horizontal_flip": True, "translate": 0.25}
    a = _epoch(train_batches(x, y, 4, 6, aug, seed=3, epoch=2))
    b = _epoch(train_batches(x, y, 4, 6, aug, seed=3, epoch=2))
    c = _epoch(train_batches(x, y, 4, 6, aug, seed=3, epoch=3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])  # another epoch, another order
    # A batch is the same whenever it is asked for (resume mid-epoch, Keras' workers).
    fresh = train_batches(x, y, 4, 6, aug, seed=3, epoch=2)
    late = fresh[2]
    assert np.array_equal(late[0], a[0][12:18]) and np.array_equal(late[1], a[1][12:18])


def test_every_image_once_per_epoch_with_a_partial_last_batch():
    x, y = random_images(10), np.arange(10)
    batches = train_batches(x, y, 10, 4, {}, seed=1, epoch=0)
    assert len(batches) == 3 and [len(b[0]) for b in batches] == [4, 4, 2]
    xs, ys = _epoch(batches)
    labels = ys.argmax(axis=1)
    assert labels.tolist() == np.random.default_rng([1, 0]).permutation(10).tolist()
    # Without augmentation the images are the originals, in the shuffled order.
    assert np.array_equal(xs, x[labels].astype(np.float32))
    assert xs.dtype == np.float32 and ys.dtype == np.float32 and ys.shape == (10, 10)
    assert np.array_equal(ys.sum(axis=1), np.ones(10))
    with pytest.raises(IndexError):
        batches[3]


def test_transform_hook_gets_each_batch_with_its_seed():
    x, y = random_images(10), np.arange(10) % 2
    seen = []

    def hook(batch_x, batch_seed):
        seen.append(list(batch_seed))
        return batch_x + 1.0

    xs, _ = _epoch(train_batches(x, y, 2, 4, {}, seed=5, epoch=7, transform=hook))
    assert seen == [[5, 7 * EPOCH_STRIDE + i] for i in range(3)]
    order = np.random.default_rng([5, 7]).permutation(10)
    assert np.array_equal(xs, x[order].astype(np.float32) + 1.0)
    with pytest.raises(ValueError, match="not both"):
        train_batches(x, y, 2, 4, FLIP, seed=5, epoch=7, transform=hook)


def test_crop_flip_plugs_in_as_the_transform():
    x, y = random_images(6, 12), np.arange(6) % 3

    def crops(batch_x, batch_seed):
        return crop_flip_batch(batch_x, [batch_seed[0] + 17, batch_seed[1]], 0.5, True)

    a = _epoch(train_batches(x, y, 3, 4, {}, seed=2, epoch=1, transform=crops))
    b = _epoch(train_batches(x, y, 3, 4, {}, seed=2, epoch=1, transform=crops))
    assert a[0].shape == (6, 12, 12, 3) and np.array_equal(a[0], b[0])
    plain = _epoch(train_batches(x, y, 3, 4, {}, seed=2, epoch=1))
    assert np.array_equal(a[1], plain[1]) and not np.array_equal(a[0], plain[0])


def test_eval_batches_keep_order():
    x, y = random_images(7), np.arange(7) % 3
    batches = eval_batches(x, y, 3, batch_size=3)
    xs, ys = _epoch(batches)
    assert [len(b[0]) for b in batches] == [3, 3, 1]
    assert np.array_equal(xs, x.astype(np.float32)) and np.array_equal(ys.argmax(1), y)
    only_x = np.concatenate(list(eval_batches(x, None, 3, batch_size=4)))
    assert only_x.dtype == np.float32 and np.array_equal(only_x, x.astype(np.float32))


# --------------------------------------------------------------------------- augment_batch


def test_flip_mirrors_left_right_or_leaves_alone():
    x = random_images(32).astype(np.float32)
    out = augment_batch(x, [1, 2], FLIP)
    flipped = [np.array_equal(o, xi[:, ::-1]) for o, xi in zip(out, x, strict=True)]
    same = [np.array_equal(o, xi) for o, xi in zip(out, x, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert 4 < sum(flipped) < 28  # about half


def test_translation_moves_whole_pixels():
    x = np.zeros((64, 9, 9, 1), np.float32)
    x[:, 4, 4, 0] = 1.0  # one bright pixel in the centre
    out = augment_batch(x, [5, 6], {"translate": 2 / 9, "fill_mode": "constant"})
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
    aug = {"horizontal_flip": True, "translate": 0.125, "fill_mode": "constant"}
    out = augment_batch(x, [9, 9], aug)
    assert np.array_equal(out.sum(axis=(1, 2, 3)), np.ones(64))
    columns = {int(np.argwhere(o[..., 0] == 1.0)[0][1]) for o in out}
    # Column 1 stays near 1 (shift of <=1) or, flipped, near 6.
    assert columns <= {0, 1, 2, 5, 6, 7} and columns & {0, 1, 2} and columns & {5, 6, 7}


def test_rotation_and_zoom_keep_shape_and_range():
    x = random_images(8, 16).astype(np.float32)
    aug = {"rotation": 25.0, "zoom": 0.2, "fill_mode": "nearest"}
    a = augment_batch(x, [1, 1], aug)
    b = augment_batch(x, [1, 1], aug)
    c = augment_batch(x, [1, 2], aug)
    assert a.shape == x.shape and a.dtype == np.float32 and np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 255
    assert not np.array_equal(a, x) and not np.array_equal(a, c)


def test_same_seed_flips_the_same_images_whatever_else_is_on():
    t_flip, interp_flip = draw_transforms(40, 8, 8, np.random.default_rng([4, 2]), FLIP)
    t_all, interp_all = draw_transforms(
        40, 8, 8, np.random.default_rng([4, 2]), {**FLIP, "rotation": 10.0, "zoom": 0.1}
    )
    assert (interp_flip, interp_all) == ("NEAREST", "BILINEAR")
    assert np.array_equal(t_flip[:, 0] < 0, t_all[:, 0] < 0)


def test_no_augmentation_is_identity():
    x = random_images(4).astype(np.float32)
    assert augment_batch(x, [0, 0], {"horizontal_flip": False}) is x
    assert crop_flip_batch(x, [0, 0], 1.0, False) is x


# --------------------------------------------------------------------------- TF's conventions


def test_nearest_rounds_half_away_from_zero():
    x = np.arange(1, 9, dtype=np.float32).reshape(1, 1, 8, 1)
    out = affine_transform(
        x, _shift(-0.5), interpolation="nearest", fill_mode="constant", fill_value=-1.0
    )
    # x - 0.5 rounds up to x for x >= 1 (half to even would give 0, 2, 2, 4, ...);
    # -0.5 rounds to -1, outside.
    assert out[0, 0, :, 0].tolist() == [-1, 2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("fill_mode", "dx", "expected"),
    [
        ("reflect", -3, "cbaab"),
        ("reflect", 3, "deedc"),
        ("reflect", -13, "cbaab"),  # a whole period (2 x width) further
        ("reflect", 13, "deedc"),
        ("nearest", -3, "aaaab"),
        ("nearest", 3, "deeee"),
        ("constant", -3, "fffab"),
        ("constant", 3, "defff"),
    ],
)
def test_fill_modes_map_outside_points_like_tf(fill_mode, dx, expected):
    letters = "abcdef"  # f: the fill value
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 5, 1)
    for interpolation in ("NEAREST", "BILINEAR"):
        out = affine_transform(
            x, _shift(dx), interpolation=interpolation, fill_mode=fill_mode.upper(), fill_value=5.0
        )
        assert "".join(letters[int(v)] for v in out[0, 0, :, 0]) == expected


def test_bilinear_blends_towards_the_fill_value_at_the_border():
    x = np.ones((1, 3, 4, 1), np.float32)
    constant, nearest = (
        affine_transform(x, _shift(-0.5), interpolation="BILINEAR", fill_mode=mode, fill_value=10.0)
        for mode in ("CONSTANT", "NEAREST")
    )
    assert np.allclose(constant[0, :, 0, 0], 5.5) and np.allclose(constant[0, :, 1:], 1.0)
    assert np.allclose(nearest, 1.0)


def test_points_at_infinity_take_the_fill_value():
    x = np.ones((2, 4, 6, 1), np.float32)
    t = np.array([[1, 0, 0, 0, 1, 0, -0.25, 0]] * 2, np.float32)  # k = 1 - x/4, 0 at x = 4
    out = affine_transform(x, t, interpolation="BILINEAR", fill_mode="NEAREST", fill_value=3.0)
    assert np.all(out[:, :, 4] == 3.0) and np.all(out[:, :, :4] == 1.0)


def test_affine_transform_rejects_unknown_modes():
    x = np.zeros((1, 2, 2, 1), np.float32)
    with pytest.raises(ValueError, match="fill_mode"):
        affine_transform(x, _shift(0), interpolation="NEAREST", fill_mode="wrap-around")
    with pytest.raises(ValueError, match="interpolation"):
        affine_transform(x, _shift(0), interpolation="bicubic", fill_mode="NEAREST")


# --------------------------------------------------------------------------- crops


def test_whole_box_is_identity_and_swapped_x_mirrors():
    x = random_images(3, 9).astype(np.float32)
    whole = np.array([[0, 0, 1, 1]] * 3, np.float32)
    assert np.array_equal(crop_and_resize(x, whole, (9, 9)), x)
    assert np.array_equal(crop_and_resize(x, whole[:, [0, 3, 2, 1]], (9, 9)), x[:, :, ::-1])


def test_crop_samples_where_tf_does():
    # A ramp image: value = 10 * row + column, so bilinear samples are exact positions.
    rows, cols = np.mgrid[0:11, 0:21].astype(np.float32)
    x = (10 * rows + cols)[None, :, :, None]
    box = np.array([[0.1, 0.25, 0.6, 0.75]], np.float32)  # rows 1..6, columns 5..15
    out = crop_and_resize(x, box, (6, 3))[0, :, :, 0]
    expected = 10 * np.linspace(1, 6, 6)[:, None] + np.array([5.0, 10.0, 15.0])
    np.testing.assert_allclose(out, expected, atol=1e-4)
    # Samples outside the image take the extrapolation value, row or column alike.
    box = np.array([[-0.5, 0, 1, 1.5]], np.float32)  # rows -5, 2.5, 10; columns 0, 15, 30
    outside = crop_and_resize(x, box, (3, 3), extrapolation_value=-7)
    assert outside[0, 0].tolist() == [[-7.0]] * 3 and outside[0, :, 2, 0].tolist() == [-7.0] * 3
    assert outside[0, 1, 0, 0] == pytest.approx(25.0)  # row 2.5, column 0


def test_boxes_are_squares_in_the_image_and_mirror_about_half():
    boxes = draw_boxes(200, np.random.default_rng(0), 0.6, True)
    side = boxes[:, 2] - boxes[:, 0]
    np.testing.assert_allclose(np.abs(boxes[:, 3] - boxes[:, 1]), side, atol=1e-6)
    assert side.min() >= 0.6 - 1e-6 and side.max() <= 1.0 and side.std() > 0.05
    assert boxes.min() >= 0.0 and boxes.max() <= 1.0
    assert 60 < np.sum(boxes[:, 1] > boxes[:, 3]) < 140
    unmirrored = draw_boxes(50, np.random.default_rng(0), 0.6, False)
    assert np.all(unmirrored[:, 1] < unmirrored[:, 3])


def test_crop_flip_without_crops_mirrors_or_leaves_alone():
    x = random_images(32, 10).astype(np.float32)
    out = crop_flip_batch(x, [3, 4], 1.0, True)
    flipped = [np.array_equal(o, xi[:, ::-1]) for o, xi in zip(out, x, strict=True)]
    same = [np.array_equal(o, xi) for o, xi in zip(out, x, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True)) and 4 < sum(flipped) < 28
    crops = crop_flip_batch(x, [3, 4], 0.5, True)
    assert crops.shape == x.shape and np.array_equal(crops, crop_flip_batch(x, [3, 4], 0.5, True))
    assert crops.min() >= 0 and crops.max() <= 255 and not np.array_equal(crops, out)


# --------------------------------------------------------------------------- same pixels as TF

AUGMENTS = {
    "flip": FLIP,
    "translate+flip": {"horizontal_flip": True, "translate": 0.3, "fill_mode": "constant"},
    "translate-reflect": {"translate": 0.6, "fill_mode": "reflect"},
    **{
        f"rotation+zoom-{mode}": {"rotation": 40.0, "zoom": 0.4, "fill_mode": mode}
        for mode in ("nearest", "reflect", "constant")
    },
    "everything": {
        "horizontal_flip": True,
        "translate": 0.5,
        "rotation": 90.0,
        "zoom": 0.9,
        "fill_mode": "reflect",
    },
}


def _tf_transform(tf, images, transforms, interpolation, fill_mode, fill_value=0.0):
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=images.shape[1:3],
        fill_value=fill_value,
        interpolation=interpolation,
        fill_mode=fill_mode.upper(),
    ).numpy()


@pytest.mark.parametrize("name", list(AUGMENTS))
def test_same_transforms_give_tf_pixels(name):
    tf = pytest.importorskip("tensorflow")
    aug = AUGMENTS[name]
    images = np.random.default_rng(1).uniform(0, 255, (24, 13, 11, 3)).astype(np.float32)
    seed = [7, 3]
    transforms, interpolation = draw_transforms(24, 13, 11, np.random.default_rng(seed), aug)
    expected = _tf_transform(tf, images, transforms, interpolation, aug.get("fill_mode", "nearest"))
    ours = augment_batch(images, seed, aug)  # the flip-only fast path included
    if interpolation == "NEAREST":
        assert np.array_equal(ours, expected)
    else:
        np.testing.assert_allclose(ours, expected, atol=1e-3, rtol=0)
    assert not np.array_equal(expected, images)


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect", "constant"])
@pytest.mark.parametrize("interpolation", ["NEAREST", "BILINEAR"])
def test_projective_transforms_and_ties_give_tf_pixels(interpolation, fill_mode):
    tf = pytest.importorskip("tensorflow")
    images = np.random.default_rng(2).uniform(0, 255, (4, 9, 12, 2)).astype(np.float32)
    transforms = np.array(
        [
            [1.1, 0.2, -2.0, 0.1, 0.9, 1.0, 0.01, -0.03],  # projective
            [1.0, 0.0, -0.5, 0.0, 1.0, 2.5, 0.0, 0.0],  # rounding ties
            [-1.0, 0.0, 30.5, 0.0, 1.0, -19.5, 0.0, 0.0],  # several periods away
            [0.5, -0.5, 3.0, 0.5, 0.5, -4.0, -0.125, 0.0],  # k = 0 at x = 8
        ],
        np.float32,
    )
    expected = _tf_transform(tf, images, transforms, interpolation, fill_mode, fill_value=9.0)
    ours = affine_transform(
        images, transforms, interpolation=interpolation, fill_mode=fill_mode, fill_value=9.0
    )
    if interpolation == "NEAREST":
        assert np.array_equal(ours, expected)
    else:
        np.testing.assert_allclose(ours, expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize("flip", [False, True])
def test_same_boxes_give_tf_crops(flip):
    tf = pytest.importorskip("tensorflow")
    images = np.random.default_rng(3).uniform(0, 255, (16, 23, 19, 3)).astype(np.float32)
    boxes = draw_boxes(16, np.random.default_rng(4), 0.3, flip)
    assert np.any(boxes[:, 1] > boxes[:, 3]) == flip
    for box, size in ((boxes, (23, 19)), (boxes * 1.6 - 0.3, (7, 30)), (boxes, (1, 1))):
        expected = tf.image.crop_and_resize(
            images, box, tf.range(16), size, extrapolation_value=2.0
        )
        ours = crop_and_resize(images, box, size, extrapolation_value=2.0)
        np.testing.assert_allclose(ours, expected.numpy(), atol=1e-3, rtol=0)
    seed = [11, 5]
    expected = tf.image.crop_and_resize(
        images, draw_boxes(16, np.random.default_rng(seed), 0.3, flip), tf.range(16), (23, 19)
    )
    ours = crop_flip_batch(images, seed, 0.3, flip)
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-3, rtol=0)
