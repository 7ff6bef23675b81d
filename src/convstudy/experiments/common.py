"""What every training and evaluation step shares, whatever the part.

Training: the training split shuffled and augmented per (seed, epoch), the
validation split in order, both as the Keras backend in use takes them, then
:func:`convstudy.training.train_and_save` (resumable per epoch). Evaluation:
the saved model's predictions on the test split, the metrics of
:mod:`convstudy.evaluate`, and what the report needs about the training run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import runtime

log = logging.getLogger(__name__)


def start(threads: int, seed: int, training: Mapping) -> dict:
    """Set up the job's runtime (first thing: it chooses the Keras backend)."""
    return runtime.configure(
        threads,
        seed,
        backend=training.get("backend", "tensorflow"),
        mixed_precision=training.get("mixed_precision", False),
    )


def fit_and_save(
    model,
    settings: Mapping,
    data: Mapping[str, np.ndarray],
    *,
    name: str,
    seed: int,
    threads: int,
    training: Mapping,
    model_out: str | Path,
    history_out: str | Path,
    resume_dir: str | Path | None,
    augment: Mapping | None = None,
    starts_from: Sequence[np.ndarray] = (),
    val_batch_size: int = 256,
) -> list[dict]:
    """Train ``model`` on ``data`` (``x_train``, ``y_train``, ``x_val``, ``y_val``,
    ``class_names``) for its settings; save the model and the history.

    ``augment``: the variant's augmentation (none by default); ``starts_from``:
    arrays that the run depends on besides its data (a head's trained weights),
    part of the resume fingerprint.
    """
    from ..pipeline import eval_data, steps_per_epoch, train_data
    from ..training import train_and_save

    num_classes = len(data["class_names"])
    batch = settings["batch_size"]
    x_train, y_train = data["x_train"], data["y_train"]
    steps = steps_per_epoch(len(x_train), batch)
    log.info("%s: %d parameters, %d training steps per epoch", name, model.count_params(), steps)
    train = train_data(x_train, y_train, num_classes, batch, augment or {}, seed, threads)
    val = eval_data(data["x_val"], data["y_val"], num_classes, val_batch_size, threads)
    return train_and_save(
        model,
        settings,
        train.epoch,
        val,
        steps_per_epoch=steps,
        name=name,
        seed=seed,
        training=training,
        run_data=(x_train, y_train, *starts_from),
        model_out=model_out,
        history_out=history_out,
        resume_dir=resume_dir,
    )


def evaluate_and_save(
    model_path: str | Path,
    data: Mapping[str, np.ndarray],
    history_path: str | Path,
    *,
    threads: int,
    batch_size: int,
    metrics_out: str | Path,
    record: Mapping,
) -> dict:
    """Test metrics of a saved model on ``data`` (``x_test``, ``y_test``,
    ``class_names``), with the summary of its training history; ``record`` (part,
    experiment, replicate, seed, settings...) goes into the metrics file as is.

    The runtime must be configured (:func:`start`).
    """
    import keras

    from ..evaluate import classification_metrics, history_summary
    from ..io import read_history, write_json
    from ..models import trainable_parameters
    from ..pipeline import eval_data

    model = keras.models.load_model(model_path)
    # A loaded model predicts through XLA ("auto"), which on a CPU costs TensorFlow
    # far more time and memory than plain graph execution (5x for ResNet50).
    model.compile(jit_compile=runtime.compiled(False))
    class_names = data["class_names"]
    batches = eval_data(data["x_test"], None, len(class_names), batch_size, threads)
    probabilities = model.predict(batches, verbose=0)
    test = classification_metrics(probabilities, data["y_test"], class_names)
    metrics = {
        **record,
        "parameters": int(model.count_params()),
        "trainable_parameters": trainable_parameters(model),
        "test": test,
        **history_summary(read_history(history_path)),
        "class_names": class_names,
    }
    write_json(metrics_out, metrics)
    log.info(
        "%s: test accuracy %.4f, top-5 %.4f, loss %.4f",
        record.get("experiment", model_path),
        test["accuracy"],
        test["top5_accuracy"],
        test["loss"],
    )
    return metrics
