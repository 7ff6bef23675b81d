"""Workflow hygiene: Snakemake's linter, snakefmt, declared resources, the profiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_envs import rules  # noqa: F401  (module fixture: every rule, via Snakemake's API)

from conftest import REPO, snakemake

PROFILES = REPO / "profiles"
SLURM_PROFILES = ("slurm", "slurm-gpu")
#: Jobs that run a network over images and gain from a GPU. Birds heads train on
#: cached features in seconds: a GPU allocation would only queue them longer.
GPU_RULES = {"train_cifar", "extract_birds_features", "finetune_birds"}
RULE_FILES = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]


def load_profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text()) or {}


def test_snakemake_lint_is_clean():
    proc = snakemake(REPO, "--lint", "--configfile", "config/demo.yaml")
    out = proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in out, out[-3000:]
    assert "Lints for" not in out, out[-3000:]


def test_snakefmt_check_passes():
    exe = shutil.which("snakefmt", path=str(Path(sys.executable).parent)) or shutil.which(
        "snakefmt"
    )
    assert exe, "snakefmt is not installed (requirements.txt)"
    proc = subprocess.run(
        [exe, "--check", "Snakefile", "rules/"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _rule_blocks() -> dict[str, str]:
    """Text of every `rule name:` block of the Snakefile and rules/*.smk."""
    blocks = {}
    for path in RULE_FILES:
        text = path.read_text()
        for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            blocks[match.group(1)] = match.group(2)
    return blocks


def test_every_rule_declares_threads_memory_runtime_log_benchmark(rules):  # noqa: F811
    blocks = _rule_blocks()
    assert set(blocks) == set(rules), "rule blocks found in the files != Snakemake's rules"
    for name, rule in rules.items():
        if rule["norun"]:
            continue
        # `threads:` must be written out: Snakemake's default of 1 looks the same.
        assert re.search(r"^    threads:", blocks[name], re.M), f"rule {name}: no threads:"
        for resource in ("mem_mb", "runtime"):
            assert resource in rule["resources"], f"rule {name}: no {resource} resource"
        assert rule["log"], f"rule {name}: no log:"
        assert rule["benchmark"], f"rule {name}: no benchmark:"


def test_no_gpu_or_site_strings_in_rules():
    """GPUs come from the profile's `gpu` resource, never from slurm_extra strings."""
    for path in RULE_FILES:
        text = path.read_text()
        assert "slurm_extra" not in text, path
        assert not re.search(r"\bgpu\s*=", text), f"{path}: GPU requests belong in profiles/"


@pytest.mark.parametrize("name", ["default", *SLURM_PROFILES])
def test_profile_entries_are_commented(name):
    """Each top-level key of a profile has a comment line right above it."""
    lines = (PROFILES / name / "config.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z][\w-]*:", line):
            assert i > 0 and lines[i - 1].startswith("#"), f"{name}: uncommented {line!r}"


def test_default_profile_does_not_shadow_the_slurm_profiles():
    """profiles/default is also applied under --profile profiles/slurm, after it and
    winning key by key: a key in both would silently replace the SLURM setting."""
    default = load_profile("default")
    for name in SLURM_PROFILES:
        shared = set(default) & set(load_profile(name))
        assert not shared, f"profiles/default overrides {sorted(shared)} of profiles/{name}"
    # Machine-specific limits would cap every SLURM job to the submit host's size.
    assert not {"cores", "resources", "executor"} & set(default)


def test_slurm_profiles(rules):  # noqa: F811
    slurm, gpu = load_profile("slurm"), load_profile("slurm-gpu")
    for profile in (slurm, gpu):
        assert profile["executor"] == "slurm"
        # Without accounting, sacct fails and the plugin waits forever.
        assert profile["slurm-status-command"] == "squeue"
        assert "slurm_extra" not in yaml.safe_dump(profile)
    # The GPU profile is the CPU one plus GPU requests.
    for key, value in slurm.items():
        assert gpu.get(key) == value, f"slurm-gpu differs from slurm in {key}"
    assert set(gpu) - set(slurm) <= {"set-resources", "set-threads"}
    for key in ("set-resources", "set-threads"):
        unknown = set(gpu.get(key, {})) - set(rules)
        assert not unknown, f"slurm-gpu {key} names no rule: {sorted(unknown)}"
    for name in GPU_RULES:
        assert name in rules
        assert gpu["set-resources"].get(name, {}).get("gpu") == 1, f"{name} gets no GPU"
    asked = {n for n, r in gpu["set-resources"].items() if r.get("gpu")}
    assert asked == GPU_RULES


def test_gpu_profile_requests_reach_the_jobs(workflow):
    """A dry run with the GPU profile shows the gpu resource on training jobs only (in
    a fresh copy: in this checkout the demo may have run, with nothing left to do)."""
    proc = snakemake(
        workflow, "-n", "--profile", "profiles/slurm-gpu", "--configfile", "config/demo.yaml"
    )
    out = proc.stdout + proc.stderr
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", out, re.M)
    assert jobs, out[-2000:]
    for rule, resources in jobs:
        assert ("gpu=1" in resources) == (rule in GPU_RULES), (rule, resources)
