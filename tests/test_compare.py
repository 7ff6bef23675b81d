"""convstudy compare: two runs of the same experiments side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SRC
from convstudy.compare import (
    CompareError,
    Replicate,
    compare,
    compare_runs,
    load_run,
    pairing,
)


def _run(
    results: Path,
    name: str,
    values: list[tuple[float, float]],
    part: str = "cifar",
    seed: int = 2020,
    backend: str = "tensorflow",
) -> None:
    """Replicates of ``name`` in a results tree: (final val. accuracy, test accuracy) each."""
    for rep, (val, test) in enumerate(values):
        out = results / part / name / f"rep{rep}"
        out.mkdir(parents=True)
        metrics = {
            "part": part,
            "experiment": name,
            "replicate": rep,
            "seed": seed + rep,
            "backend": backend,
            "final_val_accuracy": val,
            "best_val_accuracy": val,
            "test": {"accuracy": test, "top5_accuracy": 1.0, "loss": 1.0, "examples": 100},
        }
        (out / "metrics.json").write_text(json.dumps(metrics))


def _table(markdown: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """The table's rows by (part, experiment, measure), cells by column name."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        for line in lines[1:]
    ]
    return {(r["part"], r["experiment"], r["measure"]): r for r in rows}


def test_welch_interval_when_the_replicates_differ(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "basenet", [(0.40, 0.41), (0.42, 0.43), (0.44, 0.45)])
    _run(b, "basenet", [(0.50, 0.40), (0.52, 0.42), (0.54, 0.44), (0.56, 0.46)])
    _run(a, "only_in_a", [(0.1, 0.1)])
    out = compare(a, b)
    rows = _table(out)
    assert {key[1] for key in rows} == {"basenet"}
    val = rows["cifar", "basenet", "final val. accuracy"]
    # means 0.42 and 0.53; sd 0.02 and 0.0258; Welch df 4.96, t(0.975) 2.577:
    # half-width 2.577 * sqrt(0.02**2/3 + 0.0258**2/4) = 0.0446
    assert (val["B - A"], val["95% CI"]) == ("+0.1100", "[+0.0654, +0.1546]")
    assert val["test"] == "Welch: replicates differ (A: 0, 1, 2; B: 0, 1, 2, 3)"
    test = rows["cifar", "basenet", "test accuracy"]
    # mean 0.43, sd 0.02, n 3: half-width t(0.975, 2) 4.3027 * 0.02 / sqrt(3) = 0.0497,
    # on the logit scale (divided by 0.43 * 0.57) and back: [0.3812, 0.4802].
    assert (test["n A"], test["A mean"], test["A 95% CI"]) == ("3", "0.4300", "[0.3812, 0.4802]")
    assert test["B - A"] == "+0.0000"
    assert "Only in A (not compared): cifar/only_in_a" in out


def test_paired_interval_when_replicates_seeds_and_backend_match(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "resnet", [(0.70, 0.50), (0.71, 0.55), (0.72, 0.60)])
    _run(b, "resnet", [(0.70, 0.53), (0.71, 0.56), (0.72, 0.65)])
    row = _table(compare(a, b))["cifar", "resnet", "test accuracy"]
    # differences 0.03, 0.01, 0.05: mean 0.03, sd 0.02; half-width
    # t(0.975, 2) 4.3027 * 0.02 / sqrt(3) = 0.0497 -> [-0.0197, +0.0797]
    assert (row["B - A"], row["95% CI"]) == ("+0.0300", "[-0.0197, +0.0797]")
    assert row["test"] == "paired: same replicates, seeds and backend"
    # Other seeds: nothing pairs the runs, and Welch's interval keeps the spread that
    # pairing removed.
    c = tmp_path / "c"
    _run(c, "resnet", [(0.70, 0.53), (0.71, 0.56), (0.72, 0.65)], seed=3020)
    row = _table(compare(a, c))["cifar", "resnet", "test accuracy"]
    assert row["test"] == "Welch: seeds differ (replicate 0: A 2020, B 3020)"
    assert row["B - A"] == "+0.0300"
    assert float(row["95% CI"].strip("[]").split(",")[0]) < -0.0197


@pytest.mark.parametrize(
    ("b_seed", "b_backend", "why"),
    [
        (3020, "tensorflow", "seeds differ (replicate 0: A 2020, B 3020)"),
        (2020, "jax", "backends differ (A: tensorflow; B: jax)"),
        (2020, "tensorflow", None),
    ],
)
def test_pairing_needs_the_same_seeds_and_backend(b_seed, b_backend, why):
    a = [Replicate(k, 2020 + k, "tensorflow", {}) for k in range(2)]
    b = [Replicate(k, b_seed + k, b_backend, {}) for k in range(2)]
    assert pairing(a, b) == why


def test_a_single_replicate_shows_its_value_and_no_interval(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "linear", [(0.30, 0.31)], part="birds")
    _run(b, "linear", [(0.35, 0.33)], part="birds")
    row = _table(compare(a, b))["birds", "linear", "test accuracy"]
    assert (row["A mean"], row["A 95% CI"], row["B mean"], row["B 95% CI"]) == (
        "0.3100",
        "-",
        "0.3300",
        "-",
    )
    assert (row["B - A"], row["95% CI"]) == ("+0.0200", "-")


def test_runs_that_do_not_vary_give_a_point_not_nan(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "basenet", [(0.5, 0.5), (0.5, 0.5)])
    _run(b, "basenet", [(0.6, 0.5), (0.6, 0.5)], backend="jax")
    out = compare(a, b)
    assert "nan" not in out
    row = _table(out)["cifar", "basenet", "final val. accuracy"]
    assert (row["B - A"], row["95% CI"]) == ("+0.1000", "[+0.1000, +0.1000]")


def test_experiments_of_one_run_are_listed_not_compared(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "basenet", [(0.4, 0.4), (0.5, 0.5)])
    _run(b, "basenet", [(0.4, 0.4), (0.5, 0.5)])
    _run(b, "conv", [(0.4, 0.4)], part="birds")
    comparison = compare_runs(load_run(a), load_run(b))
    assert comparison.only_a == [] and comparison.only_b == [("birds", "conv")]
    assert {(r.part, r.experiment) for r in comparison.rows} == {("cifar", "basenet")}


def test_unreadable_metrics_are_named(tmp_path):
    _run(tmp_path, "basenet", [(0.4, 0.4)])
    broken = tmp_path / "cifar" / "basenet" / "rep0" / "metrics.json"
    broken.write_text("{not json")
    with pytest.raises(CompareError, match=f"{broken}: unreadable metrics"):
        load_run(tmp_path)
    broken.write_text(json.dumps({"seed": 1, "backend": "jax", "test": {"accuracy": 0.5}}))
    with pytest.raises(CompareError, match="no 'final_val_accuracy'"):
        load_run(tmp_path)


def _cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "convstudy", "compare", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def test_command_line_on_two_result_trees(tmp_path):
    a, b = tmp_path / "tf", tmp_path / "jax"
    for results, backend in ((a, "tensorflow"), (b, "jax")):
        _run(results, "basenet", [(0.40, 0.41), (0.42, 0.43)], backend=backend)
        _run(results, "resnet", [(0.70, 0.71), (0.72, 0.73)], backend=backend)
        _run(results, "linear", [(0.30, 0.31), (0.32, 0.33)], part="birds", backend=backend)
    done = _cli(a, b, "--part", "cifar", "--experiments", "resnet")
    assert done.returncode == 0, done.stderr
    rows = _table(done.stdout)
    assert set(rows) == {("cifar", "resnet", m) for m in ("test accuracy", "final val. accuracy")}
    assert rows["cifar", "resnet", "test accuracy"]["test"].startswith("Welch: backends differ")
    assert f"A: `{a}`" in done.stdout

    out = tmp_path / "table.md"
    assert _cli(a, b, "--out", out).returncode == 0
    assert {key[:2] for key in _table(out.read_text())} == {
        ("birds", "linear"),
        ("cifar", "basenet"),
        ("cifar", "resnet"),
    }


def test_command_line_errors_are_one_line(tmp_path):
    a, empty = tmp_path / "a", tmp_path / "empty"
    _run(a, "basenet", [(0.4, 0.4)])
    (empty / "cifar" / "basenet" / "rep0").mkdir(parents=True)
    done = _cli(a, empty)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"convstudy compare: error: {empty}: no metrics "
        "(expected <part>/<experiment>/rep<k>/metrics.json under it)"
    ]
    done = _cli(a, a, "--part", "birds")
    assert done.returncode == 2
    assert "no experiment in part birds is in both" in done.stderr
