#!/usr/bin/env python3
"""The whole default workflow, timed rule by rule, on synthetic data of the real sizes.

Made for a GPU machine with Python and JAX (CUDA) but no TensorFlow and no
internet: the wheels it lacks (Keras, Snakemake and what they need) come along in
a folder and are installed into a private directory first. It generates
synthetic archives the size of the real datasets (the 25 CIFAR-100 classes:
12,500 training / 2,500 test images at 32x32; CUB-200 (2010): 200 classes, 15
training and 15 test images each, 3,000 / 3,000, against the real 3,000 / 3,033,
at 224x224), runs the workflow at the default configuration (every epoch of
every experiment, one replicate, random ResNet50 weights since nothing can be
downloaded), and prints each rule's wall time from Snakemake's benchmark files
and the total.

    python benchmarks/gpu_workflow.py --wheels .whl --cores 16          # on the GPU machine
    python benchmarks/gpu_workflow.py --size demo --cores 2              # the demo's sizes, on a CPU

``--size demo`` runs the offline demo's configuration instead (tiny, minutes on
a CPU; the tests run it so on the JAX backend without TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from convstudy.checkout import copy_workflow  # noqa: E402

RESULTS = "results/benchmark"

#: The real datasets' sizes, as synthetic archives (the workflow's own generators).
FULL_SIZE = {
    "cifar": {"source": "synthetic", "synthetic": {"train_per_class": 500, "test_per_class": 100}},
    "birds": {
        "source": "synthetic",
        "weights": "none",
        "synthetic": {"num_classes": 200, "train_per_class": 15, "test_per_class": 15},
    },
}


def install_wheels(wheels: Path, site: Path) -> None:
    """Install every wheel of ``wheels`` into ``site`` without an index (offline)."""
    found = sorted(wheels.glob("*.whl"))
    if not found:
        sys.exit(f"no wheels in {wheels}")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--no-deps",
        "--no-compile",
        "--upgrade",
        "--target",
        str(site),
        *map(str, found),
    ]
    print(f"installing {len(found)} wheels into {site}", flush=True)
    subprocess.run(cmd, check=True)


def overrides(size: str, backend: str) -> dict:
    """The config on top of config/config.yaml (``full``) or config/demo.yaml (``demo``)."""
    config = {
        "results_dir": RESULTS,
        "replicates": 1,
        "training": {"backend": backend},
        "report": {"pdf": "never"},
    }
    if size == "full":
        config.update(FULL_SIZE)
    return config


def job_benchmarks(log: str) -> dict[str, str]:
    """{benchmark file: rule} from Snakemake's log of the run."""
    found = {}
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)*)", log, re.M):
        match = re.search(r"^    benchmark: (\S+)$", body, re.M)
        if match:
            found[match.group(1)] = rule
    return found


def rule_times(workdir: Path, log: str) -> dict[str, dict]:
    """Per rule: jobs, total and longest wall seconds (Snakemake's benchmark files)."""
    times: dict[str, dict] = {}
    for path, rule in job_benchmarks(log).items():
        rows = (workdir / path).read_text().splitlines()
        header, values = rows[0].split("\t"), rows[-1].split("\t")
        seconds = float(values[header.index("s")])
        entry = times.setdefault(rule, {"jobs": 0, "seconds": 0.0, "longest": 0.0})
        entry["jobs"] += 1
        entry["seconds"] += seconds
        entry["longest"] = max(entry["longest"], seconds)
    return times


def table(times: dict[str, dict], wall: float) -> str:
    lines = [f"{'rule':<24} {'jobs':>5} {'seconds':>9} {'longest':>9}"]
    for rule, t in sorted(times.items(), key=lambda item: -item[1]["seconds"]):
        lines.append(f"{rule:<24} {t['jobs']:>5} {t['seconds']:>9.1f} {t['longest']:>9.1f}")
    total = sum(t["seconds"] for t in times.values())
    lines.append(
        f"{'sum of the jobs':<24} {sum(t['jobs'] for t in times.values()):>5} {total:>9.1f}"
    )
    lines.append(f"{'wall time of the run':<24} {'':>5} {wall:>9.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("full", "demo"), default="full")
    parser.add_argument("--backend", choices=("jax", "tensorflow"), default="jax")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--wheels", type=Path, help="folder of wheels to install first (offline)")
    parser.add_argument(
        "--site",
        type=Path,
        default=Path("/tmp/convstudy-site"),
        help="where the wheels go (added to PYTHONPATH)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/convstudy-benchmark"))
    parser.add_argument("--out", type=Path, help="also write the table and times (JSON) here")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    if args.wheels:
        install_wheels(args.wheels, args.site)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(args.site), env.get("PYTHONPATH")) if p)
    workdir = copy_workflow(args.workdir)
    (workdir / "benchmark.yaml").write_text(json.dumps(overrides(args.size, args.backend)))
    configs = ["config/demo.yaml"] if args.size == "demo" else []
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(args.cores),
        "--configfile",
        *configs,
        "benchmark.yaml",
    ]
    print(f"{' '.join(cmd)}  (in {workdir})", flush=True)
    began = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    log = proc.stdout + proc.stderr
    (workdir / "snakemake.log").write_text(log)
    if proc.returncode != 0:
        print(log[-6000:])
        print(
            f"snakemake failed ({proc.returncode}) after {wall:.0f} s; log: {workdir / 'snakemake.log'}"
        )
        return proc.returncode
    times = rule_times(workdir, log)
    text = table(times, wall)
    print(f"\n{args.size} workflow, backend {args.backend}, {args.cores} cores\n{text}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "times.txt").write_text(text + "\n")
        (args.out / "times.json").write_text(json.dumps({"wall": wall, "rules": times}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
