"""Compiling and fitting classifiers, epoch by epoch, with resumable checkpoints.

Training runs one ``fit`` call per epoch on a dataset that is a pure function
of (seed, epoch). After every epoch the weights, the optimizer's state and the
history so far go to a resume directory outside the rule's outputs; a job that
was killed picks up from the last finished epoch and ends with the same numbers
as one that ran straight through (on CPU).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np

from .files import atomic_path, read_json, write_history, write_json
from .logs import PROGRESS_EVERY, Progress
from .runtime import RunOptions

log = logging.getLogger(__name__)

#: Test hook: kill the job (SIGKILL, as an out-of-memory kill or scancel would)
#: right after this epoch's checkpoint is written: ``N`` kills the job, ``N:workflow``
#: its whole process group, Snakemake included (a crashed login node), which
#: leaves Snakemake's lock behind. Only for a Snakemake started in a session of its own.
KILL_AFTER_EPOCH_ENV = "CONVSTUDY_KILL_AFTER_EPOCH"


def make_optimizer(opt: Mapping, schedule: Mapping, steps_per_epoch: int, epochs: int):
    """The optimizer of a variant's settings, with its learning-rate schedule."""
    lr = opt["learning_rate"]
    warmup = schedule.get("warmup_epochs", 0) * steps_per_epoch
    total = steps_per_epoch * epochs
    if schedule["name"] == "cosine" or warmup:
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else lr,
            decay_steps=max(1, total - warmup),
            # alpha=1 keeps a constant rate after the warm-up.
            alpha=0.0 if schedule["name"] == "cosine" else 1.0,
            warmup_target=lr if warmup else None,
            warmup_steps=warmup,
        )
    wd = opt.get("weight_decay", 0.0) or None
    name = opt["name"]
    if name == "sgd":
        optimizer = keras.optimizers.SGD(
            learning_rate=lr,
            momentum=opt.get("momentum", 0.0),
            nesterov=opt.get("nesterov", False),
            weight_decay=wd,
        )
    elif name == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=lr, weight_decay=wd)
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=lr, weight_decay=wd or 0.004)
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    if wd:
        # Decay the weights, not the biases or batch-norm scales and shifts.
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def compile_model(
    model: keras.Model,
    settings: Mapping,
    steps_per_epoch: int,
    *,
    steps_per_execution: int = 1,
    jit_compile: bool = False,
) -> keras.Model:
    model.compile(
        optimizer=make_optimizer(
            settings["optimizer"], settings["schedule"], steps_per_epoch, settings["epochs"]
        ),
        loss=keras.losses.CategoricalCrossentropy(
            label_smoothing=settings.get("label_smoothing", 0.0)
        ),
        metrics=["accuracy"],
        # Never run past an epoch's end in one call: the epoch is the unit of resuming.
        steps_per_execution=max(1, min(steps_per_execution, steps_per_epoch)),
        jit_compile=jit_compile,
    )
    return model


def current_learning_rate(model: keras.Model) -> float:
    lr = model.optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


def seed_states(model: keras.Model) -> list:
    """The state variables of the model's random layers' seed generators (dropout...),
    in a fixed order (Keras tracks them with the non-trainable variables)."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def reseed_layers(model: keras.Model, seed: int, epoch: int) -> None:
    """Put every seed generator at a state fixed by (seed, epoch, its position).

    Their states are not part of the saved weights; setting them each epoch
    makes a resumed epoch draw the same dropout masks as an uninterrupted one.
    """
    for i, state in enumerate(seed_states(model)):
        state.assign(np.array([(seed * 7919 + i) % (2**31), epoch * 1_000_003], dtype="uint32"))


def fingerprint(settings: Mapping, seed: int, backend: str, *arrays: np.ndarray) -> str:
    """Identity of a training run: its settings, seed, Keras backend and training data."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(f"{seed}:{backend}".encode())
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


class Checkpointer:
    """Per-epoch resume state in ``directory``: Keras' weights file of the model and
    its optimizer, and a record of the run (its fingerprint, the epoch, the history)
    that Keras' own ``BackupAndRestore`` does not keep.

    Each epoch's weights go to a file of their own, named in ``state.json`` only once
    written, so a kill at any moment leaves a record and weights that agree.
    """

    def __init__(self, directory: str | Path | None, run_id: str):
        self.directory = Path(directory) if directory else None
        self.run_id = run_id

    @property
    def _state(self) -> Path:
        return self.directory / "state.json"

    def load(self, model: keras.Model) -> tuple[int, list[dict]]:
        """Restore the last finished epoch; ``(0, [])`` when there is nothing to resume."""
        if self.directory is None or not self._state.exists():
            return 0, []
        state = read_json(self._state)
        weights = self.directory / state.get("weights", "")
        if state.get("run_id") != self.run_id or not weights.is_file():
            log.info("resume state in %s belongs to another run: starting afresh", self.directory)
            return 0, []
        # The optimizer's variables exist only once it is built; unbuilt, Keras would
        # skip restoring them.
        model.optimizer.build(model.trainable_variables)
        model.load_weights(weights)
        log.info("resuming after epoch %d from %s", state["epoch"], self.directory)
        return state["epoch"], state["history"]

    def save(self, model: keras.Model, epoch: int, history: list[dict]) -> None:
        if self.directory is None:
            return
        name = f"epoch-{epoch}.weights.h5"
        with atomic_path(self.directory / name, suffix=".weights.h5") as tmp:
            model.save_weights(tmp)
        write_json(
            self._state,
            {"run_id": self.run_id, "epoch": epoch, "weights": name, "history": history},
        )
        for old in self.directory.glob("epoch-*.weights.h5"):
            if old.name != name:
                old.unlink()

    def clear(self) -> None:
        """Drop the state, and the folders above it that it leaves empty
        (``resume/<part>/<experiment>/``, ``resume/<part>/``, ``resume/``)."""
        if self.directory is None:
            return
        if self.directory.exists():
            shutil.rmtree(self.directory)
        for parent in list(self.directory.parents)[:3]:
            try:
                parent.rmdir()
            except OSError:  # not empty (another replicate's state), or gone
                break


class EpochProgress(keras.callbacks.Callback):
    """A log line at least every :data:`convstudy.logs.PROGRESS_EVERY` seconds inside an
    epoch (steps done, rate, time left): a fine-tuning epoch on a CPU takes minutes."""

    def __init__(self, describe: str, epoch: int, epochs: int, steps: int, every: float):
        super().__init__()
        self.what = f"{describe}: epoch {epoch + 1}/{epochs}"
        self.steps, self.every = steps, every

    def on_epoch_begin(self, epoch, logs=None):
        self.progress = Progress(self.what, self.steps, "steps", every=self.every, logger=log)

    def on_train_batch_end(self, batch, logs=None):
        self.progress.update(batch + 1)


def fit_epochs(
    model: keras.Model,
    train_data: Callable[[int], object],
    val_data,
    epochs: int,
    *,
    seed: int,
    checkpointer: Checkpointer | None = None,
    describe: str = "",
    steps_per_epoch: int | None = None,
    progress_every: float = PROGRESS_EVERY,
) -> list[dict]:
    """Train epoch by epoch; ``train_data(epoch)`` gives that epoch's dataset.

    Returns the history rows (``HISTORY_FIELDS``). Resumes from ``checkpointer``. With
    ``steps_per_epoch``, long epochs log their progress every ``progress_every`` seconds.
    """
    checkpointer = checkpointer or Checkpointer(None, "")
    start, history = checkpointer.load(model)
    kill_epoch, _, kill_scope = os.environ.get(KILL_AFTER_EPOCH_ENV, "").partition(":")
    kill_after = int(kill_epoch or 0)
    for epoch in range(start, epochs):
        reseed_layers(model, seed, epoch)
        lr = current_learning_rate(model)
        began = time.perf_counter()
        callbacks = []
        if steps_per_epoch:
            callbacks.append(
                EpochProgress(describe, epoch, epochs, steps_per_epoch, progress_every)
            )
        result = model.fit(
            train_data(epoch),
            validation_data=val_data,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,  # the dataset is already shuffled, per (seed, epoch)
            verbose=0,
            callbacks=callbacks,
        ).history
        seconds = time.perf_counter() - began
        row = {
            "epoch": epoch + 1,
            "loss": float(result["loss"][-1]),
            "accuracy": float(result["accuracy"][-1]),
            "val_loss": float(result["val_loss"][-1]),
            "val_accuracy": float(result["val_accuracy"][-1]),
            "seconds": round(seconds, 3),
            "learning_rate": lr,
        }
        history.append(row)
        log.info(
            "%sepoch %d/%d: loss %.4f acc %.4f | val_loss %.4f val_acc %.4f | %.1fs",
            f"{describe}: " if describe else "",
            epoch + 1,
            epochs,
            row["loss"],
            row["accuracy"],
            row["val_loss"],
            row["val_accuracy"],
            seconds,
        )
        checkpointer.save(model, epoch + 1, history)
        if kill_after and epoch + 1 == kill_after:
            log.warning("%s=%d: killing this job now", KILL_AFTER_EPOCH_ENV, kill_after)
            logging.shutdown()
            if kill_scope == "workflow":
                os.killpg(os.getpgid(0), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
    return history


def save_model(model: keras.Model, path: str | Path) -> None:
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def train_and_save(
    model: keras.Model,
    settings: Mapping,
    train_data: Callable[[int], object],
    val_data,
    *,
    steps_per_epoch: int,
    name: str,
    options: RunOptions,
    run_data: Sequence[np.ndarray],
    model_out: str | Path,
    history_out: str | Path,
    resume_dir: str | Path | None,
) -> list[dict]:
    """Compile ``model`` for ``settings``, train it for ``settings["epochs"]`` (resuming
    from ``resume_dir``), write the model and the history, then drop the resume state.

    ``run_data`` (training arrays, and anything else the run starts from) goes into
    the resume fingerprint, so a state left by other data or settings is never resumed.
    ``options``: the job's seed, backend, ``steps_per_execution`` and ``jit_compile``.
    """
    compile_model(
        model,
        settings,
        steps_per_epoch,
        steps_per_execution=options.steps_per_execution,
        jit_compile=options.compiled,
    )
    identity = fingerprint(settings, options.seed, options.backend, *run_data)
    checkpointer = Checkpointer(resume_dir, identity)
    history = fit_epochs(
        model,
        train_data,
        val_data,
        settings["epochs"],
        seed=options.seed,
        checkpointer=checkpointer,
        describe=name,
        steps_per_epoch=steps_per_epoch,
    )
    # Only once both outputs exist: a kill in between resumes after the last epoch.
    save_model(model, model_out)
    write_history(history_out, history)
    checkpointer.clear()
    return history
