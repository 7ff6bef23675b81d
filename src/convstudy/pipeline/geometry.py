"""The geometry of the augmentations in plain NumPy: projective transforms, crops
resized back, flips, drawn per batch from a seed.

Given the same transform parameters, :func:`affine_transform` reproduces
``tf.raw_ops.ImageProjectiveTransformV3`` and :func:`crop_and_resize` reproduces
``tf.image.crop_and_resize``, including their float32 arithmetic and border
conventions (tests compare them pixel for pixel). Drawing parameters
(:func:`draw_transforms`, :func:`draw_boxes`) is kept apart from applying them so
that tests can feed the same parameters to both implementations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .constants import NO_AUGMENT

FILL_MODES = ("NEAREST", "REFLECT", "CONSTANT")
INTERPOLATIONS = ("NEAREST", "BILINEAR")


# --------------------------------------------------------------------------- gathering


def _pixel_view(pixels: np.ndarray) -> np.ndarray:
    """A [N, C] float32 array seen as N opaque pixels, so that one gather index
    moves all C channels at once (about 3x faster than gathering floats)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    return pixels.view(np.dtype((np.void, pixels.shape[1] * 4))).reshape(-1)


def _take_pixels(view: np.ndarray, index: np.ndarray, channels: int) -> np.ndarray:
    """Pixels of ``view`` at ``index`` (any shape), as float32 [*index.shape, C]."""
    return np.take(view, index).view(np.float32).reshape(*index.shape, channels)


# --------------------------------------------------------------------------- affine transform


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """C's std::round (half away from zero), which TF's NEAREST uses; np.round
    rounds half to even and would move pixels on exact .5 coordinates."""
    whole = np.trunc(v)
    # v - whole is exact in floating point, so the tie test is too.
    return whole + np.where(np.abs(v - whole) >= 0.5, np.sign(v), 0).astype(v.dtype)


def _reflect(coord: np.ndarray, length: int) -> np.ndarray:
    """TF's FILL_REFLECT coordinate map ("dcba|abcd|dcba"), step for step in float32.

    The mirror is half a pixel beyond the edge pixel, so points in (-1, 0) and
    (length - 1, length) land outside again and are clamped to the edge pixel.
    """
    if length <= 1:
        return np.zeros_like(coord)
    period = 2 * length
    # Far-away coordinates overflow TF's int64 cast (undefined there); keep ours defined.
    c = np.clip(coord, -(2.0**30), 2.0**30).astype(np.float32)
    f_period = np.float32(period)
    neg = (np.trunc(-c / f_period).astype(np.int64) * period).astype(np.float32) + c
    neg = np.where(neg < -length, neg + f_period, -neg - np.float32(1))
    pos = c - (np.trunc(c / f_period).astype(np.int64) * period).astype(np.float32)
    pos = np.where(pos >= length, (f_period - pos) - np.float32(1), pos)
    c = np.where(c < 0, neg, np.where(c > length - 1, pos, c))
    return np.clip(c, np.float32(0), np.float32(length - 1))


def _map_coordinates(coord: np.ndarray, length: int, fill_mode: str) -> np.ndarray:
    """Bring input coordinates back inside [0, length - 1] as TF's fill mode does
    (CONSTANT leaves them outside: those taps read the fill value)."""
    if fill_mode == "REFLECT":
        return _reflect(coord, length)
    if fill_mode == "NEAREST":
        return np.clip(coord, np.float32(0), np.float32(length - 1))
    return coord


def _tap_index(y: np.ndarray, x: np.ndarray, height: int, width: int, outside: int) -> np.ndarray:
    """Flat pixel index of integral coordinates y, x [B, H, W]; taps outside the
    image point at ``outside`` (the fill pixel)."""
    # Clipping to one step outside keeps huge or NaN coordinates out of int overflow.
    yi = np.clip(np.nan_to_num(y, nan=-1.0), -1, height).astype(np.intp)
    xi = np.clip(np.nan_to_num(x, nan=-1.0), -1, width).astype(np.intp)
    batch = np.arange(y.shape[0]).reshape(-1, 1, 1)
    index = (batch * height + yi) * width + xi
    inside = (yi >= 0) & (yi < height) & (xi >= 0) & (xi < width)
    return np.where(inside, index, outside)


def _input_points(transforms: np.ndarray, height: int, width: int):
    """Input point (x', y') [B, H, W] for every output pixel, in TF's float32 order
    of operations, and where the projective divisor is 0 (a point at infinity)."""
    t = [transforms[:, i, None, None] for i in range(8)]
    ys = np.arange(height, dtype=np.float32)[None, :, None]
    xs = np.arange(width, dtype=np.float32)[None, None, :]
    projection = t[6] * xs + t[7] * ys + np.float32(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        in_x = (t[0] * xs + t[1] * ys + t[2]) / projection
        in_y = (t[3] * xs + t[4] * ys + t[5]) / projection
    # Those pixels take the fill value anyway; a finite stand-in keeps inf out of the maths.
    at_infinity = projection == 0
    return np.where(at_infinity, 0, in_x), np.where(at_infinity, 0, in_y), at_infinity


def affine_transform(
    images: np.ndarray,
    transforms: np.ndarray,
    *,
    interpolation: str,
    fill_mode: str,
    fill_value: float = 0.0,
) -> np.ndarray:
    """NumPy equivalent of ``tf.raw_ops.ImageProjectiveTransformV3`` (output shape
    = input shape), for a float batch [B, H, W, C].

    ``transforms`` is [B, 8] (or [1, 8] for the whole batch): (a0, a1, a2, b0, b1,
    b2, c0, c1) maps output pixel (x, y) to input point ((a0 x + a1 y + a2) / k,
    (b0 x + b1 y + b2) / k) with k = c0 x + c1 y + 1. ``interpolation`` is NEAREST
    or BILINEAR, ``fill_mode`` NEAREST, REFLECT or CONSTANT (either case).

    As in TF: fill modes move the point before interpolating; a bilinear tap
    outside the image reads ``fill_value`` (so CONSTANT blends towards it at the
    border); NEAREST rounds half away from zero; k == 0 gives ``fill_value``.
    """
    interpolation, fill_mode = interpolation.upper(), fill_mode.upper()
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, not {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, not {fill_mode!r}")
    images = np.asarray(images, dtype=np.float32)
    batch, height, width, channels = images.shape
    transforms = np.asarray(transforms, dtype=np.float32).reshape(-1, 8)
    transforms = np.broadcast_to(transforms, (batch, 8))
    in_x, in_y, at_infinity = _input_points(transforms, height, width)
    x = _map_coordinates(in_x, width, fill_mode)
    y = _map_coordinates(in_y, height, fill_mode)

    fill = np.full((1, channels), fill_value, dtype=np.float32)
    view = _pixel_view(np.concatenate([images.reshape(-1, channels), fill]))
    outside = batch * height * width

    def tap(ty, tx):
        return _take_pixels(view, _tap_index(ty, tx, height, width, outside), channels)

    if interpolation == "NEAREST":
        out = tap(_round_half_away(y), _round_half_away(x))
    else:
        y_floor, x_floor = np.floor(y), np.floor(x)
        y_ceil, x_ceil = y_floor + np.float32(1), x_floor + np.float32(1)
        wx0, wx1 = (x_ceil - x)[..., None], (x - x_floor)[..., None]
        wy0, wy1 = (y_ceil - y)[..., None], (y - y_floor)[..., None]
        top = wx0 * tap(y_floor, x_floor) + wx1 * tap(y_floor, x_ceil)
        bottom = wx0 * tap(y_ceil, x_floor) + wx1 * tap(y_ceil, x_ceil)
        out = wy0 * top + wy1 * bottom
    out[at_infinity] = np.float32(fill_value)
    return out


# --------------------------------------------------------------------------- flip/shift/rotate/zoom


def draw_transforms(
    batch: int, height: int, width: int, rng: np.random.Generator, augment: Mapping
) -> tuple[np.ndarray, str]:
    """Random transforms [B, 8] float32 for :func:`affine_transform`, and the
    interpolation they need, with pipeline.augment_batch's geometry.

    Output pixel -> input point: flip, centre, zoom, rotate, un-centre, shift.
    Rotation in degrees, zoom a scale in [1 - z, 1 + z] per axis, shifts a
    fraction of the size rounded (half to even, like tf.round) to whole pixels,
    so flips and shifts alone map pixel centres onto pixel centres (NEAREST,
    exact). All six variables are drawn every time, so the same seed flips the
    same images whatever else is switched on.
    """
    aug = {**NO_AUGMENT, **augment}
    rotation, zoom, shift = aug["rotation"], aug["zoom"], aug["translate"]
    u = rng.random((6, batch))
    flipped = (u[0] < 0.5) if aug["horizontal_flip"] else np.zeros(batch, dtype=bool)
    sign = np.where(flipped, -1.0, 1.0)
    offset = np.where(flipped, width - 1.0, 0.0)
    theta = np.deg2rad(rotation * (2.0 * u[1] - 1.0))
    zx = 1.0 + zoom * (2.0 * u[2] - 1.0)
    zy = 1.0 + zoom * (2.0 * u[3] - 1.0)
    tx = np.round(shift * (2.0 * u[4] - 1.0) * width)
    ty = np.round(shift * (2.0 * u[5] - 1.0) * height)
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    cos, sin = np.cos(theta), np.sin(theta)
    zeros = np.zeros(batch)
    transforms = np.stack(
        [
            cos * zx * sign,
            -sin * zy,
            cos * zx * (offset - cx) + sin * zy * cy + cx + tx,
            sin * zx * sign,
            cos * zy,
            sin * zx * (offset - cx) - cos * zy * cy + cy + ty,
            zeros,
            zeros,
        ],
        axis=1,
    ).astype(np.float32)
    return transforms, "BILINEAR" if (rotation or zoom) else "NEAREST"


def augments(aug: Mapping) -> bool:
    """Whether augmentation settings (NO_AUGMENT filled in) change any image."""
    return bool(aug["horizontal_flip"] or aug["translate"] or aug["rotation"] or aug["zoom"])


def augment_batch(images: np.ndarray, seed: Sequence[int], augment: Mapping) -> np.ndarray:
    """Randomly flip / shift / rotate / zoom a float batch [B, H, W, C].

    ``seed`` is a sequence of non-negative ints (e.g. [seed, epoch * 1_000_003 +
    batch]); the output is a pure function of (images, seed, augment). With no
    augmentation the input comes back as it is; flips alone skip the resampling.
    """
    aug = {**NO_AUGMENT, **augment}
    if not augments(aug):
        return images
    images = np.asarray(images, dtype=np.float32)
    batch, height, width = images.shape[:3]
    rng = np.random.default_rng(seed)
    transforms, interpolation = draw_transforms(batch, height, width, rng, aug)
    if not (aug["translate"] or aug["rotation"] or aug["zoom"]):
        flipped = transforms[:, 0] < 0
        return np.where(flipped[:, None, None, None], images[:, :, ::-1], images)
    return affine_transform(
        images, transforms, interpolation=interpolation, fill_mode=aug["fill_mode"]
    )


# --------------------------------------------------------------------------- crop / mirror / resize


def _sample_positions(low: np.ndarray, high: np.ndarray, length: int, count: int):
    """Where tf.image.crop_and_resize samples along one axis, per box: float32
    positions [B, count] (float32 arithmetic in TF's order), which are inside the
    image, the two neighbouring indices and the interpolation fraction."""
    last = np.float32(length - 1)
    if count > 1:
        scale = (high - low) * last / np.float32(count - 1)
        pos = low[:, None] * last + np.arange(count, dtype=np.float32) * scale[:, None]
    else:
        # TF takes the box centre here, in double precision.
        pos = (0.5 * (low + high).astype(np.float64) * (length - 1)).astype(np.float32)[:, None]
    inside = (pos >= 0) & (pos <= last)
    pos = np.where(inside, pos, np.float32(0))
    below = np.floor(pos)
    return inside, below.astype(np.intp), np.ceil(pos).astype(np.intp), pos - below


def crop_and_resize(
    images: np.ndarray,
    boxes: np.ndarray,
    size: tuple[int, int],
    *,
    extrapolation_value: float = 0.0,
) -> np.ndarray:
    """NumPy equivalent of ``tf.image.crop_and_resize(images, boxes,
    range(B), size)`` (bilinear): box i [y1, x1, y2, x2] (normalised) of image i,
    resampled to ``size``.

    Sample j of n along an axis of length L is at y1 (L - 1) + j (y2 - y1)(L - 1)
    / (n - 1), so y1 > y2 or x1 > x2 mirrors the crop; samples outside the image
    take ``extrapolation_value``. Separable: columns are interpolated for every
    row first, then rows, which is TF's own order of operations per pixel.
    """
    images = np.asarray(images, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    batch, height, width, channels = images.shape
    out_h, out_w = size
    in_y, top, bottom, y_frac = _sample_positions(boxes[:, 0], boxes[:, 2], height, out_h)
    in_x, left, right, x_frac = _sample_positions(boxes[:, 1], boxes[:, 3], width, out_w)

    view = _pixel_view(images.reshape(-1, channels))
    rows = (np.arange(batch)[:, None, None] * height + np.arange(height)[None, :, None]) * width
    left_px = _take_pixels(view, rows + left[:, None, :], channels)
    right_px = _take_pixels(view, rows + right[:, None, :], channels)
    across = left_px + (right_px - left_px) * x_frac[:, None, :, None]

    across = across.reshape(batch, height, out_w * channels)
    picks = np.arange(batch)[:, None]
    upper, lower = across[picks, top], across[picks, bottom]
    out = (upper + (lower - upper) * y_frac[:, :, None]).reshape(batch, out_h, out_w, channels)
    out[~in_y] = np.float32(extrapolation_value)
    out.transpose(0, 2, 1, 3)[~in_x] = np.float32(extrapolation_value)
    return out


def draw_boxes(batch: int, rng: np.random.Generator, min_crop: float, flip: bool) -> np.ndarray:
    """Random crop boxes [B, 4] float32 (y1, x1, y2, x2) as birds.crop_flip_batch
    draws them: square side in [min_crop, 1], uniform offset, and with ``flip``
    half of them mirrored by swapping x1 and x2. All four variables are drawn
    every time, so the same seed mirrors the same images whatever ``min_crop``."""
    u = rng.random((4, batch))
    side = min_crop + (1.0 - min_crop) * u[0] if min_crop < 1.0 else np.ones(batch)
    y0 = u[1] * (1.0 - side)
    x0 = u[2] * (1.0 - side)
    x1 = x0 + side
    if flip:
        mirror = u[3] < 0.5
        x0, x1 = np.where(mirror, x1, x0), np.where(mirror, x0, x1)
    return np.stack([y0, x0, y0 + side, x1], axis=1).astype(np.float32)


def crop_flip_batch(
    images: np.ndarray, seed: Sequence[int], min_crop: float, flip: bool
) -> np.ndarray:
    """Random square crops (side in [min_crop, 1] of the image) resized back to
    H x W, and random horizontal flips, for a float batch [B, H, W, C]; a pure
    function of ``seed`` (a sequence of non-negative ints)."""
    if min_crop >= 1.0 and not flip:
        return images
    images = np.asarray(images, dtype=np.float32)
    boxes = draw_boxes(len(images), np.random.default_rng(seed), min_crop, flip)
    return crop_and_resize(images, boxes, images.shape[1:3])
