#!/usr/bin/env python3
"""Screen recipes for our CIFAR variant on CIFAR-10 development data (validation only).

Backend-neutral Keras (run with KERAS_BACKEND=jax on a GPU, or tensorflow on a
CPU): the same `build_cnn` and optimizer code as the workflow, with Keras'
augmentation layers in front of the model instead of the workflow's tf.data
pipeline. It ranks recipes; the chosen one is then confirmed on the CPU with the
workflow itself (README, "Choosing our variant").

usage: screen_cifar.py DATA.npz OUT.jsonl [--budget SECONDS] [--only NAME,...]
DATA.npz: x_train/y_train/x_val/y_val (uint8 images, int labels), e.g. 1,125 train
and 250 validation images per class of the CIFAR-10 development archive.
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

from convstudy.config import cifar_variants, load_config  # noqa: E402
from convstudy.models.cnn import build_cnn  # noqa: E402
from convstudy.training import make_optimizer  # noqa: E402
from convstudy.variants import deep_merge  # noqa: E402

WIDE = [{"filters": [w, w], "kernel_size": 3} for w in (64, 128, 256, 512)]
THREE = [{"filters": [w, w], "kernel_size": 3} for w in (64, 128, 256)]

# (name, base variant, overrides, proxy: images per class)
RUNS = [
    ("resnet", "resnet", {}, 450),
    ("study_batchnorm", "batchnorm", {}, 450),
    ("resnet_100ep", "resnet", {"epochs": 100}, 450),
    ("plain", "resnet", {"architecture": {"residual": False}}, 450),
    ("lr0.1", "resnet", {"optimizer": {"learning_rate": 0.1}}, 450),
    ("wd5e-3", "resnet", {"optimizer": {"weight_decay": 0.005}}, 450),
    ("adamw", "resnet", {"optimizer": {"name": "adamw", "learning_rate": 0.002, "weight_decay": 0.05}}, 450),
    ("wide", "resnet", {"architecture": {"conv_blocks": WIDE}}, 450),
    ("rot_zoom", "resnet", {"augment": {"rotation": 15.0, "zoom": 0.1}}, 450),
    ("no_ls", "resnet", {"label_smoothing": 0.0}, 450),
    ("three_blocks_64", "resnet", {"architecture": {"conv_blocks": THREE, "block_dropout": [0.0, 0.1, 0.2]}}, 450),
    ("30ep", "resnet", {"epochs": 30}, 450),
    ("resnet_seed2", "resnet", {}, 450),
    ("flip_only", "resnet", {"augment": {"translate": 0.0}}, 450),
    ("no_dropout", "resnet", {"architecture": {"block_dropout": [0, 0, 0, 0], "dense_dropout": 0.0}}, 450),
    ("fill_reflect", "resnet", {"augment": {"fill_mode": "reflect"}}, 450),
    ("resnet_1125", "resnet", {}, 1125),
    ("study_batchnorm_1125", "batchnorm", {}, 1125),
]


def augmenter(aug):
    layers = []
    if aug["horizontal_flip"]:
        layers.append(keras.layers.RandomFlip("horizontal"))
    if aug["translate"]:
        t = aug["translate"]
        layers.append(keras.layers.RandomTranslation(t, t, fill_mode=aug["fill_mode"]))
    if aug["rotation"]:
        layers.append(keras.layers.RandomRotation(aug["rotation"] / 360.0, fill_mode=aug["fill_mode"]))
    if aug["zoom"]:
        layers.append(keras.layers.RandomZoom(aug["zoom"], fill_mode=aug["fill_mode"]))
    return layers


def run(name, settings, data, per_class, seed):
    keras.utils.set_random_seed(seed)
    keep = np.concatenate([np.flatnonzero(data["y_train"] == c)[:per_class] for c in range(10)])
    x, y = data["x_train"][keep].astype("float32"), data["y_train"][keep]
    mean = variance = None
    if settings["normalize"]:
        mean = (x / 255).mean(axis=(0, 1, 2)).tolist()
        variance = (x / 255).var(axis=(0, 1, 2)).tolist()
    core = build_cnn(settings["architecture"], (32, 32, 3), 10, mean=mean, variance=variance)
    inputs = keras.Input((32, 32, 3))
    h = inputs
    for layer in augmenter(settings["augment"]):
        h = layer(h)
    model = keras.Model(inputs, core(h))
    steps = int(np.ceil(len(x) / settings["batch_size"]))
    model.compile(
        optimizer=make_optimizer(settings["optimizer"], settings["schedule"], steps, settings["epochs"]),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=settings["label_smoothing"]),
        metrics=["accuracy"],
        steps_per_execution=min(steps, 16),
    )
    began = time.time()
    hist = model.fit(
        x, keras.utils.to_categorical(y, 10), batch_size=settings["batch_size"],
        epochs=settings["epochs"], verbose=0,
        validation_data=(data["x_val"].astype("float32"), keras.utils.to_categorical(data["y_val"], 10)),
    ).history
    val = hist["val_accuracy"]
    return {
        "name": name, "per_class": per_class, "seed": seed, "epochs": settings["epochs"],
        "final_val_accuracy": round(val[-1], 4), "best_val_accuracy": round(max(val), 4),
        "best_epoch": int(np.argmax(val)) + 1, "final_train_accuracy": round(hist["accuracy"][-1], 4),
        "parameters": core.count_params(), "seconds": round(time.time() - began, 1),
        "val_curve": [round(v, 4) for v in val],
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--budget", type=float, default=1e9)
    p.add_argument("--only", default="")
    p.add_argument("--max-epochs", type=int, default=0, help="cap epochs (smoke tests)")
    args = p.parse_args()
    started = time.time()
    with np.load(args.data) as npz:
        data = {k: npz[k] for k in npz.files}
    variants = cifar_variants(load_config())
    only = set(filter(None, args.only.split(",")))
    for name, base, overrides, per_class in RUNS:
        if only and name not in only:
            continue
        if time.time() - started > args.budget:
            print(f"budget spent: skipping {name}", flush=True)
            continue
        settings = deep_merge(copy.deepcopy(variants[base]["settings"]), overrides)
        if args.max_epochs:
            settings["epochs"] = min(settings["epochs"], args.max_epochs)
        result = run(name, settings, data, per_class, seed=2 if name.endswith("seed2") else 1)
        result["backend"] = keras.backend.backend()
        print(json.dumps({k: v for k, v in result.items() if k != "val_curve"}), flush=True)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
