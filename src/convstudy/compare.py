"""Two finished runs of the same experiments side by side (``convstudy compare A B``).

Say, the TensorFlow and the JAX backend, or two code versions: for every experiment
that both runs hold, the mean and 95% interval of each measure per run, and the
difference B - A with its interval. The difference is paired replicate by replicate
when both runs trained the same replicates with the same seeds on the same backend
(replicate k then shares initialisation, batch order and augmentation with its
counterpart, and pairing removes that shared spread); otherwise nothing pairs the
runs and Welch's t compares them as independent samples.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .report.stats import CONFIDENCE, Interval, paired_difference, t_interval

#: The measures compared, in table order: label -> value from a metrics.json.
MEASURES: dict[str, Callable[[Mapping], float]] = {
    "test accuracy": lambda m: m["test"]["accuracy"],
    "final val. accuracy": lambda m: m["final_val_accuracy"],
}

#: Where a run keeps its metrics: <results>/<part>/<experiment>/rep<k>/metrics.json.
METRICS_GLOB = "*/*/rep*/metrics.json"


class CompareError(Exception):
    """A run that cannot be compared (no metrics, unreadable metrics); one line."""


@dataclass(frozen=True)
class Replicate:
    """What the comparison needs of one metrics.json."""

    replicate: int
    seed: int
    backend: str
    values: dict[str, float]


#: {(part, experiment): replicates sorted by replicate number}
Run = dict[tuple[str, str], list[Replicate]]


@dataclass(frozen=True)
class Difference:
    """B - A of one measure and its interval (None: too few replicates for one)."""

    estimate: float
    low: float | None
    high: float | None


def read_replicate(path: Path) -> Replicate:
    """One metrics.json; a missing file, bad JSON or missing key is a CompareError naming it."""
    try:
        metrics = json.loads(path.read_text())
        return Replicate(
            replicate=int(path.parent.name.removeprefix("rep")),
            seed=metrics["seed"],
            backend=metrics["backend"],
            values={label: float(get(metrics)) for label, get in MEASURES.items()},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        detail = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise CompareError(f"{path}: unreadable metrics ({detail})") from None


def load_run(results: Path) -> Run:
    """Every replicate of every experiment of a results directory."""
    paths = sorted(results.glob(METRICS_GLOB))
    if not paths:
        raise CompareError(
            f"{results}: no metrics (expected <part>/<experiment>/rep<k>/metrics.json under it)"
        )
    run: Run = {}
    for path in paths:
        key = (path.parents[2].name, path.parents[1].name)
        run.setdefault(key, []).append(read_replicate(path))
    for replicates in run.values():
        replicates.sort(key=lambda r: r.replicate)
    return run


def pairing(a: Sequence[Replicate], b: Sequence[Replicate]) -> str | None:
    """Why the runs cannot be paired, or None when they can: pairing needs replicate k
    of both runs to have trained with the same seed on the same backend."""
    reps_a, reps_b = [r.replicate for r in a], [r.replicate for r in b]
    if reps_a != reps_b:
        return f"replicates differ (A: {_numbers(reps_a)}; B: {_numbers(reps_b)})"
    seeds = [(x.replicate, x.seed, y.seed) for x, y in zip(a, b, strict=True) if x.seed != y.seed]
    if seeds:
        rep, seed_a, seed_b = seeds[0]
        return f"seeds differ (replicate {rep}: A {seed_a}, B {seed_b})"
    backends = [(x.backend, y.backend) for x, y in zip(a, b, strict=True) if x.backend != y.backend]
    if backends:
        return f"backends differ (A: {backends[0][0]}; B: {backends[0][1]})"
    return None


def _numbers(values: Iterable[int]) -> str:
    return ", ".join(map(str, values))


def welch_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Mean of B minus mean of A with Welch's interval (none below two values per run;
    a point when neither run varies, where Welch's degrees of freedom are 0/0)."""
    estimate = float(np.mean(b) - np.mean(a))
    if min(len(a), len(b)) < 2:
        return Difference(estimate, None, None)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return Difference(estimate, estimate, estimate)
    from scipy import stats  # a second to import: only comparisons with intervals pay

    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(CONFIDENCE)
    return Difference(estimate, float(ci.low), float(ci.high))


def paired(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Mean of the per-replicate differences B - A with its Student-t interval."""
    d = paired_difference(b, a)
    return Difference(d.mean, d.low, d.high)


@dataclass(frozen=True)
class Row:
    """One table row: an experiment's measure in both runs and their difference."""

    part: str
    experiment: str
    measure: str
    a: Interval
    b: Interval
    difference: Difference
    method: str


def compare_experiment(part: str, name: str, a: list[Replicate], b: list[Replicate]) -> list[Row]:
    """The rows of one experiment, one per measure, all with the same test."""
    unpaired = pairing(a, b)
    if unpaired is None:
        method, difference = "paired: same replicates, seeds and backend", paired
    else:
        method, difference = f"Welch: {unpaired}", welch_difference
    rows = []
    for measure in MEASURES:
        va = [r.values[measure] for r in a]
        vb = [r.values[measure] for r in b]
        # Both measures are accuracies: their intervals (logit scale) stay within [0, 1].
        per_run = (t_interval(va, bounded=True), t_interval(vb, bounded=True))
        rows.append(Row(part, name, measure, *per_run, difference(va, vb), method))
    return rows


@dataclass(frozen=True)
class Comparison:
    """Rows of the experiments in both runs, and the experiments in one run only."""

    rows: list[Row]
    only_a: list[tuple[str, str]]
    only_b: list[tuple[str, str]]


def select(run: Run, part: str | None, experiments: Sequence[str] | None) -> Run:
    """The experiments of ``run`` in ``part`` (all parts when None) and in ``experiments``."""
    return {
        key: reps
        for key, reps in run.items()
        if (part is None or key[0] == part) and (experiments is None or key[1] in experiments)
    }


def compare_runs(run_a: Run, run_b: Run) -> Comparison:
    """Rows for every experiment of both runs, sorted by part and experiment."""
    both = [key for key in sorted(run_a) if key in run_b]
    rows = [row for key in both for row in compare_experiment(*key, run_a[key], run_b[key])]
    return Comparison(
        rows,
        only_a=sorted(set(run_a) - set(run_b)),
        only_b=sorted(set(run_b) - set(run_a)),
    )


def _value(x: float | None, sign: bool = False) -> str:
    """Four decimals; a difference keeps its sign, and -0.0000 reads +0.0000."""
    if x is None:
        return "-"
    x = round(x, 4) + 0.0
    return f"{x:+.4f}" if sign else f"{x:.4f}"


def _interval(low: float | None, high: float | None, sign: bool = False) -> str:
    return "-" if low is None else f"[{_value(low, sign)}, {_value(high, sign)}]"


def format_markdown(comparison: Comparison, label_a: str, label_b: str) -> str:
    """The comparison as Markdown: the table, then the experiments of one run only."""
    pct = f"{CONFIDENCE:.0%}"
    lines = [
        f"A: `{label_a}`  ",
        f"B: `{label_b}`",
        "",
        f"| part | experiment | measure | n A | A mean | A {pct} CI | n B | B mean | B {pct} CI "
        f"| B - A | {pct} CI | test |",
        "|---|---|---|--:|--:|---|--:|--:|---|--:|---|---|",
    ]
    for r in comparison.rows:
        d = r.difference
        lines.append(
            f"| {r.part} | {r.experiment} | {r.measure} "
            f"| {r.a.n} | {_value(r.a.mean)} | {_interval(r.a.low, r.a.high)} "
            f"| {r.b.n} | {_value(r.b.mean)} | {_interval(r.b.low, r.b.high)} "
            f"| {_value(d.estimate, True)} | {_interval(d.low, d.high, True)} | {r.method} |"
        )
    for label, only in (("A", comparison.only_a), ("B", comparison.only_b)):
        if only:
            names = ", ".join(f"{part}/{name}" for part, name in only)
            lines += ["", f"Only in {label} (not compared): {names}"]
    return "\n".join(lines) + "\n"


def compare(
    a: Path,
    b: Path,
    part: str | None = None,
    experiments: Sequence[str] | None = None,
) -> str:
    """The Markdown comparison of two results directories (``convstudy compare``)."""
    run_a = select(load_run(a), part, experiments)
    run_b = select(load_run(b), part, experiments)
    comparison = compare_runs(run_a, run_b)
    if not comparison.rows:
        wanted = f" in part {part}" if part else ""
        wanted += f" among {', '.join(experiments)}" if experiments else ""
        raise CompareError(f"no experiment{wanted} is in both {a} and {b}")
    return format_markdown(comparison, str(a), str(b))
