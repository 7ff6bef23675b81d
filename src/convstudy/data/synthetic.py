"""Synthetic stand-ins for the real archives, in exactly their canonical layouts.

The real CIFAR and CUB archives cannot be downloaded everywhere (tests, offline
demos, this project's CI). These writers produce archives that the real loading
code reads unchanged, with images whose class is learnable: each class has its
own colour scheme and shape, drawn at a random place and size over noise.
"""

from __future__ import annotations

import colorsys
import gzip
import io
import pickle
import tarfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..files import atomic_path
from .cifar import LAYOUTS

CIFAR100_FINE = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
]
CIFAR100_COARSE = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
]
CIFAR10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]

SHAPES = ("square", "disc", "ring", "bar", "cross")


def _class_colours(cls: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background colours (0..255) of a class, spread around the hue circle."""
    hue = (cls * 0.618034) % 1.0
    fg = np.array(colorsys.hsv_to_rgb(hue, 0.85, 0.95)) * 255
    bg = np.array(colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.35, 0.35 + 0.3 * (cls % 3) / 2)) * 255
    return fg, bg


def synthetic_image(
    rng: np.random.Generator, cls: int, num_classes: int, size: int, noise: float = 28.0
) -> np.ndarray:
    """One HxWx3 uint8 image of class ``cls``: its shape, in its colours, over noise."""
    fg, bg = _class_colours(cls, num_classes)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    radius = size * rng.uniform(0.22, 0.36)
    cy, cx = rng.uniform(radius * 0.8, size - radius * 0.8, size=2)
    dy, dx = np.abs(yy - cy), np.abs(xx - cx)
    shape = SHAPES[cls % len(SHAPES)]
    if shape == "square":
        mask = (dy < radius) & (dx < radius)
    elif shape == "disc":
        mask = dy**2 + dx**2 < radius**2
    elif shape == "ring":
        d2 = dy**2 + dx**2
        mask = (d2 < radius**2) & (d2 > (0.55 * radius) ** 2)
    elif shape == "bar":
        mask = (dy < radius * 0.35) & (dx < radius * 1.2)
    else:
        mask = ((dy < radius * 0.3) & (dx < radius)) | ((dx < radius * 0.3) & (dy < radius))
    image = np.where(mask[..., None], fg, bg) + rng.normal(0.0, noise, size=(size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def synthetic_images(labels: np.ndarray, num_classes: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([synthetic_image(rng, int(c), num_classes, size) for c in labels])


def _balanced_labels(num_classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    # Shuffled like the real archives, which are not ordered by class.
    return rng.permutation(np.repeat(np.arange(num_classes), per_class))


def pickled(obj) -> bytes:
    """A member's bytes as the real archives store them: a protocol-2 pickle."""
    return pickle.dumps(obj, protocol=2)


def write_tar_gz(path: str | Path, members: Iterable[tuple[str, bytes]], suffix: str) -> None:
    """A gzipped tar of ``(name, bytes)`` members, written atomically. Fixed
    timestamps and no file name in the gzip header: the same members give the same
    bytes (and md5)."""
    with (
        atomic_path(path, suffix=suffix) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def _cifar_rows(images: np.ndarray) -> np.ndarray:
    # R(1024) G(1024) B(1024) per row, as in the real batches.
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1).copy()


def write_synthetic_cifar(
    path: str | Path,
    dataset: str = "cifar100",
    train_per_class: int = 20,
    test_per_class: int = 5,
    seed: int = 0,
) -> dict:
    """Write a ``cifar-100-python.tar.gz`` or ``cifar-10-python.tar.gz`` look-alike.

    Same members, pickle protocol, bytes keys and dtypes as the real archive; all
    classes of the real dataset, ``train_per_class``/``test_per_class`` images each.
    Returns the image counts.
    """
    layout = LAYOUTS[dataset]
    names = CIFAR100_FINE if dataset == "cifar100" else CIFAR10_NAMES
    n = len(names)
    rng = np.random.default_rng(seed)
    y_train = _balanced_labels(n, train_per_class, rng)
    y_test = _balanced_labels(n, test_per_class, rng)
    x_train = _cifar_rows(synthetic_images(y_train, n, 32, seed + 1))
    x_test = _cifar_rows(synthetic_images(y_test, n, 32, seed + 2))

    def filenames(prefix, count):
        return [f"{prefix}_s_{i:06d}.png".encode() for i in range(count)]

    def cifar100_members():
        for member, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
            yield (
                f"{layout.top}/{member}",
                pickled(
                    {
                        b"filenames": filenames(member, len(y)),
                        b"batch_label": f"{member}ing batch 1 of 1".encode(),
                        b"fine_labels": y.tolist(),
                        b"coarse_labels": (y % len(CIFAR100_COARSE)).tolist(),
                        b"data": x,
                    }
                ),
            )
        yield (
            f"{layout.top}/meta",
            pickled(
                {
                    b"fine_label_names": [s.encode() for s in CIFAR100_FINE],
                    b"coarse_label_names": [s.encode() for s in CIFAR100_COARSE],
                }
            ),
        )

    def cifar10_members():
        parts = np.array_split(np.arange(len(y_train)), len(layout.train))
        for b, idx in enumerate(parts, start=1):
            yield (
                f"{layout.top}/data_batch_{b}",
                pickled(
                    {
                        b"batch_label": f"training batch {b} of 5".encode(),
                        b"labels": y_train[idx].tolist(),
                        b"data": x_train[idx],
                        b"filenames": filenames(f"train{b}", len(idx)),
                    }
                ),
            )
        yield (
            f"{layout.top}/test_batch",
            pickled(
                {
                    b"batch_label": b"testing batch 1 of 1",
                    b"labels": y_test.tolist(),
                    b"data": x_test,
                    b"filenames": filenames("test", len(y_test)),
                }
            ),
        )
        yield (
            f"{layout.top}/batches.meta",
            pickled(
                {
                    b"num_cases_per_batch": int(np.ceil(len(y_train) / 5)),
                    b"label_names": [s.encode() for s in CIFAR10_NAMES],
                    b"num_vis": 3072,
                }
            ),
        )

    members = cifar100_members() if dataset == "cifar100" else cifar10_members()
    write_tar_gz(path, members, ".tar.gz")
    return {"train": int(len(y_train)), "test": int(len(y_test)), "classes": n}
