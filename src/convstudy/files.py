"""The files every part writes and reads: atomic writes, arrays, JSON, histories, predictions.

Every output is written under a temporary name and renamed into place, so a
failed or killed job leaves no partial file behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

#: Columns of every history.csv (one row per epoch).
HISTORY_FIELDS = (
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "seconds",
    "learning_rate",
)


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place only on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part" + suffix, dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); outputs get the usual umask-based mode
    # so that colleagues on a shared cluster can read them.
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def read_json(path: str | Path):
    with open(path) as fh:
        return json.load(fh)


def save_arrays(path: str | Path, arrays: dict) -> None:
    """Write arrays (and a ``class_names`` list) as an uncompressed .npz, atomically."""
    payload = {k: np.asarray(v) for k, v in arrays.items() if k != "class_names"}
    payload["class_names"] = np.asarray(arrays["class_names"], dtype=str)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **payload)


def load_arrays(path: str | Path) -> dict:
    """Read what :func:`save_arrays` wrote."""
    with np.load(path, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    data["class_names"] = [str(n) for n in data["class_names"]]
    return data


def save_predictions(path: str | Path, probabilities: np.ndarray, labels: np.ndarray) -> None:
    """A model's per-image test predictions, compactly (compressed .npz): the class
    probabilities in float16, the predicted class (the argmax at full precision, so
    that the metrics and this file agree exactly) and the true labels."""
    probabilities = np.asarray(probabilities)
    payload = {
        "probabilities": probabilities.astype(np.float16),
        "predicted": probabilities.argmax(axis=1).astype(np.int16),
        "labels": np.asarray(labels).astype(np.int16),
    }
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **payload)


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """What :func:`save_predictions` wrote."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_history(path: str | Path, history: Sequence[Mapping]) -> None:
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        for row in history:
            writer.writerow({k: row[k] for k in HISTORY_FIELDS})


def read_history(path: str | Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in rows]
