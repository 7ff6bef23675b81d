"""The demo workflow on a real SLURM cluster, through profiles/slurm.

Needs the one-node cluster on localhost that ``.ci/slurm-up.sh`` starts (``.ci/run``
does so before the tests); without one the test is skipped, saying why. The test
installs and starts nothing; at the end it stops the daemons that script started,
by the PIDs it recorded (``.ci/slurm-down.sh``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, copy_workflow, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

STATE = Path(os.environ.get("CONVSTUDY_SLURM_STATE", "/tmp/convstudy-slurm"))
RESULTS = "results/demo"
VARIANT = "basenet"
#: The rules that make one variant's outputs from scratch, each a SLURM job.
RULES = ("synthetic_cifar", "prepare_cifar", "train_cifar", "evaluate_cifar", "plot_cifar_curves")


def _cluster_problem() -> str | None:
    """Why no usable SLURM cluster is here, or None when there is one."""
    for tool in ("sbatch", "squeue", "sinfo", "scontrol"):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install slurm-wlm munge; then .ci/slurm-up.sh)"
    if not Path("/etc/slurm/slurm.conf").is_file():
        return "no /etc/slurm/slurm.conf: start the test cluster with .ci/slurm-up.sh"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "scontrol/sinfo did not answer within 20 s"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        said = (ping.stdout + ping.stderr).strip().splitlines() or ["no answer"]
        return f"slurmctld is not up ({said[0]}); run .ci/slurm-up.sh"
    states = set(state.stdout.split())
    if not states & {"idle", "mixed", "allocated"}:
        return f"no node takes jobs (states: {sorted(states) or 'none'}); run .ci/slurm-up.sh"
    return None


#: Set by .ci/run, which starts the cluster: without it the test fails instead of skipping.
REQUIRE_ENV = "CONVSTUDY_REQUIRE_SLURM"


@pytest.fixture(scope="module")
def cluster():
    problem = _cluster_problem()
    if problem and os.environ.get(REQUIRE_ENV):
        # CI started the cluster: its absence is a failure, not a reason to skip.
        pytest.fail(f"no SLURM cluster although {REQUIRE_ENV} is set: {problem}")
    if problem:
        pytest.skip(f"no SLURM cluster: {problem}")
    yield
    # Only daemons that .ci/slurm-up.sh started (it wrote their PIDs): a real
    # cluster that happens to be here is left alone.
    if any(STATE.glob("*.pid")):
        subprocess.run([str(REPO / ".ci" / "slurm-down.sh")], check=False, timeout=60)


def _slurm_jobs() -> dict[str, tuple[str, str, str]]:
    """Every job slurmctld still knows: id -> (name, state, comment)."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%j|%T|%k"],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    ).stdout
    jobs = {}
    for line in out.splitlines():
        jobid, name, state, comment = line.split("|", 3)
        jobs[jobid] = (name, state, comment)
    return jobs


def test_demo_variant_runs_through_sbatch(cluster, tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    targets = [
        f"{RESULTS}/cifar/{VARIANT}/rep0/metrics.json",
        f"{RESULTS}/cifar/{VARIANT}/rep0/curves.png",
    ]
    proc = snakemake(
        workdir,
        "--profile",
        "profiles/slurm",
        "--configfile",
        "config/demo.yaml",
        # Test-only overrides: a 2-CPU node, small memory requests, quick polling,
        # and keep the SLURM logs of successful jobs as evidence.
        "--max-threads",
        "1",
        "--set-resources",
        *(f"{rule}:mem_mb=1000" for rule in RULES),
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
        *targets,
        timeout=900,
    )
    output = proc.stdout + proc.stderr

    # Each rule went to SLURM as its own job: Snakemake says so, the plugin kept
    # a log named after the job id, and slurmctld lists the job as completed
    # under this run's name with the rule in its comment.
    submitted = dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)", output))
    assert len(submitted) == len(RULES), output[-3000:]
    jobs = _slurm_jobs()
    run_names = set()
    seen_rules = set()
    for jobid, log in submitted.items():
        log = Path(log)
        assert log.is_file() and log.name == f"{jobid}.log", log
        assert log.is_relative_to(workdir / ".snakemake" / "slurm_logs")
        assert "Finished jobid" in log.read_text(), log.read_text()[-2000:]
        name, state, comment = jobs[jobid]
        assert state == "COMPLETED", (jobid, state, comment)
        run_names.add(name)
        rule = re.match(r"rule_(\w+?)(_wildcards_|$)", comment).group(1)
        seen_rules.add(rule)
    assert seen_rules == set(RULES)
    assert len(run_names) == 1  # the plugin names every job of a run by its run id

    # Every output of the variant, its logs and benchmarks exist, and the data it
    # was trained on.
    out = workdir / RESULTS
    for name in ("data.npz", "split.json", "synthetic/cifar-100-python.tar.gz"):
        assert (out / "cifar" / name).stat().st_size > 0, name
    assert (out / "logs" / "cifar" / "prepare.log").is_file()
    for name in ("model.keras", "history.csv", "metrics.json", "curves.png"):
        assert (out / "cifar" / VARIANT / "rep0" / name).stat().st_size > 0, name
    for name in ("train", "evaluate", "curves"):
        assert (out / "logs" / "cifar" / VARIANT / "rep0" / f"{name}.log").is_file()
        assert (out / "benchmarks" / "cifar" / VARIANT / "rep0" / f"{name}.tsv").is_file()
    metrics = json.loads((out / "cifar" / VARIANT / "rep0" / "metrics.json").read_text())
    assert metrics["experiment"] == VARIANT and metrics["epochs"] == 2
    assert "'threads': 1" in (out / "logs" / "cifar" / VARIANT / "rep0" / "train.log").read_text()

    # A second run finds nothing to do and submits nothing.
    again = snakemake(
        workdir, "--profile", "profiles/slurm", "--configfile", "config/demo.yaml", "-n", *targets
    )
    assert "Nothing to be done" in again.stdout + again.stderr
