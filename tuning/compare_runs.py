#!/usr/bin/env python3
"""Two runs of the same experiments (say, the TensorFlow and the JAX backend) side by
side: per experiment, the final validation accuracy of every replicate, mean and
standard deviation, and the difference of the means with its 95% interval (Welch's
t: the runs share no seeds' random streams, so nothing pairs them).

usage: compare_runs.py RESULTS_A/<part> RESULTS_B/<part> [--names basenet,resnet]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats


def final_val(part_dir: Path, name: str) -> list[float]:
    return [
        json.loads(path.read_text())["final_val_accuracy"]
        for path in sorted((part_dir / name).glob("rep*/metrics.json"))
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--names", help="experiments to compare (default: those in both)")
    args = parser.parse_args()
    names = (
        args.names.split(",")
        if args.names
        else sorted(
            {p.name for p in args.a.iterdir() if (p / "rep0").is_dir()}
            & {p.name for p in args.b.iterdir() if (p / "rep0").is_dir()}
        )
    )
    if not names:
        sys.exit("no experiment in both runs")
    print("experiment | run | replicates | final val. acc. | mean ± sd")
    for name in names:
        runs = {"A": final_val(args.a, name), "B": final_val(args.b, name)}
        for label, values in runs.items():
            shown = ", ".join(f"{v:.4f}" for v in values)
            sd = np.std(values, ddof=1) if len(values) > 1 else float("nan")
            print(f"{name} | {label} | {len(values)} | {shown} | {np.mean(values):.4f} ± {sd:.4f}")
        if min(len(v) for v in runs.values()) > 1:
            test = stats.ttest_ind(runs["B"], runs["A"], equal_var=False)
            ci = test.confidence_interval(0.95)
            diff = np.mean(runs["B"]) - np.mean(runs["A"])
            print(
                f"{name} | B - A | | {diff:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}] | Welch p = {test.pvalue:.2f}"
            )


if __name__ == "__main__":
    main()
