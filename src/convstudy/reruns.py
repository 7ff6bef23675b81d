"""Rerun decisions that travel with the results, not with the checkout.

Snakemake keeps what each job ran with (its params, inputs, code) in the working
directory's ``.snakemake/``: from another copy of the workflow, or after that folder
is lost, it cannot tell stale results from current ones. Here every job's record
lives under the results directory instead:

- While the workflow plans, every job it plans gets a *plan*
  (``<results>/records/<rule>/<job>.plan``): the rule, its params (every setting and
  the code digest), its input files and its software environment. The plan is an
  input of the job.
- A job that succeeds writes its *record* (``<results>/records/<rule>/<job>.json``):
  the plan it ran with, and when.
- A plan equal to the record of the outputs on disk is dated 1970, so that it can
  never trigger a rerun. Any other plan (a changed setting or code, no record at
  all) is dated now and carries a fresh nonce: Snakemake's file-time rule then reruns
  the job, and its new outputs rerun everything downstream, whichever checkout runs
  and whether or not ``.snakemake/`` survived.

Snakemake's own triggers that read ``.snakemake/`` (params, input, software-env) or
file times of code (code) are switched off by the workflow profile
(``rerun-triggers: mtime``), so only these records and the files' times decide.
Paths under the results directory are recorded relative to it, so a results folder
can move.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: Folder of the plans and records, under the results directory.
RECORDS = "records"
#: Name of the plan among a job's inputs.
PLAN_INPUT = "plan"
#: How a path under the results directory is written in a plan.
RESULTS_MARK = "<results>"


def job_name(wildcards: Mapping[str, str]) -> str:
    """``variant=basenet,rep=0``: a job's name among its rule's (``job`` without wildcards)."""
    return ",".join(f"{key}={value}" for key, value in wildcards.items()) or "job"


def plan_path(results: str, rule: str, wildcards: Mapping[str, str]) -> str:
    return f"{results}/{RECORDS}/{rule}/{job_name(wildcards)}.plan"


def record_path(plan: str | Path) -> Path:
    return Path(plan).with_suffix(".json")


def _relative(value, results: str):
    """``value`` with every path under ``results`` written relative to it."""
    if isinstance(value, str):
        prefix = results.rstrip("/") + "/"
        return RESULTS_MARK + "/" + value[len(prefix) :] if value.startswith(prefix) else value
    if isinstance(value, Mapping):
        return {str(k): _relative(v, results) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relative(v, results) for v in value]
    return value


def software_digest(env_file: str | Path | None) -> str | None:
    """Digest of a conda environment file's content (comments and layout aside)."""
    if env_file is None:
        return None
    # Read while planning only (jobs do not need PyYAML in their environment).
    import yaml

    content = yaml.safe_load(Path(env_file).read_text())
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def make_plan(
    rule: str,
    params: Mapping,
    inputs: Sequence[str],
    results: str,
    software: str | None = None,
) -> dict:
    """What a job runs with, and its digest: the same whether computed while planning
    or inside the job, from any checkout."""
    plan = {
        "rule": rule,
        "params": _relative(dict(params), results),
        "inputs": sorted(_relative([str(f) for f in inputs], results)),
        "software": software,
    }
    plan["digest"] = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
    return plan


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def changes(record: Mapping | None, plan: Mapping) -> str:
    """Why outputs made under ``record`` are not those ``plan`` asks for, in words."""
    if record is None:
        return "no record of what made them (made by an older workflow, or outside it)"
    what = [
        f"params.{k}"
        for k in sorted(set(plan["params"]) | set(record.get("params", {})))
        if plan["params"].get(k) != record.get("params", {}).get(k)
    ]
    what += [key for key in ("inputs", "software", "rule") if plan[key] != record.get(key)]
    return "changed: " + (", ".join(what) or "the record's format")


def sync_plan(plan_file: str | Path, plan: Mapping) -> str | None:
    """Write a job's plan where the job reads it, dated so that Snakemake reruns the
    job exactly when its outputs were not made by this plan; return why (None: current)."""
    plan_file = Path(plan_file)
    record = _read(record_path(plan_file))
    if record is not None and record.get("digest") == plan["digest"]:
        if _read(plan_file) != plan:
            _write(plan_file, dict(plan))
        os.utime(plan_file, (0, 0))
        return None
    # A nonce: Snakemake also compares a small input's checksum with the one it
    # recorded (in .snakemake/), and must not find an old plan identical.
    _write(plan_file, {**plan, "planned_at": time.time_ns()})
    return changes(record, plan)


def write_record(snakemake, **extra) -> dict:
    """The record of a job that succeeded: the plan it ran with (its own params and
    inputs; the software environment from the planned file when the rest agrees), and
    ``extra`` (its provenance)."""
    plan_file = getattr(snakemake.input, PLAN_INPUT)
    results = snakemake.config["results_dir"].rstrip("/")
    inputs = [f for f in snakemake.input if f != plan_file]
    planned = _read(Path(plan_file)) or {}
    software = planned.get("software")
    own = make_plan(snakemake.rule, dict(snakemake.params.items()), inputs, results, software)
    if own["digest"] != planned.get("digest"):
        # Another planning (a dry run with other settings) rewrote the plan while this
        # job ran: record what this job ran with; the next plan decides.
        log.warning("the planned record of this job changed while it ran: keeping its own")
    record = {**own, **extra}
    _write(record_path(plan_file), record)
    return record
