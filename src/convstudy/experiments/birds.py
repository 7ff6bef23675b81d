"""The birds part's model steps: extract ResNet50 features once, train classifier
heads on the cached features, fine-tune ResNet50 with a trained head, evaluate.

Each function is what one rule runs (their configuration is resolved by
:mod:`convstudy.config` while the Snakefile is parsed; the data preparation is
:func:`convstudy.data.birds.prepare_birds`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

from ..files import load_arrays
from ..logs import Progress
from ..runtime import RunOptions, configure
from .common import EvalJob, TrainJob, evaluate_and_save, fit_and_save

log = logging.getLogger(__name__)


def extract_features(
    data_path: str | Path,
    *,
    weights: str | None,
    spatial: bool,
    options: RunOptions,
    batch_size: int,
    pooled_out: str | Path,
    spatial_out: str | Path | None,
) -> dict:
    """Run the frozen ResNet50 once over train/val/test; cache pooled features
    (float32) and, when a head needs them, the last spatial maps (float16).

    Arrays are allocated once and filled batch by batch.
    """
    configure(options)
    import numpy as np

    from ..files import save_arrays
    from ..models.resnet import build_backbone, build_extractor
    from ..models.spec import FEATURE_DIM

    data = load_arrays(data_path)
    shape = data["x_train"].shape[1:]
    backbone = build_backbone(weights, shape)
    extractor = build_extractor(backbone, shape, spatial)
    map_shape = tuple(backbone.output.shape[1:])
    log.info(
        "ResNet50 (weights: %s) on %s images -> pooled %d%s",
        weights,
        shape,
        FEATURE_DIM,
        f", maps {map_shape}" if spatial else "",
    )
    pooled = {"class_names": data["class_names"]}
    maps = {"class_names": data["class_names"]} if spatial else None
    timing = {}
    for split in ("train", "val", "test"):
        x = data[f"x_{split}"]
        n = len(x)
        pooled[f"x_{split}"] = np.empty((n, FEATURE_DIM), dtype=np.float32)
        pooled[f"y_{split}"] = data[f"y_{split}"]
        if spatial:
            maps[f"x_{split}"] = np.empty((n, *map_shape), dtype=np.float16)
            maps[f"y_{split}"] = data[f"y_{split}"]
        began = time.perf_counter()
        progress = Progress(f"features of {split}", n, "images", logger=log)
        for first in range(0, n, batch_size):
            progress.update(first)
            out = extractor.predict_on_batch(x[first : first + batch_size])
            if spatial:
                pooled[f"x_{split}"][first : first + batch_size] = np.asarray(out[0])
                maps[f"x_{split}"][first : first + batch_size] = np.asarray(out[1])
            else:
                pooled[f"x_{split}"][first : first + batch_size] = np.asarray(out)
        seconds = time.perf_counter() - began
        timing[split] = {"images": n, "seconds": round(seconds, 2)}
        log.info(
            "%s: %d images in %.1fs (%.1f images/s)", split, n, seconds, n / max(seconds, 1e-9)
        )
    save_arrays(pooled_out, pooled)
    if spatial:
        save_arrays(spatial_out, maps)
    return timing


def train_head(features_path: str | Path, settings: Mapping, job: TrainJob) -> list[dict]:
    """Train one head on cached features (the backbone never runs here)."""
    configure(job.options)
    from ..models.heads import build_head

    data = job.data(features_path)
    model = build_head(settings, data["x_train"].shape[1:], len(data["class_names"]), name=job.name)
    log.info("%s: a head on features %s", job.name, data["x_train"].shape[1:])
    return fit_and_save(model, settings, data, job)


def finetune(
    data_path: str | Path,
    head_path: str | Path,
    settings: Mapping,
    job: TrainJob,
    *,
    weights: str | None,
) -> list[dict]:
    """Stage 2 of fine-tuning: ResNet50 + the head trained on its features (stage 1),
    end to end, from stage ``unfreeze`` up, on augmented images (crops and flips)."""
    configure(job.options)
    from ..models import load_model, trainable_parameters
    from ..models.resnet import build_backbone, build_finetune_model

    data = job.data(data_path)
    shape = data["x_train"].shape[1:]
    head = load_model(head_path)
    backbone = build_backbone(weights, shape)
    model = build_finetune_model(backbone, head, shape, settings["unfreeze"], name=job.name)
    log.info(
        "%s: head %s on ResNet50 from %s up: %d of %d parameters trainable",
        job.name,
        head_path,
        settings["unfreeze"],
        trainable_parameters(model),
        model.count_params(),
    )
    return fit_and_save(
        model,
        settings,
        data,
        job,
        augment=settings["augment"],
        starts_from=head.get_weights(),
        val_batch_size=settings["batch_size"],
    )


def evaluate(
    model_path: str | Path,
    data_path: str | Path,
    history_path: str | Path,
    settings: Mapping,
    job: EvalJob,
    *,
    kind: str,
    batch_size: int = 64,
) -> dict:
    """Test metrics of a head (on cached test features) or a fine-tuned model (on images)."""
    configure(job.options)
    from ..models import resnet  # noqa: F401  (registers CaffePreprocess for loading)

    record = {"part": "birds", "kind": kind, "settings": dict(settings)}
    if kind == "finetune":
        record["head"] = settings["head"]
    return evaluate_and_save(
        model_path, load_arrays(data_path), history_path, job, batch_size=batch_size, record=record
    )
