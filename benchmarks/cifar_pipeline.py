#!/usr/bin/env python3
"""Epoch time of the study's input pipeline against this project's, on the same data.

The study fed ``ImageDataGenerator`` (featurewise centre + std normalisation and
the variant's augmentation, per image in Python) to ``fit`` one batch at a time.
This project feeds its pipeline as a training job does (convstudy.pipeline: on
TensorFlow, tf.data with augmentation as one kernel per batch; normalisation inside
the model) to ``fit`` with ``steps_per_execution``.

Both run in one process on the same random data (the study's sizes: 11,250
training and 1,250 validation images of 25 classes), alternating round by round
after a warm-up epoch each, so that machine noise hits both alike. Prints the
median epoch times (training + validation) and their ratio for two variants, the
augmented BaseNet and the last study variant, and then the estimated training
time of the whole CIFAR part at the default config (one measured epoch of each
variant times its epochs).

usage: python benchmarks/cifar_pipeline.py [--rounds 3] [--threads 2] [--no-total]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from convstudy import runtime  # noqa: E402


def study_epoch_runner(settings, x, y, x_val, y_val, num_classes):
    """The study's way: ImageDataGenerator.flow -> fit, one step per call."""
    import keras
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    from convstudy.models.cnn import build_cnn
    from convstudy.training import compile_model

    aug = settings["augment"]
    generator = ImageDataGenerator(
        featurewise_center=settings["normalize"],
        featurewise_std_normalization=settings["normalize"],
        horizontal_flip=aug["horizontal_flip"],
        rotation_range=aug["rotation"],
        zoom_range=aug["zoom"],
        width_shift_range=aug["translate"],
        height_shift_range=aug["translate"],
        fill_mode=aug["fill_mode"],
        rescale=1.0 / 255,
    )
    # As the study: statistics of the training images, scaled like the inputs.
    generator.fit(x / 255.0)
    val_generator = ImageDataGenerator(
        featurewise_center=settings["normalize"],
        featurewise_std_normalization=settings["normalize"],
        rescale=1.0 / 255,
    )
    val_generator.mean, val_generator.std = generator.mean, generator.std
    # The generator normalises, so the model starts at the network itself.
    model = build_cnn(settings["architecture"], x.shape[1:], num_classes)
    model = keras.Model(model.get_layer("rescale").output, model.output)
    # One step per call into the graph, as Keras' fit did for the study.
    compile_model(model, settings, steps_per_epoch=len(x) // settings["batch_size"])
    y_hot = keras.utils.to_categorical(y, num_classes)
    y_val_hot = keras.utils.to_categorical(y_val, num_classes)

    def run_epoch():
        model.fit(
            generator.flow(x, y_hot, batch_size=settings["batch_size"], shuffle=True),
            validation_data=val_generator.flow(x_val, y_val_hot, batch_size=settings["batch_size"]),
            epochs=1,
            verbose=0,
        )

    return run_epoch


def project_epoch_runner(settings, x, y, x_val, y_val, num_classes, threads, steps_per_execution):
    """This project's way, as a training job runs it: the backend's pipeline
    (convstudy.pipeline.train_data / eval_data) into fit, steps_per_execution."""
    from convstudy.models.cnn import build_cnn
    from convstudy.pipeline import eval_data, featurewise_stats, steps_per_epoch, train_data
    from convstudy.training import compile_model

    mean = variance = None
    if settings["normalize"]:
        mean, variance = featurewise_stats(x)
    model = build_cnn(
        settings["architecture"],
        x.shape[1:],
        num_classes,
        mean=None if mean is None else mean.tolist(),
        variance=None if variance is None else variance.tolist(),
    )
    steps = steps_per_epoch(len(x), settings["batch_size"])
    compile_model(model, settings, steps, steps_per_execution=steps_per_execution)
    options = runtime.RunOptions(threads=threads)
    train = train_data(x, y, num_classes, settings["batch_size"], settings["augment"], options)
    val = eval_data(x_val, y_val, num_classes, 256, options)
    epoch = iter(range(10**6))

    def run_epoch():
        model.fit(train.epoch(next(epoch)), validation_data=val, epochs=1, verbose=0, shuffle=False)

    return run_epoch


def timed(run):
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--steps-per-execution",
        type=int,
        default=None,
        help="default: the config's training.steps_per_execution",
    )
    parser.add_argument("--variants", default="augmented,batchnorm")
    parser.add_argument(
        "--no-total", action="store_true", help="skip the estimate of the whole CIFAR part"
    )
    args = parser.parse_args(argv)

    runtime.configure(runtime.RunOptions(threads=args.threads))
    import numpy as np

    from convstudy.config import cifar_variants, load_config

    config = load_config()
    variants = cifar_variants(config)
    spe = args.steps_per_execution or config["training"]["steps_per_execution"]
    num_classes = config["cifar"]["num_classes"]
    rng = np.random.default_rng(0)
    n_train, n_val = 450 * num_classes, 50 * num_classes
    x = rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8)
    y = np.arange(n_train) % num_classes
    x_val = rng.integers(0, 256, (n_val, 32, 32, 3), dtype=np.uint8)
    y_val = np.arange(n_val) % num_classes
    print(
        f"{n_train} training + {n_val} validation images, {args.threads} threads, "
        f"steps_per_execution {spe}, {args.rounds} rounds after a warm-up"
    )

    ratios = {}
    for name in args.variants.split(","):
        settings = variants[name]["settings"]
        study = study_epoch_runner(settings, x, y, x_val, y_val, num_classes)
        ours = project_epoch_runner(settings, x, y, x_val, y_val, num_classes, args.threads, spe)
        study(), ours()  # warm-up: tracing, thread pools, caches
        times = {"study": [], "ours": []}
        for _ in range(args.rounds):
            times["study"].append(timed(study))
            times["ours"].append(timed(ours))
        med = {k: statistics.median(v) for k, v in times.items()}
        ratios[name] = med["study"] / med["ours"]
        print(
            f"{name:>10}: study pipeline {med['study']:6.2f} s/epoch, "
            f"this project {med['ours']:6.2f} s/epoch, speed-up {ratios[name]:.2f}x "
            f"(rounds: study {[round(t, 2) for t in times['study']]}, "
            f"ours {[round(t, 2) for t in times['ours']]})"
        )

    if not args.no_total:
        total = 0.0
        print(
            "\nestimated training time of the CIFAR part at the default config "
            f"({args.threads} threads; one timed epoch per variant after a warm-up):"
        )
        for name, info in variants.items():
            settings = info["settings"]
            run = project_epoch_runner(settings, x, y, x_val, y_val, num_classes, args.threads, spe)
            run()
            seconds = timed(run)
            total += seconds * settings["epochs"]
            print(
                f"{name:>12}: {seconds:6.1f} s/epoch x {settings['epochs']:3d} epochs = "
                f"{seconds * settings['epochs'] / 60:6.1f} min"
            )
        print(f"{'total':>12}: {total / 60:.1f} min")
    return ratios


if __name__ == "__main__":
    main()
