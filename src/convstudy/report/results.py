"""Numbers of the report, every one read from the experiments' ``metrics.json`` and
their per-image test predictions (``predictions.npz`` beside each): one row per
experiment and replicate, aggregates over replicates (with the replicates'
ensemble), the paired comparison of each step with its base (replicate k against
replicate k, image i against image i), and the best experiment (on validation).
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..files import atomic_path, load_predictions, read_json
from .stats import (
    Interval,
    StepComparison,
    accuracy_interval,
    compare_step,
    ensemble_accuracy,
    t_interval,
)

#: {part: {experiment: [metrics of replicate 0, 1, ...]}} in the registry's order.
Grouped = dict[str, dict[str, list[dict]]]

#: Columns of summary.csv, one row per experiment and replicate; every number is
#: copied from that replicate's metrics.json.
SUMMARY_FIELDS = (
    "part",
    "experiment",
    "replicate",
    "seed",
    "kind",
    "base",
    "adds",
    "parameters",
    "epochs",
    "training_seconds",
    "test_accuracy",
    "test_top5_accuracy",
    "test_loss",
    "test_examples",
    "best_val_accuracy",
    "best_val_epoch",
    "final_val_accuracy",
    "commit",
)

#: Measures aggregated over replicates: name -> value in one metrics.json. All but
#: the loss are accuracies: their intervals stay within [0, 1] (logit scale).
MEASURES: dict[str, Callable[[Mapping], float]] = {
    "test_accuracy": lambda m: m["test"]["accuracy"],
    "test_top5_accuracy": lambda m: m["test"]["top5_accuracy"],
    "test_loss": lambda m: m["test"]["loss"],
    "best_val_accuracy": lambda m: m["best_val_accuracy"],
    "final_val_accuracy": lambda m: m["final_val_accuracy"],
}

#: Columns of aggregates.csv, one row per experiment.
AGGREGATE_FIELDS = (
    "part",
    "experiment",
    "kind",
    "base",
    "replicates",
    "parameters",
    "epochs",
    "training_seconds_mean",
    "test_examples",
    *(f"{m}_{s}" for m in MEASURES for s in ("mean", "std", "ci_low", "ci_high")),
    "test_accuracy_seed_ci_low",
    "test_accuracy_seed_ci_high",
    "ensemble_test_accuracy",
)

#: Columns of steps.csv: each experiment against what it builds on, paired by replicate
#: and by test image. ``ci``: the interval counting the training seeds and the test
#: images (what the verdict reads); ``seed_ci``: the seeds only (the test set fixed).
STEP_FIELDS = (
    "part",
    "experiment",
    "base",
    "replicates",
    "test_examples",
    "test_accuracy",
    "base_test_accuracy",
    "difference_mean",
    "difference_ci_low",
    "difference_ci_high",
    "difference_df",
    "difference_seed_std",
    "difference_seed_ci_low",
    "difference_seed_ci_high",
    "p_improvement",
    "p_improvement_ci_low",
    "p_improvement_ci_high",
    "verdict",
    "no_verdict_because",
)


#: The per-image test predictions of a run, beside its metrics.json.
PREDICTIONS = "predictions.npz"


def load_metrics(paths: Sequence[str | Path]) -> list[dict]:
    """Each run's metrics, with ``path``: where it was read (its predictions lie beside)."""
    metrics = []
    for path in paths:
        data = read_json(path)
        missing = [k for k in ("part", "experiment", "test", "epochs") if k not in data]
        if missing:
            raise ValueError(f"{path}: not an experiment's metrics file (missing {missing})")
        data.setdefault("replicate", 0)
        data["path"] = str(path)
        metrics.append(data)
    return metrics


def predictions(run: Mapping) -> dict[str, np.ndarray]:
    """The per-image test predictions of one run (``probabilities``, ``predicted``, ``labels``)."""
    return _predictions(str(Path(run["path"]).with_name(PREDICTIONS)))


@functools.lru_cache(maxsize=256)
def _predictions(path: str) -> dict[str, np.ndarray]:
    # The tables, the steps and the figures read the same files again and again.
    return load_predictions(path)


def correct(runs: Sequence[Mapping]) -> np.ndarray:
    """Per-image correctness ``[K, N]`` of an experiment's replicates, on one test set."""
    rows = [predictions(m) for m in runs]
    labels = rows[0]["labels"]
    for m, row in zip(runs, rows, strict=True):
        if not np.array_equal(row["labels"], labels):
            raise ValueError(f"{m['path']}: another test set than replicate 0's")
    return np.stack([row["predicted"] == row["labels"] for row in rows])


def ensemble(runs: Sequence[Mapping]) -> float | None:
    """Test accuracy of the replicates' ensemble (mean of their class probabilities);
    None for a single run. Replicates cost N trainings: their ensemble is free."""
    if len(runs) < 2:
        return None
    rows = [predictions(m) for m in runs]
    probabilities = np.stack([row["probabilities"] for row in rows])
    return ensemble_accuracy(probabilities, rows[0]["labels"])


def group_metrics(metrics: Sequence[Mapping], parts: Mapping[str, Mapping]) -> Grouped:
    """Metrics of each run part and experiment, replicate 0 first. The replicates are
    those the metrics hold; every experiment must have every one of them."""
    by_key = {(m["part"], m["experiment"], m["replicate"]): m for m in metrics}
    replicates = sorted({m["replicate"] for m in metrics})
    grouped: Grouped = {}
    for part, entry in parts.items():
        if entry["status"] != "run":
            continue
        missing = [
            f"{n} (replicate {k})" if len(replicates) > 1 else n
            for n in entry["experiments"]
            for k in replicates or [0]
            if (part, n, k) not in by_key
        ]
        if missing:
            raise ValueError(f"no metrics for {part} experiment(s) {', '.join(missing)}")
        grouped[part] = {
            n: [by_key[(part, n, k)] for k in replicates] for n in entry["experiments"]
        }
    return grouped


def by_experiment(metrics: Sequence[Mapping]) -> dict[str, list[dict]]:
    """Metrics of one part by experiment (in the order given), replicate 0 first."""
    runs: dict[str, list[dict]] = {}
    for m in metrics:
        runs.setdefault(m["experiment"], []).append(m)
    return {n: sorted(ms, key=lambda m: m["replicate"]) for n, ms in runs.items()}


def measure(runs: Sequence[Mapping], name: str) -> list[float]:
    return [float(MEASURES[name](m)) for m in runs]


def best_experiment(experiments: Mapping[str, Sequence[Mapping]]) -> str:
    """The experiment with the best mean final validation accuracy (the saved models'),
    the first of equals. The test set plays no part in the choice."""
    if not experiments:
        raise ValueError("no experiments to choose from")
    return max(
        experiments, key=lambda n: float(np.mean(measure(experiments[n], "final_val_accuracy")))
    )


def rank_classes(per_class: Mapping[str, float | None]) -> list[tuple[str, float]]:
    """Classes with test examples, best first (ties by name, so the order is stable)."""
    scored = [(name, float(acc)) for name, acc in per_class.items() if acc is not None]
    return sorted(scored, key=lambda item: (-item[1], item[0]))


def best_and_worst(
    per_class: Mapping[str, float | None], n: int
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The ``n`` best and ``n`` worst classes (worst last); all classes split in two
    when there are no more than ``2 n``."""
    ranked = rank_classes(per_class)
    if len(ranked) <= 2 * n:
        half = math.ceil(len(ranked) / 2)
        return ranked[:half], ranked[half:]
    return ranked[:n], ranked[-n:]


def mean_per_class(runs: Sequence[Mapping]) -> dict[str, float | None]:
    """Per-class test accuracy averaged over replicates (None: no test examples)."""
    names = list(runs[0]["test"]["per_class_accuracy"])
    out = {}
    for name in names:
        values = [m["test"]["per_class_accuracy"][name] for m in runs]
        out[name] = None if any(v is None for v in values) else float(np.mean(values))
    return out


def pooled_confusion(runs: Sequence[Mapping]) -> list[list[int]]:
    """Confusion matrices of the replicates summed: every replicate's test predictions."""
    return np.sum([np.asarray(m["test"]["confusion_matrix"]) for m in runs], axis=0).tolist()


def summary_rows(grouped: Grouped, parts: Mapping[str, Mapping]) -> list[dict]:
    rows = []
    for part, experiments in grouped.items():
        for name, runs in experiments.items():
            info = parts[part]["experiments"][name]
            for m in runs:
                test = m["test"]
                rows.append(
                    {
                        "part": part,
                        "experiment": name,
                        "replicate": m["replicate"],
                        "seed": m.get("seed", ""),
                        "kind": info.get("kind") or "",
                        "base": info.get("compare_to") or info.get("base") or "",
                        "adds": " ".join(str(info.get("description") or "").split()),
                        "parameters": m["parameters"],
                        "epochs": m["epochs"],
                        "training_seconds": m["training_seconds"],
                        "test_accuracy": test["accuracy"],
                        "test_top5_accuracy": test["top5_accuracy"],
                        "test_loss": test["loss"],
                        "test_examples": test["examples"],
                        "best_val_accuracy": m["best_val_accuracy"],
                        "best_val_epoch": m["best_val_epoch"],
                        "final_val_accuracy": m["final_val_accuracy"],
                        "commit": training_provenance(m).get("commit") or "",
                    }
                )
    return rows


def training_provenance(run: Mapping) -> dict:
    """What the training job of a run recorded about itself (empty when nothing)."""
    return (run.get("provenance") or {}).get("training") or {}


def aggregate(runs: Sequence[Mapping]) -> dict[str, Interval]:
    """Each measure of ``MEASURES`` over the replicates of one experiment. The test
    accuracy's interval counts the seeds and the test images (per-image predictions);
    the others', the seeds: every accuracy's interval stays within [0, 1]."""
    out = {name: t_interval(measure(runs, name), bounded=name != "test_loss") for name in MEASURES}
    out["test_accuracy"] = accuracy_interval(correct(runs))
    return out


def aggregate_rows(grouped: Grouped, parts: Mapping[str, Mapping]) -> list[dict]:
    rows = []
    for part, experiments in grouped.items():
        for name, runs in experiments.items():
            info = parts[part]["experiments"][name]
            row = {
                "part": part,
                "experiment": name,
                "kind": info.get("kind") or "",
                "base": info.get("compare_to") or info.get("base") or "",
                "replicates": len(runs),
                "parameters": runs[0]["parameters"],
                "epochs": runs[0]["epochs"],
                "training_seconds_mean": float(np.mean([m["training_seconds"] for m in runs])),
                "test_examples": runs[0]["test"]["examples"],
            }
            for measure_name, interval in aggregate(runs).items():
                row[f"{measure_name}_mean"] = interval.mean
                row[f"{measure_name}_std"] = interval.std
                row[f"{measure_name}_ci_low"] = interval.low
                row[f"{measure_name}_ci_high"] = interval.high
            seed_only = t_interval(measure(runs, "test_accuracy"), bounded=True)
            row["test_accuracy_seed_ci_low"] = seed_only.low
            row["test_accuracy_seed_ci_high"] = seed_only.high
            row["ensemble_test_accuracy"] = ensemble(runs)
            rows.append(row)
    return rows


def step(runs: Sequence[Mapping], base_runs: Sequence[Mapping]) -> StepComparison:
    """An experiment against its base: replicate k against replicate k (same seed, same
    data), image i against image i (the same test set)."""
    return compare_step(correct(runs), correct(base_runs))


def step_rows(grouped: Grouped, parts: Mapping[str, Mapping]) -> list[dict]:
    rows = []
    for part, experiments in grouped.items():
        for name, runs in experiments.items():
            base = parts[part]["experiments"][name].get("compare_to")
            if base is None:
                continue
            found = step(runs, experiments[base])
            rows.append(
                {
                    "part": part,
                    "experiment": name,
                    "base": base,
                    "replicates": found.replicates,
                    "test_examples": found.images,
                    "test_accuracy": float(np.mean(measure(runs, "test_accuracy"))),
                    "base_test_accuracy": float(
                        np.mean(measure(experiments[base], "test_accuracy"))
                    ),
                    "difference_mean": found.mean,
                    "difference_ci_low": found.low,
                    "difference_ci_high": found.high,
                    "difference_df": found.df,
                    "difference_seed_std": found.seed_only.std,
                    "difference_seed_ci_low": found.seed_only.low,
                    "difference_seed_ci_high": found.seed_only.high,
                    "p_improvement": found.p_improvement,
                    "p_improvement_ci_low": found.p_low,
                    "p_improvement_ci_high": found.p_high,
                    "verdict": found.verdict or "",
                    "no_verdict_because": found.reason or "",
                }
            )
    return rows


def write_csv(path: str | Path, fields: Sequence[str], rows: Sequence[Mapping]) -> None:
    """Rows at full precision; an undefined value (a single run's spread) is empty."""
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in fields})
