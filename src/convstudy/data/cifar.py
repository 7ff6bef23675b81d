"""Reading the canonical CIFAR "python version" archives and making the study's subset.

The archives hold Python-2 pickles with bytes keys; each image row is 3072 bytes:
1024 red, 1024 green, 1024 blue values, row-major.
"""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import save_arrays, write_json
from .archives import ArchiveError, check_archive, read_members
from .splits import cap_per_class, format_split_table, split_table, stratified_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CifarLayout:
    top: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    label_key: bytes
    names_key: bytes


LAYOUTS = {
    "cifar100": CifarLayout(
        top="cifar-100-python",
        train=("train",),
        test=("test",),
        meta="meta",
        label_key=b"fine_labels",
        names_key=b"fine_label_names",
    ),
    "cifar10": CifarLayout(
        top="cifar-10-batches-py",
        train=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test=("test_batch",),
        meta="batches.meta",
        label_key=b"labels",
        names_key=b"label_names",
    ),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and numpy arrays only: an archive cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Python 3 writes bytes into protocol-2 pickles through codecs.encode.
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data archive")


def _load_pickle(raw: bytes, what: str) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # any failure here means a damaged member
        raise ArchiveError(f"{what}: not a readable CIFAR pickle ({exc})") from None
    if not isinstance(obj, dict):
        raise ArchiveError(f"{what}: expected a dict, found {type(obj).__name__}")
    return obj


def _batch_arrays(batch: dict, layout: CifarLayout, what: str) -> tuple[np.ndarray, np.ndarray]:
    for key in (b"data", layout.label_key):
        if key not in batch:
            raise ArchiveError(f"{what}: no {key.decode()} entry")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[layout.label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ArchiveError(f"{what}: data is {data.dtype} {data.shape}, expected uint8 (n, 3072)")
    if labels.shape != (data.shape[0],):
        raise ArchiveError(f"{what}: {len(labels)} labels for {data.shape[0]} images")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_cifar(archive: str | Path, dataset: str) -> dict:
    """Read a canonical archive: ``{"x_train", "y_train", "x_test", "y_test", "class_names"}``."""
    layout = LAYOUTS[dataset]
    member = {n: f"{layout.top}/{n}" for n in (*layout.train, *layout.test, layout.meta)}
    raw = read_members(archive, list(member.values()))
    meta = _load_pickle(raw[member[layout.meta]], member[layout.meta])
    if layout.names_key not in meta:
        raise ArchiveError(f"{member[layout.meta]}: no {layout.names_key.decode()} entry")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[layout.names_key]]
    out = {"class_names": names}
    for part, members in (("train", layout.train), ("test", layout.test)):
        xs, ys = [], []
        for m in members:
            x, y = _batch_arrays(_load_pickle(raw[member[m]], member[m]), layout, member[m])
            xs.append(x)
            ys.append(y)
        x, y = np.concatenate(xs), np.concatenate(ys)
        if y.min(initial=0) < 0 or y.max(initial=0) >= len(names):
            raise ArchiveError(f"{archive}: {part} labels outside 0..{len(names) - 1}")
        out[f"x_{part}"], out[f"y_{part}"] = x, y
    return out


def make_subset(
    data: dict,
    num_classes: int,
    validation_fraction: float,
    seed: int,
    max_train_per_class: int | None = None,
) -> dict:
    """Keep classes 0..num_classes-1 and split a stratified validation set off the training part."""
    available = len(data["class_names"])
    if num_classes > available:
        raise ValueError(f"num_classes is {num_classes} but the archive has {available} classes")
    keep_train = np.flatnonzero(data["y_train"] < num_classes)
    keep_test = np.flatnonzero(data["y_test"] < num_classes)
    y_all = data["y_train"][keep_train]
    keep_train = keep_train[cap_per_class(y_all, max_train_per_class, seed)]
    y_all = data["y_train"][keep_train]
    # A different stream from the cap above, so changing the cap does not reshuffle the split.
    train_idx, val_idx = stratified_split(y_all, validation_fraction, seed + 1)
    subset = {
        "x_train": data["x_train"][keep_train[train_idx]],
        "y_train": y_all[train_idx],
        "x_val": data["x_train"][keep_train[val_idx]],
        "y_val": y_all[val_idx],
        "x_test": data["x_test"][keep_test],
        "y_test": data["y_test"][keep_test],
        "class_names": list(data["class_names"][:num_classes]),
    }
    for part in ("train", "val", "test"):
        subset[f"y_{part}"] = subset[f"y_{part}"].astype(np.int32)
    return subset


def subset_table(subset: dict) -> dict[str, dict[str, int]]:
    return split_table(
        subset["class_names"],
        {p: subset[f"y_{p}"] for p in ("train", "val", "test")},
    )


def prepare_cifar(
    archive: str | Path,
    *,
    dataset: str,
    checksums: Mapping[str, str | None],
    num_classes: int,
    validation_fraction: float,
    seed: int,
    max_train_per_class: int | None,
    arrays_out: str | Path,
    split_out: str | Path,
) -> dict:
    """Check and read the archive, keep the first classes, split, store uint8 arrays.

    ``checksums``: the ``md5`` and ``sha256`` to verify (None: not checked).
    """
    actual_md5 = check_archive(archive, checksums)
    data = read_cifar(archive, dataset)
    subset = make_subset(data, num_classes, validation_fraction, seed, max_train_per_class)
    table = subset_table(subset)
    log.info("images per class and split:\n%s", format_split_table(table))
    save_arrays(arrays_out, subset)
    write_json(
        split_out,
        {
            "dataset": dataset,
            "archive_md5": actual_md5,
            "num_classes": num_classes,
            "validation_fraction": validation_fraction,
            "seed": seed,
            "image_shape": list(subset["x_train"].shape[1:]),
            "class_names": subset["class_names"],
            "per_class": table,
        },
    )
    return table
