#!/usr/bin/env python3
"""Screen classifier-head recipes on cached ResNet50 features (validation only).

Reads the feature cache the workflow wrote for the development subset
(tuning/birds_dev.yaml) and pools its training and validation parts (the
official training images), then draws REPEATS seeded, stratified 80/20 splits
of them: each recipe trains on one part and is scored on the other, and the
mean over splits ranks the recipes. The test part is never read.

The same `build_head` and optimizer code as the workflow; Keras' `fit` on arrays
instead of the workflow's tf.data pipeline (no augmentation either way).

usage: screen_birds_heads.py FEATURES_DIR OUT.jsonl [--only NAME,...] [--repeats N]
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from convstudy.config import (  # noqa: E402
    birds_experiments,  # noqa: E402
    load_config,
    load_schema,
)
from convstudy.data.splits import stratified_split  # noqa: E402
from convstudy.files import load_arrays  # noqa: E402
from convstudy.models.heads import build_head  # noqa: E402
from convstudy.training import make_optimizer  # noqa: E402
from convstudy.variants import deep_merge  # noqa: E402

SGD = {
    "name": "sgd",
    "learning_rate": 0.01,
    "momentum": 0.0,
    "nesterov": False,
    "weight_decay": 0.0,
}

# (name, base head of config/config.yaml, overrides, repeats cap)
RUNS = [
    ("linear", "linear", {}, None),
    ("linear_60ep", "linear", {"epochs": 60}, None),
    ("linear_lr3e-4", "linear", {"optimizer": {"learning_rate": 0.0003}, "epochs": 60}, None),
    ("linear_ls0.1", "linear", {"label_smoothing": 0.1}, None),
    ("linear_drop0.5", "linear", {"architecture": {"input_dropout": 0.5}}, None),
    (
        "linear_adamw",
        "linear",
        {"optimizer": {"name": "adamw", "weight_decay": 0.05}, "schedule": {"name": "cosine"}},
        None,
    ),
    ("linear_sgd_study", "linear", {"optimizer": SGD, "batch_size": 32}, None),
    (
        "linear_sgdm_cos",
        "linear",
        {
            "optimizer": {**SGD, "momentum": 0.9, "nesterov": True, "learning_rate": 0.05},
            "schedule": {"name": "cosine"},
        },
        None,
    ),
    ("study_256", "study_1024", {"architecture": {"dense": [256], "input_dropout": 0.0}}, None),
    ("study_1024", "study_1024", {}, None),
    ("mlp", "mlp", {}, None),
    ("mlp_no_ls", "mlp", {"label_smoothing": 0.0}, None),
    (
        "mlp_512_d0.3",
        "mlp",
        {"architecture": {"dense": [512], "dropout": 0.3, "input_dropout": 0.3}},
        None,
    ),
    (
        "mlp_adam_const",
        "mlp",
        {"optimizer": {"name": "adam", "weight_decay": 0.0}, "schedule": {"name": "constant"}},
        None,
    ),
    ("conv", "conv", {}, 2),
    ("conv_nobn", "conv", {"architecture": {"batchnorm": False}}, 2),
    ("conv_3x3_256", "conv", {"architecture": {"conv": [{"filters": 256, "kernel_size": 3}]}}, 2),
    (
        "conv_ls0.1_40ep",
        "conv",
        {"label_smoothing": 0.1, "epochs": 40, "schedule": {"name": "cosine"}},
        2,
    ),
]


def run(settings, x, y, train, val, num_classes, seed):
    keras.utils.set_random_seed(seed)
    model = build_head(settings, x.shape[1:], num_classes)
    steps = int(np.ceil(len(train) / settings["batch_size"]))
    model.compile(
        optimizer=make_optimizer(
            settings["optimizer"], settings["schedule"], steps, settings["epochs"]
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=settings["label_smoothing"]),
        metrics=["accuracy"],
        steps_per_execution=steps,
    )
    onehot = keras.utils.to_categorical(y, num_classes)
    xt = x[train].astype("float32")
    xv = x[val].astype("float32")
    began = time.time()
    hist = model.fit(
        xt,
        onehot[train],
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        validation_data=(xv, onehot[val]),
        verbose=0,
    ).history
    return {
        "final_val_accuracy": hist["val_accuracy"][-1],
        "best_val_accuracy": max(hist["val_accuracy"]),
        "final_train_accuracy": hist["accuracy"][-1],
        "seconds": time.time() - began,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("features")
    p.add_argument("out")
    p.add_argument("--only", default="")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    heads = {
        n: e
        for n, e in birds_experiments(load_config(), load_schema()).items()
        if e["kind"] == "head"
    }
    cache = {}
    only = set(filter(None, args.only.split(",")))
    for name, base, overrides, cap in RUNS:
        if only and name not in only:
            continue
        settings = deep_merge(copy.deepcopy(heads[base]["settings"]), overrides)
        kind = settings["features"]
        if kind not in cache:
            data = load_arrays(Path(args.features) / f"{kind}.npz")
            # The official training images only: this run's train and validation parts.
            cache[kind] = (
                np.concatenate([data["x_train"], data["x_val"]]),
                np.concatenate([data["y_train"], data["y_val"]]),
                len(data["class_names"]),
            )
        x, y, k = cache[kind]
        repeats = min(args.repeats, cap or args.repeats)
        scores = []
        for r in range(repeats):
            train, val = stratified_split(y, 0.2, 1000 + r)
            scores.append(run(settings, x, y, train, val, k, seed=r))
        final = [s["final_val_accuracy"] for s in scores]
        result = {
            "name": name,
            "features": kind,
            "repeats": repeats,
            "epochs": settings["epochs"],
            "val_mean": round(float(np.mean(final)), 4),
            "val_sd": round(float(np.std(final)), 4),
            "best_val_mean": round(float(np.mean([s["best_val_accuracy"] for s in scores])), 4),
            "train_acc_mean": round(float(np.mean([s["final_train_accuracy"] for s in scores])), 4),
            "seconds_per_run": round(float(np.mean([s["seconds"] for s in scores])), 1),
            "overrides": overrides,
            "base": base,
        }
        print(json.dumps({k: v for k, v in result.items() if k != "overrides"}), flush=True)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
