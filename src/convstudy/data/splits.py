"""Seeded, stratified splits shared by the CIFAR and birds parts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so that every class gives ``round(fraction * n_class)`` to the second part.

    Both index arrays come back sorted (the archive order is kept); each class
    keeps at least one example on either side.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    first, second = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        if len(idx) < 2:
            raise ValueError(f"class {cls} has {len(idx)} example(s): too few to split")
        n_second = min(max(int(round(fraction * len(idx))), 1), len(idx) - 1)
        perm = rng.permutation(idx)
        second.append(perm[:n_second])
        first.append(perm[n_second:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def resplit(data: dict, validation_fraction: float, seed: int) -> dict:
    """``data`` with its training and validation parts drawn anew from their union, with
    ``seed`` (the stream of :func:`stratified_split` that the data preparation used,
    ``seed + 1``, for a split of the same size per class): a replicate's own split
    (``replicate_split``). The arrays may be images or cached features, in the same
    order: a head and the fine-tuning that starts from it get the same split."""
    x = np.concatenate([data["x_train"], data["x_val"]])
    y = np.concatenate([data["y_train"], data["y_val"]])
    train, val = stratified_split(y, validation_fraction, seed + 1)
    return {**data, "x_train": x[train], "y_train": y[train], "x_val": x[val], "y_val": y[val]}


def cap_per_class(labels: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Sorted indices keeping at most ``cap`` randomly chosen examples of each class."""
    labels = np.asarray(labels)
    if cap is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == cls))[:cap] for cls in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def split_table(
    class_names: Sequence[str], parts: dict[str, np.ndarray]
) -> dict[str, dict[str, int]]:
    """Examples per class and part: ``{class: {part: count}}`` plus a ``total`` row."""
    table = {}
    for c, name in enumerate(class_names):
        table[name] = {part: int(np.sum(y == c)) for part, y in parts.items()}
    table["total"] = {part: int(len(y)) for part, y in parts.items()}
    return table


def format_split_table(table: dict[str, dict[str, int]]) -> str:
    parts = list(next(iter(table.values())))
    width = max(len(name) for name in table)
    lines = [f"{'class':<{width}}  " + "  ".join(f"{p:>6}" for p in parts)]
    for name, row in table.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{row[p]:>6}" for p in parts))
    return "\n".join(lines)
