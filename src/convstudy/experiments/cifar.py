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

from ..files import load_arrays
from ..runtime import configure
from .common import EvalJob, TrainJob, evaluate_and_save, fit_and_save

log = logging.getLogger(__name__)


def train_variant(data_path: str | Path, settings: Mapping, job: TrainJob) -> list[dict]:
    """Train one variant from scratch (or from its resume state); save model and history."""
    configure(job.options)
    from ..models.cnn import build_cnn
    from ..pipeline import featurewise_stats

    data = job.data(data_path)
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
        name=job.name,
    )
    return fit_and_save(model, settings, data, job, augment=settings["augment"])


def evaluate_variant(
    model_path: str | Path,
    data_path: str | Path,
    history_path: str | Path,
    settings: Mapping,
    job: EvalJob,
) -> dict:
    """Test metrics of a trained variant plus what the report needs about its training."""
    configure(job.options)
    return evaluate_and_save(
        model_path,
        load_arrays(data_path),
        history_path,
        job,
        batch_size=256,
        record={"part": "cifar", "settings": dict(settings)},
    )
