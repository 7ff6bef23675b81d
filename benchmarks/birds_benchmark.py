#!/usr/bin/env python3
"""Speed and memory of the birds part, in one run (synthetic data, random weights).

Prints:
  1. ResNet50 feature extraction: images/second at the configured image size.
  2. Training every configured head from the feature cache, against one head
     (the first) re-running the frozen backbone on every batch of every epoch,
     and the ratio of the two.
  3. Peak memory of preprocessing (decoding a synthetic archive into the
     arrays), as a multiple of the final arrays (the aim: at most about 2x).
  4. Peak memory of fine-tuning (the first fine-tuning variant, a few steps).

Each measurement runs in a child process, so peak memory is its own.
Weights do not change speed, so random weights are used and nothing is downloaded.

usage: python benchmarks/birds_benchmark.py [--config config/config.yaml]
           [--image-size N] [--images N] [--train-images N] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def load(config_path: str, overrides: dict | None = None):
    from convstudy.config import birds_experiments, load_config, load_schema

    config = load_config(config_path, overrides)
    return config, birds_experiments(config, load_schema())


# ----------------------------------------------------------------------------- children


def child_backbone(args) -> dict:
    from convstudy import runtime

    runtime.configure(runtime.RunOptions(threads=args.threads))
    import numpy as np

    from convstudy.models.resnet import build_backbone, build_extractor

    config, _ = load(args.config)
    size = args.image_size or config["birds"]["image_size"]
    batch = config["birds"]["inference_batch_size"]
    shape = (size, size, 3)
    extractor = build_extractor(build_backbone(None, shape), shape, spatial=False)
    images = np.random.default_rng(0).integers(0, 256, (args.images, *shape), dtype=np.uint8)
    extractor.predict_on_batch(images[:batch])  # trace and warm up
    began = time.perf_counter()
    for start in range(0, len(images), batch):
        extractor.predict_on_batch(images[start : start + batch])
    seconds = time.perf_counter() - began
    return {
        "image_size": size,
        "batch": batch,
        "images": len(images),
        "seconds": seconds,
        "images_per_second": len(images) / seconds,
    }


def child_heads(args) -> dict:
    """All heads on cached (synthetic) features; one head re-running the backbone."""
    from convstudy import runtime

    runtime.configure(runtime.RunOptions(threads=args.threads))
    import keras
    import numpy as np

    from convstudy.models.heads import build_head
    from convstudy.models.resnet import build_backbone, build_finetune_model
    from convstudy.models.spec import spatial_shape
    from convstudy.pipeline.tfdata import train_dataset
    from convstudy.training import compile_model

    config, experiments = load(args.config)
    size = args.image_size or config["birds"]["image_size"]
    k = config["birds"]["synthetic"]["num_classes"]
    n = args.train_images
    rng = np.random.default_rng(0)
    y = (np.arange(n) % k).astype(np.int32)
    heads = {name: e["settings"] for name, e in experiments.items() if e["kind"] == "head"}
    features = {"pooled": rng.normal(size=(n, 2048)).astype(np.float32)}
    if any(s["features"] == "spatial" for s in heads.values()):
        features["spatial"] = rng.normal(size=(n, *spatial_shape(size))).astype(np.float16)
    times = {}
    for name, settings in heads.items():
        x = features[settings["features"]]
        model = build_head(settings, x.shape[1:], k)
        steps = -(-n // settings["batch_size"])
        compile_model(model, settings, steps, steps_per_execution=min(steps, 32))
        began = time.perf_counter()
        for epoch in range(settings["epochs"]):
            model.fit(train_dataset(x, y, k, settings["batch_size"], {}, 0, epoch), verbose=0)
        times[name] = time.perf_counter() - began
    # The first head again, this time behind the frozen backbone, as if there were no
    # cache: time `probe` batches of one epoch, scaled to the head's epochs.
    first, settings = next(iter(heads.items()))
    shape = (size, size, 3)
    model = build_finetune_model(
        build_backbone(None, shape), build_head(settings, (2048,), k), shape, "conv5"
    )
    model.get_layer("resnet50").trainable = False
    batch = settings["batch_size"]
    steps = -(-n // batch)
    probe = min(steps, args.probe_steps)
    compile_model(model, settings, steps)
    images = rng.integers(0, 256, (batch * (probe + 1), *shape), dtype=np.uint8)
    onehot = keras.utils.to_categorical(rng.integers(0, k, len(images)), k)
    model.train_on_batch(images[:batch], onehot[:batch])  # trace and warm up
    began = time.perf_counter()
    for i in range(1, probe + 1):
        model.train_on_batch(
            images[i * batch : (i + 1) * batch], onehot[i * batch : (i + 1) * batch]
        )
    per_step = (time.perf_counter() - began) / probe
    rerun = per_step * steps * settings["epochs"]
    return {
        "train_images": n,
        "heads_seconds": times,
        "all_heads_seconds": sum(times.values()),
        "rerun_head": first,
        "rerun_epochs": settings["epochs"],
        "rerun_seconds_per_step": per_step,
        "rerun_probe_steps": probe,
        "rerun_seconds": rerun,
    }


def child_preprocess(args) -> dict:
    """Decode the archive the parent wrote (so the writer's memory is not counted)."""
    from convstudy.data.birds import load_birds

    config, _ = load(args.config)
    size = args.image_size or config["birds"]["image_size"]
    archives = {r: str(Path(args.archive_dir) / f"{r}.tgz") for r in ("images", "lists")}
    base = rss_mb()
    began = time.perf_counter()
    data, _ = load_birds(
        "cub200",
        archives,
        image_size=size,
        validation_fraction=config["birds"]["validation_fraction"],
        seed=0,
        threads=args.threads,
    )
    seconds = time.perf_counter() - began
    final = sum(data[f"x_{p}"].nbytes for p in ("train", "val", "test")) / 1e6
    peak = peak_rss_mb()
    return {
        "images": sum(len(data[f"y_{p}"]) for p in ("train", "val", "test")),
        "image_size": size,
        "seconds": seconds,
        "final_arrays_mb": final,
        "baseline_mb": base,
        "peak_above_baseline_mb": peak - base,
        "ratio": (peak - base) / final,
    }


def child_finetune(args) -> dict:
    from convstudy import runtime

    runtime.configure(runtime.RunOptions(threads=args.threads))
    import keras
    import numpy as np
    import tensorflow as tf

    from convstudy.models.heads import build_head
    from convstudy.models.resnet import build_backbone, build_finetune_model
    from convstudy.models.spec import check_head
    from convstudy.training import compile_model

    config, experiments = load(args.config)
    finetunes = {n: e["settings"] for n, e in experiments.items() if e["kind"] == "finetune"}
    if not finetunes:
        return {"skipped": "no fine-tuning variant in the config"}
    name, settings = next(iter(finetunes.items()))
    head_settings = experiments[settings["head"]]["settings"]
    size = args.image_size or config["birds"]["image_size"]
    k = config["birds"]["synthetic"]["num_classes"]
    shape = (size, size, 3)
    base = rss_mb()
    head = build_head(head_settings, check_head(head_settings, size)["input_shape"], k)
    model = build_finetune_model(build_backbone(None, shape), head, shape, settings["unfreeze"])
    batch = settings["batch_size"]
    compile_model(model, settings, 100)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, *shape), dtype=np.uint8)
    yk = keras.utils.to_categorical(rng.integers(0, k, batch), k)
    began = time.perf_counter()
    for _ in range(args.finetune_steps):
        model.train_on_batch(x, yk)
    seconds = (time.perf_counter() - began) / args.finetune_steps
    out = {
        "variant": name,
        "unfreeze": settings["unfreeze"],
        "batch": batch,
        "image_size": size,
        "steps": args.finetune_steps,
        "seconds_per_step_incl_first": seconds,
        "baseline_mb": base,
        "peak_rss_mb": peak_rss_mb(),
    }
    if tf.config.list_physical_devices("GPU"):
        out["gpu_peak_mb"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 1e6
    return out


CHILDREN = {
    "backbone": child_backbone,
    "heads": child_heads,
    "preprocess": child_preprocess,
    "finetune": child_finetune,
}


# ----------------------------------------------------------------------------- main


def run_child(step: str, argv: list[str]) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", step, *argv], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    p.add_argument("--image-size", type=int, default=0, help="default: the config's")
    p.add_argument("--images", type=int, default=256, help="images for speed and preprocessing")
    p.add_argument(
        "--train-images",
        type=int,
        default=2700,
        help="cached training examples per head (CUB-200 2010: about 2,700)",
    )
    p.add_argument("--probe-steps", type=int, default=5)
    p.add_argument("--finetune-steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    p.add_argument("--archive-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.image_size = args.image_size or 64
        args.images = min(args.images, 40)
        args.train_images = min(args.train_images, 200)
        args.probe_steps = min(args.probe_steps, 2)
        args.finetune_steps = min(args.finetune_steps, 2)
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return
    argv = [
        f"--config={args.config}",
        f"--image-size={args.image_size}",
        f"--images={args.images}",
        f"--train-images={args.train_images}",
        f"--probe-steps={args.probe_steps}",
        f"--finetune-steps={args.finetune_steps}",
        f"--threads={args.threads}",
    ]
    from convstudy.data.synthetic_birds import write_synthetic_birds

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_birds(
            tmp,
            "cub200",
            num_classes=20,
            train_per_class=max(2, args.images // 40),
            test_per_class=max(1, args.images // 40),
            seed=0,
        )
        for step in CHILDREN:
            results[step] = run_child(step, [*argv, f"--archive-dir={tmp}"])
    b, h, m, f = (results[s] for s in ("backbone", "heads", "preprocess", "finetune"))
    print(
        f"1. feature extraction: {b['images_per_second']:.1f} images/s "
        f"({b['images']} images at {b['image_size']}x{b['image_size']}, batch {b['batch']}, "
        f"{args.threads} threads)"
    )
    heads = ", ".join(f"{n} {s:.1f}s" for n, s in h["heads_seconds"].items())
    print(
        f"2. all heads from the cache ({h['train_images']} examples): "
        f"{h['all_heads_seconds']:.1f}s ({heads})"
    )
    print(
        f"   one head ({h['rerun_head']}, {h['rerun_epochs']} epochs) re-running the backbone "
        f"each epoch: {h['rerun_seconds']:.0f}s (measured {h['rerun_probe_steps']} steps of "
        f"{h['rerun_seconds_per_step']:.2f}s, scaled)"
    )
    print(f"   ratio: {h['rerun_seconds'] / h['all_heads_seconds']:.0f}x longer without the cache")
    print(
        f"3. preprocessing {m['images']} images at {m['image_size']}px: peak "
        f"{m['peak_above_baseline_mb']:.0f} MB above the baseline for "
        f"{m['final_arrays_mb']:.0f} MB of arrays = {m['ratio']:.2f}x "
        f"({m['seconds']:.1f}s)"
    )
    if "skipped" in f:
        print(f"4. fine-tuning: {f['skipped']}")
    else:
        gpu = f", GPU peak {f['gpu_peak_mb']:.0f} MB" if "gpu_peak_mb" in f else ""
        print(
            f"4. fine-tuning {f['variant']} (from {f['unfreeze']}, batch {f['batch']}, "
            f"{f['image_size']}px): peak RSS {f['peak_rss_mb']:.0f} MB{gpu}; "
            f"{f['seconds_per_step_incl_first']:.1f}s per step over {f['steps']} steps "
            "(first step's tracing included)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
