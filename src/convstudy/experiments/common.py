"""What every training and evaluation step shares, whatever the part.

Training: the training split shuffled and augmented per (seed, epoch), the
validation split in order, both as the job's Keras backend takes them, then
:func:`convstudy.training.train_and_save` (resumable per epoch). Evaluation:
the saved model's predictions on the test split, the metrics of
:mod:`convstudy.evaluate`, and what the report needs about the training run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import load_arrays
from ..runtime import RunOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainJob:
    """What a training rule asks of its job: the run (experiment, replicate, its split),
    how it runs (:class:`RunOptions`: seed, backend, threads...) and where the model, its
    history and its resume state go."""

    name: str
    options: RunOptions
    model_out: str | Path
    history_out: str | Path
    resume_dir: str | Path | None = None
    replicate: int = 0
    #: The replicate's own split (``seed``, ``validation_fraction``), or None: the one
    #: drawn while preparing the data.
    split: Mapping | None = None

    @classmethod
    def from_snakemake(cls, snakemake, name: str) -> TrainJob:
        p = snakemake.params
        return cls(
            name=name,
            options=RunOptions.from_snakemake(snakemake),
            model_out=snakemake.output.model,
            history_out=snakemake.output.history,
            resume_dir=p.resume_dir,
            replicate=int(snakemake.wildcards.rep),
            split=p.split,
        )

    def data(self, path: str | Path) -> dict:
        """The arrays at ``path`` (images or features), split as this replicate trains."""
        from ..data.splits import resplit

        data = load_arrays(path)
        if self.split is None:
            return data
        log.info("%s: a split of its own (seed %d)", self.label, self.split["seed"])
        return resplit(data, self.split["validation_fraction"], self.split["seed"])

    @property
    def label(self) -> str:
        """How the job's log lines name it: parallel replicates' lines stay apart."""
        return f"{self.name} rep{self.replicate}"


@dataclass(frozen=True)
class EvalJob:
    """What an evaluation rule asks of its job: the run (experiment, replicate), how it
    runs (:class:`RunOptions`), where the metrics and predictions go, and what the
    metrics record of the run's making."""

    name: str
    options: RunOptions
    metrics_out: str | Path
    predictions_out: str | Path | None = None
    replicate: int = 0
    #: The training job's record (what it ran with and its provenance), and the code
    #: digest of this evaluation: both go into the metrics.
    trained: str | Path | None = None
    code: str | None = None

    @classmethod
    def from_snakemake(cls, snakemake, name: str) -> EvalJob:
        return cls(
            name=name,
            options=RunOptions.from_snakemake(snakemake),
            metrics_out=snakemake.output.metrics,
            predictions_out=snakemake.output.predictions,
            replicate=int(snakemake.wildcards.rep),
            trained=snakemake.input.trained,
            code=snakemake.params.code,
        )

    def provenance(self, started: str) -> dict:
        """How the run was trained and evaluated: versions, commit, machine, code."""
        from ..files import read_json
        from ..provenance import provenance

        out = {"evaluation": {**provenance(self.options.threads, started), "code": self.code}}
        if self.trained is not None:
            record = read_json(self.trained)
            out["training"] = {**record["provenance"], "code": record["params"].get("code")}
        return out


def fit_and_save(
    model,
    settings: Mapping,
    data: Mapping[str, np.ndarray],
    job: TrainJob,
    *,
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
    log.info(
        "%s: %d parameters, %d training steps per epoch", job.label, model.count_params(), steps
    )
    train = train_data(x_train, y_train, num_classes, batch, augment or {}, job.options)
    val = eval_data(data["x_val"], data["y_val"], num_classes, val_batch_size, job.options)
    return train_and_save(
        model,
        settings,
        train.epoch,
        val,
        steps_per_epoch=steps,
        name=job.label,
        options=job.options,
        run_data=(x_train, y_train, *starts_from),
        model_out=job.model_out,
        history_out=job.history_out,
        resume_dir=job.resume_dir,
    )


def evaluate_and_save(
    model_path: str | Path,
    data: Mapping[str, np.ndarray],
    history_path: str | Path,
    job: EvalJob,
    *,
    batch_size: int,
    record: Mapping,
) -> dict:
    """Test metrics of a saved model on ``data`` (``x_test``, ``y_test``,
    ``class_names``), with the summary of its training history, and its per-image
    predictions (:func:`convstudy.files.save_predictions`); the run's identity
    (part, experiment, replicate, seed, backend) and ``record`` go into the metrics
    file as they are. The runtime must be configured (:func:`convstudy.runtime.configure`).
    """
    from ..evaluate import classification_metrics, history_summary
    from ..files import read_history, save_predictions, write_json
    from ..models import load_model, trainable_parameters
    from ..pipeline import eval_data
    from ..provenance import now

    started = now()
    model = load_model(model_path)
    # A loaded model predicts through XLA ("auto"), which on a CPU costs TensorFlow
    # far more time and memory than plain graph execution (5x for ResNet50).
    model.compile(jit_compile=RunOptions(backend=job.options.backend).compiled)
    class_names = data["class_names"]
    batches = eval_data(data["x_test"], None, len(class_names), batch_size, job.options)
    probabilities = model.predict(batches, verbose=0)
    test = classification_metrics(probabilities, data["y_test"], class_names)
    if job.predictions_out is not None:
        save_predictions(job.predictions_out, probabilities, data["y_test"])
    metrics = {
        "experiment": job.name,
        "replicate": job.replicate,
        "seed": job.options.seed,
        "backend": job.options.backend,
        **record,
        "parameters": int(model.count_params()),
        "trainable_parameters": trainable_parameters(model),
        "test": test,
        **history_summary(read_history(history_path)),
        "class_names": class_names,
        "provenance": job.provenance(started),
    }
    write_json(job.metrics_out, metrics)
    log.info(
        "%s: test accuracy %.4f, top-5 %.4f, loss %.4f",
        job.name,
        test["accuracy"],
        test["top5_accuracy"],
        test["loss"],
    )
    return metrics
