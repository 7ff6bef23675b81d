#!/usr/bin/env python3
"""Throughput of each kind of job at 1, 2, ... threads: what more threads buy.

Each measurement runs in a process of its own (TensorFlow sizes its thread pools
once per process), on random data of the real sizes, after a warm-up: CIFAR
variants (training images per second), a birds head (feature vectors per second),
ResNet50 feature extraction and fine-tuning at 224x224 (images per second). For
every job kind and thread count it prints the throughput, the speed-up over one
thread measured in the same run, and the throughput per core; the workflow's
``threads:`` choices follow from the last column (rules/common.smk, job_threads).

    python benchmarks/threads.py                      # every kind, 1..all cores
    python benchmarks/threads.py --kinds resnet,basenet --threads 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KINDS = ("basenet", "augmented", "deeper", "batchnorm", "resnet", "head", "extract", "finetune")


def _cifar(kind: str, threads: int, seconds: float) -> dict:
    import numpy as np

    from convstudy.config import cifar_variants, load_config
    from convstudy.models.cnn import build_cnn
    from convstudy.pipeline import featurewise_stats, train_data
    from convstudy.runtime import RunOptions
    from convstudy.training import compile_model

    settings = cifar_variants(load_config())[kind]["settings"]
    rng = np.random.default_rng(0)
    n = 12_500 // 4
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 25, n)
    mean, var = featurewise_stats(x)
    model = build_cnn(
        settings["architecture"], (32, 32, 3), 25, mean=mean.tolist(), variance=var.tolist()
    )
    batch = settings["batch_size"]
    steps = -(-n // batch)
    compile_model(model, settings, steps, steps_per_execution=32)
    data = train_data(x, y, 25, batch, settings["augment"], RunOptions(threads=threads, seed=7))
    return _timed(lambda e: model.fit(data.epoch(e), epochs=1, verbose=0), n, seconds)


def _head(threads: int, seconds: float) -> dict:
    import numpy as np

    from convstudy.config import birds_experiments, load_config, load_schema
    from convstudy.models.heads import build_head
    from convstudy.pipeline import train_data
    from convstudy.runtime import RunOptions
    from convstudy.training import compile_model

    settings = birds_experiments(load_config(), load_schema())["mlp"]["settings"]
    rng = np.random.default_rng(0)
    n = 2_700
    x = rng.normal(size=(n, 2048)).astype("float32")
    y = rng.integers(0, 200, n)
    model = build_head(settings, (2048,), 200)
    steps = -(-n // settings["batch_size"])
    compile_model(model, settings, steps, steps_per_execution=32)
    data = train_data(x, y, 200, settings["batch_size"], {}, RunOptions(threads=threads, seed=7))
    return _timed(lambda e: model.fit(data.epoch(e), epochs=1, verbose=0), n, seconds)


def _resnet(kind: str, threads: int, seconds: float) -> dict:
    import numpy as np

    from convstudy.config import birds_experiments, load_config, load_schema
    from convstudy.models.resnet import build_backbone, build_extractor, build_finetune_model
    from convstudy.pipeline import train_data
    from convstudy.runtime import RunOptions
    from convstudy.training import compile_model

    rng = np.random.default_rng(0)
    shape = (224, 224, 3)
    backbone = build_backbone(None, shape)
    if kind == "extract":
        extractor = build_extractor(backbone, shape, spatial=False)
        x = rng.integers(0, 256, (32, *shape), dtype=np.uint8)
        return _timed(lambda e: extractor.predict_on_batch(x), len(x), seconds)
    experiments = birds_experiments(load_config(), load_schema())
    settings = experiments["finetune_top"]["settings"]
    head_settings = experiments[settings["head"]]["settings"]
    from convstudy.models.heads import build_head

    head = build_head(head_settings, tuple(backbone.output.shape[1:]), 200)
    model = build_finetune_model(backbone, head, shape, settings["unfreeze"])
    n = 64
    x = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    y = rng.integers(0, 200, n)
    batch = settings["batch_size"]
    compile_model(model, settings, -(-n // batch), steps_per_execution=1)
    data = train_data(x, y, 200, batch, settings["augment"], RunOptions(threads=threads, seed=7))
    return _timed(lambda e: model.fit(data.epoch(e), epochs=1, verbose=0), n, seconds)


def _timed(step, items: int, seconds: float) -> dict:
    """Items per second over repeated steps, after one warm-up step (compilation)."""
    step(0)
    done, began, epoch = 0, time.perf_counter(), 1
    while time.perf_counter() - began < seconds or done == 0:
        step(epoch)
        done += items
        epoch += 1
    return {"items_per_second": done / (time.perf_counter() - began)}


def measure(kind: str, threads: int, seconds: float) -> dict:
    """One measurement, in this process (called in a child of its own)."""
    sys.path.insert(0, str(REPO / "src"))
    from convstudy import runtime

    runtime.configure(runtime.RunOptions(threads=threads, seed=7))
    if kind in ("head",):
        return _head(threads, seconds)
    if kind in ("extract", "finetune"):
        return _resnet(kind, threads, seconds)
    return _cifar(kind, threads, seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--threads", help="thread counts (default: 1..cores)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "THREADS", "SECONDS"))
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.child:
        kind, threads, seconds = args.child
        print(json.dumps(measure(kind, int(threads), float(seconds))))
        return 0
    counts = [int(t) for t in args.threads.split(",")] if args.threads else None
    counts = counts or list(range(1, (os.cpu_count() or 1) + 1))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    rows = []
    print(f"{'job kind':<11} {'threads':>7} {'items/s':>9} {'speed-up':>9} {'per core':>9}")
    for kind in args.kinds.split(","):
        base = None
        for threads in counts:
            cmd = [sys.executable, __file__, "--child", kind, str(threads), str(args.seconds)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            rate = json.loads(out.stdout.strip().splitlines()[-1])["items_per_second"]
            base = base or rate
            row = {"kind": kind, "threads": threads, "items_per_second": rate}
            row["speedup"] = rate / base
            row["per_core"] = row["speedup"] / threads
            rows.append(row)
            print(
                f"{kind:<11} {threads:>7} {rate:>9.1f} {row['speedup']:>8.2f}x "
                f"{row['per_core']:>8.2f}x",
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
