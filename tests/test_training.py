"""Training: optimizers and schedules, determinism, resuming, test metrics."""

from __future__ import annotations

import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from convstudy import runtime  # noqa: E402
from convstudy.config import cifar_variants, load_config  # noqa: E402
from convstudy.evaluate import classification_metrics, history_summary  # noqa: E402
from convstudy.files import read_history, write_history  # noqa: E402
from convstudy.models.cnn import build_cnn  # noqa: E402
from convstudy.pipeline.tfdata import eval_dataset, train_dataset  # noqa: E402
from convstudy.training import (  # noqa: E402
    Checkpointer,
    compile_model,
    fingerprint,
    fit_epochs,
    make_optimizer,
)

runtime.configure(runtime.RunOptions(threads=2, seed=0))


def _lr(optimizer, step):
    lr = optimizer.learning_rate
    schedule = getattr(optimizer, "_learning_rate", None)
    if callable(schedule):
        return float(schedule(step))
    return float(lr)


def test_sgd_without_momentum_is_the_studys_optimizer():
    opt = make_optimizer(
        {
            "name": "sgd",
            "learning_rate": 0.01,
            "momentum": 0.0,
            "nesterov": False,
            "weight_decay": 0.0,
        },
        {"name": "constant", "warmup_epochs": 0},
        steps_per_epoch=10,
        epochs=5,
    )
    assert isinstance(opt, keras.optimizers.SGD)
    assert opt.momentum == 0.0 and not opt.nesterov and opt.weight_decay is None
    assert _lr(opt, 0) == pytest.approx(0.01) and _lr(opt, 49) == pytest.approx(0.01)


def test_cosine_schedule_with_warmup():
    opt = make_optimizer(
        {
            "name": "sgd",
            "learning_rate": 0.1,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
        },
        {"name": "cosine", "warmup_epochs": 1},
        steps_per_epoch=10,
        epochs=11,
    )
    assert _lr(opt, 0) == pytest.approx(0.0)
    assert _lr(opt, 5) == pytest.approx(0.05)
    assert _lr(opt, 10) == pytest.approx(0.1)
    assert _lr(opt, 60) == pytest.approx(0.05, rel=1e-3)  # half way through the decay
    assert _lr(opt, 110) == pytest.approx(0.0, abs=1e-6)


def _tiny_problem(n=96, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.integers(0, 60, (n, 12, 12, 3)).astype(np.uint8)
    x[np.arange(n), :, :, y] += 150  # the class is the bright channel
    return x, y


SETTINGS = {
    "architecture": {
        "conv_blocks": [{"filters": [4], "kernel_size": 3}],
        "padding": "valid",
        "pool_size": 2,
        "residual": False,
        "batchnorm": "before_relu",
        "block_dropout": [0.3],
        "head": "flatten",
        "dense": [8],
        "dense_dropout": 0.2,
    },
    "augment": {
        "horizontal_flip": True,
        "translate": 0.1,
        "rotation": 0.0,
        "zoom": 0.0,
        "fill_mode": "nearest",
    },
    "optimizer": {
        "name": "sgd",
        "learning_rate": 0.05,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 0.0,
    },
    "schedule": {"name": "cosine", "warmup_epochs": 1},
    "label_smoothing": 0.1,
    "batch_size": 16,
    "epochs": 3,
    "normalize": False,
}


def _train(x, y, epochs, resume_dir=None, stop_after=None):
    keras.utils.set_random_seed(7)
    model = build_cnn(SETTINGS["architecture"], x.shape[1:], 3)
    compile_model(model, SETTINGS, steps_per_epoch=6, steps_per_execution=4)
    checkpointer = Checkpointer(resume_dir, fingerprint(SETTINGS, 7, "tensorflow", x, y))
    history = fit_epochs(
        model,
        lambda e: train_dataset(x, y, 3, 16, SETTINGS["augment"], 7, e),
        eval_dataset(x, y, 3),
        stop_after or epochs,
        seed=7,
        checkpointer=checkpointer,
    )
    return model, history


def test_same_seed_same_model_and_history():
    x, y = _tiny_problem()
    m1, h1 = _train(x, y, 3)
    m2, h2 = _train(x, y, 3)
    for a, b in zip(m1.get_weights(), m2.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [r["loss"] for r in h1] == [r["loss"] for r in h2]
    assert h1[-1]["accuracy"] > 0.6  # the toy task is learned


def test_resumed_training_ends_where_uninterrupted_training_ends(tmp_path):
    """Stop after epoch 1 (as a killed job would), resume from the checkpoint, compare."""
    x, y = _tiny_problem()
    straight, h_straight = _train(x, y, 3)
    _train(x, y, 3, resume_dir=tmp_path / "resume", stop_after=1)
    assert (tmp_path / "resume" / "state.json").exists()
    resumed, h_resumed = _train(x, y, 3, resume_dir=tmp_path / "resume")
    assert [r["epoch"] for r in h_resumed] == [1, 2, 3]
    assert [r["val_loss"] for r in h_resumed] == [r["val_loss"] for r in h_straight]
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_epoch_lines_name_the_replicate_and_long_epochs_log_progress(caplog):
    """Every epoch line names the run and its replicate (parallel replicates write
    to one terminal); inside an epoch, a line at least every `progress_every` seconds
    gives the steps done, the rate and the time left (here: every step)."""
    x, y = _tiny_problem()
    keras.utils.set_random_seed(7)
    model = build_cnn(SETTINGS["architecture"], x.shape[1:], 3)
    compile_model(model, SETTINGS, steps_per_epoch=6, steps_per_execution=1)
    with caplog.at_level("INFO", logger="convstudy.training"):
        fit_epochs(
            model,
            lambda e: train_dataset(x, y, 3, 16, SETTINGS["augment"], 7, e),
            eval_dataset(x, y, 3),
            2,
            seed=7,
            describe="basenet rep1",
            steps_per_epoch=6,
            progress_every=0,
        )
    lines = [r.getMessage() for r in caplog.records]
    epochs = [line for line in lines if " | val_loss " in line]
    assert len(epochs) == 2
    assert all(
        re.match(r"^basenet rep1: epoch [12]/2: loss [\d.]+ acc [\d.]+ \| ", e) for e in epochs
    )
    steps = [
        line for line in lines if line.startswith("basenet rep1: epoch 1/2: ") and "steps/s" in line
    ]
    assert steps[0].startswith("basenet rep1: epoch 1/2: 1/6 steps (17%), ")
    assert "left" in steps[0] and steps[-1].startswith("basenet rep1: epoch 1/2: 6/6 steps (100%)")


def test_progress_lines_are_spaced_and_say_what_is_left():
    from convstudy.logs import Progress

    now = [0.0]
    lines = []

    class Log:
        def info(self, line):
            lines.append(line)

    progress = Progress(
        "images.tgz", 600e6, "MB", scale=1e6, every=30, clock=lambda: now[0], logger=Log()
    )
    for t, done in ((10, 50e6), (30, 150e6), (45, 200e6), (60, 300e6)):
        now[0] = t
        progress.update(done)
    assert lines == [
        "images.tgz: 150.0/600.0 MB (25%), 5.0 MB/s, about 1 min 30 s left",
        "images.tgz: 300.0/600.0 MB (50%), 5.0 MB/s, about 1 min 00 s left",
    ]


def test_download_logs_its_progress(tmp_path, caplog):
    from convstudy.data import archives

    source = tmp_path / "images.tgz"
    source.write_bytes(b"x" * (3 << 20))
    with caplog.at_level("INFO", logger="convstudy.data.archives"):
        archives._fetch(source.as_uri(), tmp_path / "copy", timeout=5, every=0)
    lines = [r.getMessage() for r in caplog.records]
    assert "images.tgz: 1.0/3.1 MB (33%), " in lines[0]
    assert lines[-1].startswith("images.tgz: 3.1 MB in ")
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()


def test_resume_state_of_another_run_is_ignored(tmp_path):
    x, y = _tiny_problem()
    _train(x, y, 3, resume_dir=tmp_path / "r", stop_after=1)
    other = Checkpointer(tmp_path / "r", "another-run")
    model = build_cnn(SETTINGS["architecture"], x.shape[1:], 3)
    compile_model(model, SETTINGS, steps_per_epoch=6)
    assert other.load(model) == (0, [])


def test_fingerprint_changes_with_settings_seed_and_data():
    x, y = _tiny_problem()
    base = fingerprint(SETTINGS, 1, "tensorflow", x, y)
    assert fingerprint({**SETTINGS, "epochs": 4}, 1, "tensorflow", x, y) != base
    assert fingerprint(SETTINGS, 2, "tensorflow", x, y) != base
    assert fingerprint(SETTINGS, 1, "jax", x, y) != base
    assert fingerprint(SETTINGS, 1, "tensorflow", x[::-1], y) != base
    assert fingerprint(dict(reversed(SETTINGS.items())), 1, "tensorflow", x, y) == base


def test_history_csv_round_trip(tmp_path):
    rows = [
        {
            "epoch": 1,
            "loss": 1.5,
            "accuracy": 0.4,
            "val_loss": 1.6,
            "val_accuracy": 0.35,
            "seconds": 2.0,
            "learning_rate": 0.01,
        },
        {
            "epoch": 2,
            "loss": 1.2,
            "accuracy": 0.5,
            "val_loss": 1.4,
            "val_accuracy": 0.45,
            "seconds": 2.5,
            "learning_rate": 0.01,
        },
    ]
    write_history(tmp_path / "h.csv", rows)
    assert read_history(tmp_path / "h.csv") == rows
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == (
        "epoch,loss,accuracy,val_loss,val_accuracy,seconds,learning_rate"
    )
    summary = history_summary(rows)
    assert summary == {
        "epochs": 2,
        "training_seconds": 4.5,
        "best_val_accuracy": 0.45,
        "best_val_epoch": 2,
        "final_val_accuracy": 0.45,
    }


def test_classification_metrics():
    probs = np.array(
        [
            [0.7, 0.1, 0.1, 0.05, 0.03, 0.02],  # true 0, right
            [0.1, 0.6, 0.1, 0.1, 0.05, 0.05],  # true 2, wrong, rank 2
            [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],  # true 5: tied at 0.1 with four others
            [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # true 5, right
        ]
    )
    labels = np.array([0, 2, 5, 5])
    m = classification_metrics(probs, labels, list("abcdef"))
    assert m["accuracy"] == 0.5
    # Third example: one class strictly above the true one -> inside the top 5.
    assert m["top5_accuracy"] == 1.0
    expected_loss = -np.mean(np.log([0.7, 0.1, 0.1, 1.0]))
    assert m["loss"] == pytest.approx(expected_loss)
    assert m["per_class_accuracy"] == {
        "a": 1.0,
        "b": None,
        "c": 0.0,
        "d": None,
        "e": None,
        "f": 0.5,
    }
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == 4 and cm[0, 0] == 1 and cm[2, 1] == 1 and cm[5, 0] == 1 and cm[5, 5] == 1


def test_top5_counts_ties_against_the_model():
    probs = np.full((1, 8), 0.125)
    m = classification_metrics(probs, np.array([3]), list("abcdefgh"))
    assert m["top5_accuracy"] == 1.0  # nothing strictly above: rank 0
    probs = np.array([[0.2, 0.2, 0.2, 0.2, 0.2, 0.0, 0.0, 0.0]])
    assert classification_metrics(probs, np.array([6]), list("abcdefgh"))["top5_accuracy"] == 0.0


def test_variant_settings_compile(tmp_path):
    """Every configured variant builds and compiles (catches schema/code drift)."""
    names = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
    x = np.zeros((4, 32, 32, 3), dtype="uint8")
    y = np.eye(25, dtype="float32")[:4]
    for name, info in cifar_variants(load_config()).items():
        model = build_cnn(info["settings"]["architecture"], (32, 32, 3), 25, name=name)
        compile_model(model, info["settings"], steps_per_epoch=10)
        assert type(model.optimizer).__name__ == names[info["settings"]["optimizer"]["name"]]
        # Compiled for training: one step runs and gives a finite loss.
        assert np.isfinite(model.train_on_batch(x, y)[0]), name
