#!/usr/bin/env python3
"""Two runs of the same experiments (say, the TensorFlow and the JAX backend) side by
side: per experiment and measure (final validation accuracy, test accuracy), every
replicate's value, mean and standard deviation, and the difference of the means with
its 95% interval (Welch's t: the runs share no random streams, so nothing pairs them).

usage: compare_runs.py RESULTS_A/<part> RESULTS_B/<part> [--names basenet,resnet]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

MEASURES = {
    "final val. acc.": lambda m: m["final_val_accuracy"],
    "test acc.": lambda m: m["test"]["accuracy"],
}


def replicates(part_dir: Path, name: str) -> list[dict]:
    """The metrics of every finished replicate of ``name``."""
    return [json.loads(p.read_text()) for p in sorted((part_dir / name).glob("rep*/metrics.json"))]


def finished(part_dir: Path) -> set[str]:
    return {p.parent.parent.name for p in part_dir.glob("*/rep*/metrics.json")}


def compare(name: str, runs: dict[str, list[dict]]) -> None:
    for measure, value in MEASURES.items():
        values = {label: [value(m) for m in metrics] for label, metrics in runs.items()}
        for label, vals in values.items():
            shown = ", ".join(f"{v:.4f}" for v in vals)
            sd = f"{np.std(vals, ddof=1):.4f}" if len(vals) > 1 else "-"
            print(
                f"{name} | {measure} | {label} | {len(vals)} | {shown} | {np.mean(vals):.4f} ± {sd}"
            )
        if min(len(v) for v in values.values()) > 1:
            test = stats.ttest_ind(values["B"], values["A"], equal_var=False)
            ci = test.confidence_interval(0.95)
            diff = np.mean(values["B"]) - np.mean(values["A"])
            print(
                f"{name} | {measure} | B - A | - | {diff:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]"
                f" | Welch p = {test.pvalue:.2f}"
            )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--names", help="experiments to compare (default: those in both)")
    args = parser.parse_args()
    names = args.names.split(",") if args.names else sorted(finished(args.a) & finished(args.b))
    if not names:
        sys.exit("no experiment has finished replicates in both runs")
    print("experiment | measure | run | replicates | per replicate | mean ± sd")
    for name in names:
        runs = {"A": replicates(args.a, name), "B": replicates(args.b, name)}
        empty = [str(getattr(args, label.lower())) for label, m in runs.items() if not m]
        if empty:
            print(f"{name}: no finished replicate in {', '.join(empty)}")
            continue
        compare(name, runs)


if __name__ == "__main__":
    main()
