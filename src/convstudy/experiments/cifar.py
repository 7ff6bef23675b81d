"""The CIFAR part, step by step: prepare the subset, train a variant, evaluate it.

Each function is what one rule runs; the scripts in ``scripts/`` only unpack
Snakemake's objects and call these.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..data.archives import verify_md5
from ..data.cifar import make_subset, read_cifar, subset_table
from ..data.splits import format_split_table
from ..io import load_arrays, read_history, save_arrays, write_json

log = logging.getLogger(__name__)


def prepare(
    archive: str | Path,
    *,
    dataset: str,
    md5: str | None,
    num_classes: int,
    validation_fraction: float,
    seed: int,
    max_train_per_class: int | None,
    arrays_out: str | Path,
    split_out: str | Path,
) -> dict:
    """Check and read the archive, keep the first classes, split, store uint8 arrays."""
    actual_md5 = verify_md5(archive, md5)
    log.info("%s: md5 %s%s", archive, actual_md5, " (verified)" if md5 else "")
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
    from .. import runtime

    runtime.configure(threads, seed, mixed_precision=training.get("mixed_precision", False))
    from ..models.cnn import build_cnn
    from ..pipeline import eval_dataset, featurewise_stats, steps_per_epoch, train_dataset
    from ..training import train_and_save

    data = load_arrays(data_path)
    num_classes = len(data["class_names"])
    x_train, y_train = data["x_train"], data["y_train"]
    mean = variance = None
    if settings["normalize"]:
        mean, variance = featurewise_stats(x_train)
        log.info("featurewise mean %s, std %s (training split)", mean.round(4), np.sqrt(variance).round(4))
    model = build_cnn(
        settings["architecture"],
        x_train.shape[1:],
        num_classes,
        mean=None if mean is None else mean.tolist(),
        variance=None if variance is None else variance.tolist(),
        name=name,
    )
    batch = settings["batch_size"]
    steps = steps_per_epoch(len(x_train), batch)
    log.info("%s: %d parameters, %d training steps per epoch", name, model.count_params(), steps)
    options = runtime.tf_data_options(threads)
    val = eval_dataset(data["x_val"], data["y_val"], num_classes, options=options)
    return train_and_save(
        model,
        settings,
        lambda epoch: train_dataset(
            x_train, y_train, num_classes, batch, settings["augment"], seed, epoch, options
        ),
        val,
        steps_per_epoch=steps,
        name=name,
        seed=seed,
        training=training,
        run_data=(x_train, y_train),
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
    metrics_out: str | Path,
) -> dict:
    """Test metrics of a trained variant plus what the report needs about its training."""
    from .. import runtime

    runtime.configure(threads, seed)
    import keras

    from ..evaluate import classification_metrics, history_summary
    from ..pipeline import eval_dataset

    data = load_arrays(data_path)
    model = keras.models.load_model(model_path)
    # A loaded model predicts through XLA ("auto"), which on a CPU costs far more
    # time and memory than plain graph execution.
    model.compile(jit_compile=False)
    class_names = data["class_names"]
    ds = eval_dataset(data["x_test"], None, len(class_names), options=runtime.tf_data_options(threads))
    probabilities = model.predict(ds, verbose=0)
    test = classification_metrics(probabilities, data["y_test"], class_names)
    history = read_history(history_path)
    metrics = {
        "part": "cifar",
        "experiment": name,
        "replicate": replicate,
        "seed": seed,
        "parameters": int(model.count_params()),
        "test": test,
        **history_summary(history),
        "settings": dict(settings),
        "class_names": class_names,
    }
    write_json(metrics_out, metrics)
    log.info(
        "%s: test accuracy %.4f, top-5 %.4f, loss %.4f",
        name,
        test["accuracy"],
        test["top5_accuracy"],
        test["loss"],
    )
    return metrics

