"""The CIFAR part's model steps: train a variant, evaluate it.

Each function is what one rule runs; the scripts in ``scripts/`` only unpack
Snakemake's objects and call these. The data preparation is
:func:`convstudy.data.cifar.prepare_cifar`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..io import load_arrays
from .common import evaluate_and_save, fit_and_save, start

log = logging.getLogger(__name__)


def train_variant(
    data_path: str | Path,
    settings: Mapping,
    *,
    name: str,
    seed: int,
    threads: int,
    training: Mapping,
    model_out: str | Path,
    history_out: str | Path,
    resume_dir: str | Path | None,
) -> list[dict]:
    """Train one variant from scratch (or from its resume state); save model and history."""
    start(threads, seed, training)
    from ..models.cnn import build_cnn
    from ..pipeline import featurewise_stats

    data = load_arrays(data_path)
    x_train = data["x_train"]
    mean = variance = None
    if settings["normalize"]:
        mean, variance = featurewise_stats(x_train)
        log.info(
            "featurewise mean %s, std %s (training split)",
            mean.round(4),
            np.sqrt(variance).round(4),
        )
    model = build_cnn(
        settings["architecture"],
        x_train.shape[1:],
        len(data["class_names"]),
        mean=None if mean is None else mean.tolist(),
        variance=None if variance is None else variance.tolist(),
        name=name,
    )
    return fit_and_save(
        model,
        settings,
        data,
        name=name,
        seed=seed,
        threads=threads,
        training=training,
        augment=settings["augment"],
        model_out=model_out,
        history_out=history_out,
        resume_dir=resume_dir,
    )


def evaluate_variant(
    model_path: str | Path,
    data_path: str | Path,
    history_path: str | Path,
    *,
    name: str,
    settings: Mapping,
    threads: int,
    seed: int,
    replicate: int = 0,
    training: Mapping | None = None,
    metrics_out: str | Path,
) -> dict:
    """Test metrics of a trained variant plus what the report needs about its training."""
    info = start(threads, seed, training or {})
    return evaluate_and_save(
        model_path,
        load_arrays(data_path),
        history_path,
        threads=threads,
        batch_size=256,
        metrics_out=metrics_out,
        record={
            "part": "cifar",
            "experiment": name,
            "replicate": replicate,
            "seed": seed,
            "backend": info["backend"],
            "settings": dict(settings),
        },
    )
