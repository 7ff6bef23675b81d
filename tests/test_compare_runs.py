"""tuning/compare_runs.py: two runs of the same experiments side by side."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(part: Path, name: str, values: list[tuple[float, float]]) -> None:
    for rep, (val, test) in enumerate(values):
        out = part / name / f"rep{rep}"
        out.mkdir(parents=True)
        metrics = {"final_val_accuracy": val, "test": {"accuracy": test}}
        (out / "metrics.json").write_text(json.dumps(metrics))


def _compare(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "tuning" / "compare_runs.py"), *map(str, args)],
        capture_output=True,
        text=True,
    )


def test_difference_of_means_with_welch_interval(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "basenet", [(0.40, 0.41), (0.42, 0.43), (0.44, 0.45)])
    _run(b, "basenet", [(0.50, 0.40), (0.52, 0.42), (0.54, 0.44), (0.56, 0.46)])
    _run(a, "only_in_a", [(0.1, 0.1)])
    done = _compare(a, b)
    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ") for line in done.stdout.splitlines()[1:]]
    assert {r[0] for r in rows} == {"basenet"}
    val_diff = next(r for r in rows if r[1] == "final val. acc." and r[2] == "B - A")
    # means 0.42 and 0.53; sd 0.02 and 0.0258; Welch df 4.96, t(0.975) 2.577:
    # half-width 2.577 * sqrt(0.02**2/3 + 0.0258**2/4) = 0.0446
    assert val_diff[4].startswith("+0.1100 [+0.0654, +0.1546]")
    test_rows = {r[2]: r for r in rows if r[1] == "test acc."}
    assert test_rows["A"][5] == "0.4300 ± 0.0200"
    assert test_rows["B - A"][4].startswith("+0.0000 [")


def test_a_run_without_finished_replicates_is_named(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(a, "resnet", [(0.75, 0.74), (0.76, 0.75)])
    (b / "resnet" / "rep0").mkdir(parents=True)
    done = _compare(a, b, "--names", "resnet")
    assert done.returncode == 0
    assert f"resnet: no finished replicate in {b}" in done.stdout
    assert "nan" not in done.stdout + done.stderr
    assert _compare(a, b).returncode != 0  # nothing finished in both
