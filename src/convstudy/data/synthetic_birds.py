"""Synthetic Caltech-UCSD Birds archives in the canonical 2010 and 2011 layouts.

Real JPEG files of varied sizes and aspect ratios, most RGB, some greyscale and
one CMYK (all three occur in CUB), listed class by class as in the real
archives. Each class has its own colours and shape (as the synthetic CIFAR
images), so a classifier can learn them even on random ResNet50 features.
Read by exactly the code that reads the real archives.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .synthetic import synthetic_image, write_tar_gz

#: The first CUB-200 classes (their real folder names); more are numbered.
CUB_CLASSES = [
    "Black_footed_Albatross",
    "Laysan_Albatross",
    "Sooty_Albatross",
    "Groove_billed_Ani",
    "Crested_Auklet",
    "Least_Auklet",
    "Parakeet_Auklet",
    "Rhinoceros_Auklet",
    "Brewer_Blackbird",
    "Red_winged_Blackbird",
    "Rusty_Blackbird",
    "Yellow_headed_Blackbird",
    "Bobolink",
    "Indigo_Bunting",
    "Lazuli_Bunting",
    "Painted_Bunting",
    "Cardinal",
    "Spotted_Catbird",
    "Gray_Catbird",
    "Yellow_breasted_Chat",
]

#: Every how many images one is written as greyscale.
GREY_EVERY = 7


def class_dirs(num_classes: int) -> list[str]:
    names = [
        CUB_CLASSES[i] if i < len(CUB_CLASSES) else f"Synthetic_Bird_{i + 1}"
        for i in range(num_classes)
    ]
    return [f"{i + 1:03d}.{name}" for i, name in enumerate(names)]


def _jpeg(image: np.ndarray, rng: np.random.Generator, mode: str) -> bytes:
    from PIL import Image

    pil = Image.fromarray(image)
    # Real photos are not square: stretch to a random size and aspect ratio,
    # which the reader must resize back.
    height = int(rng.integers(48, 112))
    width = int(rng.integers(48, 112))
    pil = pil.resize((width, height), Image.Resampling.BILINEAR).convert(mode)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _images(num_classes: int, train_per_class: int, test_per_class: int, seed: int):
    """Per class, in order: (class_index, file name, is_train, jpeg bytes)."""
    rng = np.random.default_rng(seed)
    dirs = class_dirs(num_classes)
    out = []
    count = 0
    for c, d in enumerate(dirs):
        name = d.split(".", 1)[1]
        for i in range(train_per_class + test_per_class):
            square = synthetic_image(rng, c, num_classes, 96, noise=20.0)
            if count == 3:
                mode = "CMYK"
            elif count % GREY_EVERY == 5:
                mode = "L"
            else:
                mode = "RGB"
            out.append(
                (c, f"{d}/{name}_{i:04d}.jpg", i < train_per_class, _jpeg(square, rng, mode))
            )
            count += 1
    return dirs, out


def _corrupt(data: bytes) -> bytes:
    # A truncated JPEG: what an interrupted copy leaves behind.
    return data[: len(data) // 3]


def write_synthetic_birds(
    out_dir: str | Path,
    dataset: str = "cub200",
    *,
    num_classes: int = 5,
    train_per_class: int = 6,
    test_per_class: int = 4,
    seed: int = 0,
    corrupt: int = 0,
) -> dict:
    """Write the archives of ``dataset`` into ``out_dir`` under their canonical names.

    ``cub200``: ``images.tgz`` and ``lists.tgz``; ``cub200_2011``: ``CUB_200_2011.tgz``.
    ``corrupt`` truncates that many training images of the first class (tests).
    Returns the counts, the archive paths and the corrupted files.
    """
    out_dir = Path(out_dir)
    dirs, images = _images(num_classes, train_per_class, test_per_class, seed)
    corrupted = [images[i][1] for i in range(min(corrupt, train_per_class))]
    data = {rel: (_corrupt(jpg) if rel in corrupted else jpg) for _, rel, _, jpg in images}
    train = [rel for _, rel, is_train, _ in images if is_train]
    test = [rel for _, rel, is_train, _ in images if not is_train]
    if dataset == "cub200":
        paths = {"images": out_dir / "images.tgz", "lists": out_dir / "lists.tgz"}
        images_members = [(f"images/{rel}", data[rel]) for _, rel, _, _ in images]
        write_tar_gz(paths["images"], images_members, ".tgz")
        lists = {
            "classes": dirs,
            "files": [rel for _, rel, _, _ in images],
            "train": train,
            "test": test,
        }
        write_tar_gz(
            paths["lists"],
            [(f"lists/{k}.txt", ("\n".join(v) + "\n").encode()) for k, v in lists.items()],
            ".tgz",
        )
    elif dataset == "cub200_2011":
        top = "CUB_200_2011"
        paths = {"archive": out_dir / "CUB_200_2011.tgz"}
        ids = range(1, len(images) + 1)
        tables = {
            "classes": [f"{c + 1} {d}" for c, d in enumerate(dirs)],
            "images": [f"{i} {rel}" for i, (_, rel, _, _) in zip(ids, images, strict=True)],
            "image_class_labels": [
                f"{i} {c + 1}" for i, (c, _, _, _) in zip(ids, images, strict=True)
            ],
            "train_test_split": [
                f"{i} {int(t)}" for i, (_, _, t, _) in zip(ids, images, strict=True)
            ],
        }
        members = [(f"{top}/images/{rel}", data[rel]) for _, rel, _, _ in images]
        # Tables after the images: the reader must not depend on member order.
        members += [(f"{top}/{k}.txt", ("\n".join(v) + "\n").encode()) for k, v in tables.items()]
        write_tar_gz(paths["archive"], members, ".tgz")
    else:
        raise ValueError(f"unknown birds dataset {dataset!r}")
    return {
        "classes": num_classes,
        "train": len(train),
        "test": len(test),
        "archives": {k: str(v) for k, v in paths.items()},
        "corrupted": corrupted,
    }
