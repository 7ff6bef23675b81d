#!/usr/bin/env python3
"""Validation table of a tuning run: one row per experiment and replicate, from its
history and metrics.

Recipes are chosen on validation figures only; test accuracy is printed only with
--show-test (for the record, after the choice).

usage: summarize.py RESULTS_DIR/<part> [--show-test]
"""

import argparse
import csv
import json
import sys
from pathlib import Path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("part_dir", type=Path)
    parser.add_argument("--show-test", action="store_true")
    args = parser.parse_args()
    rows = []
    for history in sorted(args.part_dir.glob("*/rep*/history.csv")):
        with open(history) as fh:
            epochs = list(csv.DictReader(fh))
        val = [float(r["val_accuracy"]) for r in epochs]
        row = {
            "experiment": f"{history.parent.parent.name}/{history.parent.name}",
            "epochs": len(epochs),
            "final_val": val[-1],
            "best_val": max(val),
            "best_epoch": val.index(max(val)) + 1,
            "last5_val": sum(val[-5:]) / len(val[-5:]),
            "final_train": float(epochs[-1]["accuracy"]),
            "train_minutes": sum(float(r["seconds"]) for r in epochs) / 60,
        }
        metrics = history.parent / "metrics.json"
        if args.show_test and metrics.exists():
            row["test"] = json.loads(metrics.read_text())["test"]["accuracy"]
        rows.append(row)
    if not rows:
        sys.exit(f"no */rep*/history.csv under {args.part_dir}")
    rows.sort(key=lambda r: -r["last5_val"])
    keys = list(rows[0])
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys))


if __name__ == "__main__":
    main()
