"""The birds benchmark runs end to end at toy sizes and reports every measurement."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_benchmark_reports_all_four_measurements(repo, tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(repo / "benchmarks" / "birds_benchmark.py"),
            "--quick",
            "--threads",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for prefix in (
        "1. feature extraction:",
        "2. all heads from the cache",
        "   ratio:",
        "3. preprocessing",
        "4. fine-tuning",
    ):
        assert any(line.startswith(prefix) for line in lines), (prefix, proc.stdout)
    results = json.loads(out.read_text())
    assert results["backbone"]["images_per_second"] > 0
    heads = results["heads"]
    assert set(heads["heads_seconds"]) >= {"linear"}
    assert heads["rerun_seconds"] > 0 and heads["all_heads_seconds"] > 0
    assert results["preprocess"]["final_arrays_mb"] > 0
    assert results["finetune"]["peak_rss_mb"] > results["finetune"]["baseline_mb"]
