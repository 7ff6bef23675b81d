"""Reading the Caltech-UCSD Birds archives into fixed-size uint8 arrays.

Two canonical layouts:

* CUB-200 (2010): ``images.tgz`` holds ``images/NNN.Class_Name/*.jpg``;
  ``lists.tgz`` holds ``lists/{classes,files,train,test}.txt`` (paths relative
  to ``images/``). The official split is ``train.txt`` / ``test.txt``.
* CUB-200-2011: ``CUB_200_2011.tgz`` holds ``CUB_200_2011/images/NNN.Class/*.jpg``
  and the tables ``images.txt``, ``image_class_labels.txt``,
  ``train_test_split.txt`` and ``classes.txt`` (``<id> <value>`` per line).

The image archive is read as a stream, member by member: every image is
decoded, converted to RGB (greyscale and CMYK JPEGs exist in CUB), resized and
written into its row of an array allocated beforehand. Memory therefore holds
the final arrays plus a few images in flight, never the archive or a second
copy of the arrays. The validation split is drawn from the labels before any
image is decoded, so each image goes straight to its split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import save_arrays, write_json
from .archives import (
    UNREADABLE,
    ArchiveError,
    check_archive,
    member_name,
    open_stream,
    read_members,
    unreadable,
)
from .splits import format_split_table, split_table, stratified_split

log = logging.getLogger(__name__)

#: The splits of the prepared data, in the order they are stored.
SPLITS = ("train", "val", "test")

#: How many decoded images may wait for their row at once (bounds memory).
_IN_FLIGHT = 64


class BadImageError(ArchiveError):
    """An image member that cannot be decoded (corrupt, truncated, not an image)."""


@dataclass
class BirdsIndex:
    """What goes where, known before any image is decoded."""

    class_names: list[str]
    #: Paths relative to the images folder, per split, in row order.
    files: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    #: Archive member name -> (split, row).
    members: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: Prefix of image members inside the image archive.
    image_prefix: str = ""

    def counts(self) -> dict[str, int]:
        return {split: len(self.files[split]) for split in SPLITS}


# --------------------------------------------------------------------------- archives


def read_text_members(archive: str | Path, names: Sequence[str]) -> dict[str, str]:
    """Read small text members of an archive (one forward pass, images skipped)."""
    raw = read_members(archive, names)
    try:
        return {name: data.decode("utf-8") for name, data in raw.items()}
    except UnicodeDecodeError as exc:
        raise unreadable(archive, exc) from None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _display_name(class_dir: str) -> str:
    """``001.Black_footed_Albatross`` -> ``Black_footed_Albatross``."""
    prefix, dot, rest = class_dir.partition(".")
    return rest if dot and prefix.isdigit() else class_dir


def _table(text: str, what: str) -> dict[int, str]:
    """``<id> <value>`` lines as {id: value}."""
    table = {}
    for number, line in enumerate(_lines(text), start=1):
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise ArchiveError(f"{what} line {number}: expected '<id> <value>', got {line!r}")
        table[int(parts[0])] = parts[1]
    return table


def read_lists_2010(lists_archive: str | Path) -> dict:
    """Classes and the official split of CUB-200 (2010) from ``lists.tgz``."""
    names = ["lists/classes.txt", "lists/train.txt", "lists/test.txt"]
    text = read_text_members(lists_archive, names)
    class_dirs = _lines(text["lists/classes.txt"])
    index = {d: i for i, d in enumerate(class_dirs)}
    out = {"class_dirs": class_dirs, "image_prefix": "images/"}
    for split in ("train", "test"):
        files = _lines(text[f"lists/{split}.txt"])
        labels = []
        for path in files:
            class_dir = path.split("/", 1)[0]
            if "/" not in path or class_dir not in index:
                raise ArchiveError(
                    f"{lists_archive}: lists/{split}.txt names {path!r}, whose folder is "
                    "not a class of lists/classes.txt"
                )
            labels.append(index[class_dir])
        out[f"files_{split}"] = files
        out[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
    return out


def read_lists_2011(archive: str | Path) -> dict:
    """Classes and the official split of CUB-200-2011 from its tables."""
    top = "CUB_200_2011"
    names = {
        t: f"{top}/{t}.txt" for t in ("classes", "images", "image_class_labels", "train_test_split")
    }
    text = read_text_members(archive, list(names.values()))
    tables = {t: _table(text[name], name) for t, name in names.items()}
    class_ids = sorted(tables["classes"])
    class_dirs = [tables["classes"][i] for i in class_ids]
    position = {cid: i for i, cid in enumerate(class_ids)}
    out = {"class_dirs": class_dirs, "image_prefix": f"{top}/images/"}
    splits: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    for image_id in sorted(tables["images"]):
        try:
            cls = int(tables["image_class_labels"][image_id])
            is_train = int(tables["train_test_split"][image_id])
        except (KeyError, ValueError):
            raise ArchiveError(
                f"{archive}: image {image_id} has no class or no split entry"
            ) from None
        if cls not in position:
            raise ArchiveError(f"{archive}: image {image_id} has class {cls}, not in classes.txt")
        files, labels = splits["train" if is_train == 1 else "test"]
        files.append(tables["images"][image_id])
        labels.append(position[cls])
    for split, (files, labels) in splits.items():
        out[f"files_{split}"] = files
        out[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
    return out


@dataclass(frozen=True)
class BirdsLayout:
    """How a birds dataset's archives are read: its lists (classes, official split) from
    the archive of role ``lists``, its images from the archive of role ``images``."""

    read_lists: Callable[[str | Path], dict]
    lists: str
    images: str


LAYOUTS = {
    "cub200": BirdsLayout(read_lists_2010, lists="lists", images="images"),
    "cub200_2011": BirdsLayout(read_lists_2011, lists="archive", images="archive"),
}


def read_lists(dataset: str, archives: Mapping[str, str | Path]) -> dict:
    layout = LAYOUTS[dataset]
    return layout.read_lists(archives[layout.lists])


def image_archive(dataset: str, archives: Mapping[str, str | Path]) -> str | Path:
    return archives[LAYOUTS[dataset].images]


# --------------------------------------------------------------------------- split


def make_index(
    lists: Mapping,
    *,
    validation_fraction: float,
    seed: int,
    num_classes: int | None = None,
) -> BirdsIndex:
    """Keep the first ``num_classes`` classes; split a stratified validation set off train.

    The archives list images class by class: taking the tail of the training
    list (Keras' ``validation_split``) would leave the last classes unseen.
    """
    class_dirs = list(lists["class_dirs"])
    k = len(class_dirs) if num_classes is None else num_classes
    if k > len(class_dirs):
        raise ValueError(f"num_classes is {k} but the dataset has {len(class_dirs)} classes")
    files, labels = {}, {}
    for split in ("train", "test"):
        keep = np.flatnonzero(lists[f"y_{split}"] < k)
        files[split] = [lists[f"files_{split}"][i] for i in keep]
        labels[split] = lists[f"y_{split}"][keep]
    missing = sorted(set(range(k)) - set(labels["train"].tolist()))
    if missing:
        raise ValueError(f"classes without training images: {[class_dirs[c] for c in missing]}")
    # seed + 1 as for CIFAR: the split stream is independent of other seeded choices.
    train_idx, val_idx = stratified_split(labels["train"], validation_fraction, seed + 1)
    all_train_files, all_train_labels = files["train"], labels["train"]
    files["train"] = [all_train_files[i] for i in train_idx]
    files["val"] = [all_train_files[i] for i in val_idx]
    labels["train"] = all_train_labels[train_idx].astype(np.int32)
    labels["val"] = all_train_labels[val_idx].astype(np.int32)
    labels["test"] = labels["test"].astype(np.int32)
    prefix = lists["image_prefix"]
    members = {}
    for split in SPLITS:
        for row, path in enumerate(files[split]):
            name = prefix + path
            if name in members:
                raise ArchiveError(f"{path} is listed twice (in {members[name][0]} and {split})")
            members[name] = (split, row)
    return BirdsIndex(
        class_names=[_display_name(d) for d in class_dirs[:k]],
        files=files,
        labels=labels,
        members=members,
        image_prefix=prefix,
    )


# --------------------------------------------------------------------------- images


def decode_image(raw: bytes, size: tuple[int, int], what: str) -> np.ndarray:
    """JPEG (or any Pillow format) bytes -> RGB uint8 array of ``size`` (height, width).

    Greyscale, palette, CMYK and alpha images become RGB. The image is resized
    directly to the target size (no crop), as the study did, with Pillow's
    antialiasing bilinear filter.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    height, width = size
    buffer = io.BytesIO(raw)
    try:
        with Image.open(buffer) as image:
            # JPEG decoding at a reduced scale when the target is much smaller:
            # much faster, and what a bilinear downscale would average away anyway.
            image.draft("RGB", (width, height))
            image = image.convert("RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Pillow names the in-memory buffer it read; the member's name says more.
        reason = str(exc).replace(f" {buffer!r}", "").replace(repr(buffer), "")
        raise BadImageError(f"{what}: cannot decode image ({reason})") from None
    if array.shape != (height, width, 3):
        raise BadImageError(f"{what}: decoded to shape {array.shape}")
    return array


def allocate(index: BirdsIndex, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The final image arrays, one per split, allocated once."""
    return {
        split: np.empty((len(index.files[split]), *size, 3), dtype=np.uint8) for split in SPLITS
    }


def fill_images(
    archive: str | Path,
    index: BirdsIndex,
    images: Mapping[str, np.ndarray],
    *,
    size: tuple[int, int],
    on_bad_image: str = "error",
    threads: int = 1,
) -> list[str]:
    """Decode every listed image of ``archive`` into its row of ``images``.

    Returns the members skipped as undecodable (``on_bad_image: skip``); with
    ``error`` the first bad image stops the run, naming it. Raises when a listed
    image is not in the archive.
    """
    if on_bad_image not in ("error", "skip"):
        raise ValueError(f"on_bad_image must be 'error' or 'skip', not {on_bad_image!r}")
    seen: set[str] = set()
    bad: list[str] = []
    pending = []

    def place(future, name):
        split, row = index.members[name]
        try:
            images[split][row] = future.result()
        except BadImageError as exc:
            if on_bad_image == "error":
                raise BadImageError(
                    f"{exc} [set birds.on_bad_image: skip to leave such images out]"
                ) from None
            log.warning("skipping %s", exc)
            bad.append(name)

    try:
        with open_stream(archive) as tar, ThreadPoolExecutor(max(1, threads)) as pool:
            for member in tar:
                name = member_name(member)
                if name not in index.members or not member.isfile() or name in seen:
                    continue
                seen.add(name)
                raw = tar.extractfile(member).read()
                what = f"{Path(archive).name}:{name}"
                pending.append((pool.submit(decode_image, raw, size, what), name))
                if len(pending) >= _IN_FLIGHT:
                    for future, name in pending[: _IN_FLIGHT // 2]:
                        place(future, name)
                    del pending[: _IN_FLIGHT // 2]
            for future, name in pending:
                place(future, name)
    except BadImageError:
        raise
    except UNREADABLE as exc:
        raise unreadable(archive, exc) from None
    missing = [name for name in index.members if name not in seen]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise ArchiveError(f"{archive}: {len(missing)} listed image(s) not in the archive: {shown}")
    return bad


def drop_rows(index: BirdsIndex, images: dict[str, np.ndarray], bad_members: Sequence[str]) -> None:
    """Remove skipped images from ``index`` and ``images``, moving rows up in place.

    The result is a leading slice of the same buffer: no second copy.
    """
    by_split: dict[str, set[int]] = {split: set() for split in SPLITS}
    for name in bad_members:
        split, row = index.members[name]
        by_split[split].add(row)
    for split, rows in by_split.items():
        if not rows:
            continue
        keep = [r for r in range(len(index.files[split])) if r not in rows]
        for new, old in enumerate(keep):
            if new != old:
                images[split][new] = images[split][old]
        images[split] = images[split][: len(keep)]
        index.files[split] = [index.files[split][r] for r in keep]
        index.labels[split] = index.labels[split][keep]
    index.members = {
        index.image_prefix + path: (split, row)
        for split in SPLITS
        for row, path in enumerate(index.files[split])
    }


def load_birds(
    dataset: str,
    archives: Mapping[str, str | Path],
    *,
    image_size: int | Sequence[int],
    validation_fraction: float,
    seed: int,
    num_classes: int | None = None,
    on_bad_image: str = "error",
    threads: int = 1,
) -> tuple[dict, list[str]]:
    """Read a birds dataset: ``({"x_train", "y_train", ..., "files_*", "class_names"}, skipped)``."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    lists = read_lists(dataset, archives)
    index = make_index(
        lists, validation_fraction=validation_fraction, seed=seed, num_classes=num_classes
    )
    log.info("images to read: %s, classes: %d", index.counts(), len(index.class_names))
    images = allocate(index, size)
    bad = fill_images(
        image_archive(dataset, archives),
        index,
        images,
        size=size,
        on_bad_image=on_bad_image,
        threads=threads,
    )
    if bad:
        drop_rows(index, images, bad)
    data = {"class_names": index.class_names}
    for split in SPLITS:
        data[f"x_{split}"] = images[split]
        data[f"y_{split}"] = index.labels[split]
        data[f"files_{split}"] = np.asarray(index.files[split], dtype=str)
    return data, bad


def birds_table(data: Mapping) -> dict[str, dict[str, int]]:
    return split_table(data["class_names"], {p: data[f"y_{p}"] for p in SPLITS})


def prepare_birds(
    archives: Mapping[str, str | Path],
    *,
    dataset: str,
    checksums: Mapping[str, Mapping],
    image_size: int,
    validation_fraction: float,
    seed: int,
    num_classes: int | None,
    on_bad_image: str,
    threads: int,
    arrays_out: str | Path,
    split_out: str | Path,
) -> dict:
    """Verify the archives, decode and resize every image, split, store uint8 arrays."""
    digests = {
        role: check_archive(path, checksums.get(role) or {}, role)
        for role, path in archives.items()
    }
    began = time.perf_counter()
    data, skipped = load_birds(
        dataset,
        archives,
        image_size=image_size,
        validation_fraction=validation_fraction,
        seed=seed,
        num_classes=num_classes,
        on_bad_image=on_bad_image,
        threads=threads,
    )
    seconds = time.perf_counter() - began
    if skipped:
        log.warning("%d undecodable image(s) skipped (on_bad_image: skip)", len(skipped))
    table = birds_table(data)
    log.info("images per class and split:\n%s", format_split_table(table))
    log.info(
        "decoded and resized %d images in %.1fs",
        table["total"]["train"] + table["total"]["val"] + table["total"]["test"],
        seconds,
    )
    save_arrays(arrays_out, data)
    write_json(
        split_out,
        {
            "dataset": dataset,
            "archive_md5": digests,
            "image_size": image_size,
            "num_classes": len(data["class_names"]),
            "validation_fraction": validation_fraction,
            "seed": seed,
            "skipped_images": skipped,
            "class_names": data["class_names"],
            "per_class": table,
        },
    )
    return table
