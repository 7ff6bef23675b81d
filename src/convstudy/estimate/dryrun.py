"""The jobs Snakemake would run now, read from its dry-run listing.

``snakemake --dry-run`` prints one block per planned job (Snakemake 9,
``logging.py``: ``_format_job_info``)::

    [timestamp]
    rule train_cifar:            ("localrule", "checkpoint", "localcheckpoint" too)
        input: a, b              (", "-joined; files may carry " (pipe)"-like notes)
        output: c, d
        log: e
        jobid: 25
        benchmark: f
        reason: ...
        wildcards: variant=basenet, rep=0
        priority: 1              (omitted when 0; "highest" under --prioritize)
        threads: 2               (omitted when 1; already capped at --cores)
        resources: tmpdir=/tmp, runtime=18, mem_mb=6000

and a "Job stats" table of jobs per rule, which the parser checks its blocks
against, so that a change of that format fails loudly instead of planning too few jobs.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class DryRunError(Exception):
    """Snakemake's dry run failed, or printed something this parser cannot read."""


@dataclass(frozen=True)
class Job:
    """One planned job, as the dry run lists it."""

    jobid: int
    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    #: Scheduling priority; ``math.inf`` for "highest" (``--prioritize``).
    priority: float = 0
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    benchmark: str | None = None
    #: Why Snakemake runs it ("Missing output files: ...; Params have changed ...").
    reason: str = ""
    resources: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The rule and its wildcards, as a person tells jobs apart."""
        wildcards = ", ".join(f"{k}={v}" for k, v in self.wildcards.items())
        return f"{self.rule} ({wildcards})" if wildcards else self.rule


_HEADER = re.compile(r"^\s*(?:local)?(?:rule|checkpoint) (\S+):$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")
#: A rule's ``message:`` replaces the whole block by this line: no files, no threads.
_MESSAGE = re.compile(r"^\s*Job (\d+): ")
#: Start of the next ``key=value`` in a wildcards or resources line.
_NEXT_ITEM = re.compile(r", (?=[A-Za-z_]\w*=)")
#: Snakemake's note after a file name: " (pipe)", " (retrieve from storage)", ...
_FILE_NOTE = re.compile(r" \([^()]*\)$")


def _files(value: str) -> tuple[str, ...]:
    return tuple(_FILE_NOTE.sub("", f) for f in value.split(", ") if f)


def _pairs(value: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in _NEXT_ITEM.split(value) if item)


def _job(rule: str, fields: Mapping[str, str]) -> Job:
    """A Job from the ``key: value`` lines of its block; absent lines keep their defaults."""
    priority = fields.get("priority", "0")
    return Job(
        jobid=int(fields["jobid"]),
        rule=rule,
        wildcards=_pairs(fields.get("wildcards", "")),
        threads=int(fields.get("threads", "1")),
        priority=math.inf if priority == "highest" else float(priority),
        inputs=_files(fields.get("input", "")),
        outputs=_files(fields.get("output", "")),
        benchmark=fields.get("benchmark"),
        reason=fields.get("reason", ""),
        resources=_pairs(fields.get("resources", "")),
    )


def _job_stats(lines: Sequence[str]) -> dict[str, int] | None:
    """Jobs per rule from the first "Job stats" table, or None when there is none."""
    for i, line in enumerate(lines):
        if line.strip() == "Job stats:":
            counts = {}
            for row in lines[i + 3 :]:
                parts = row.split()
                if len(parts) != 2 or parts[0] == "total":
                    break
                counts[parts[0]] = int(parts[1])
            return counts
    return None


def parse_dry_run(text: str) -> list[Job]:
    """Every job block of a dry-run listing, checked against its "Job stats" table."""
    lines = text.splitlines()
    jobs = []
    for i, line in enumerate(lines):
        if _MESSAGE.match(line):
            raise DryRunError(
                f"a rule's message: hides the details of job {_MESSAGE.match(line)[1]} "
                "in the dry run (files, threads); cannot plan it"
            )
        header = _HEADER.match(line)
        if not header:
            continue
        fields = {}
        for row in lines[i + 1 :]:
            item = _FIELD.match(row)
            if not item:
                break
            fields[item[1]] = item[2]
        if "jobid" not in fields:
            raise DryRunError(f"no jobid in the dry-run block of rule {header[1]}")
        jobs.append(_job(header[1], fields))
    _check_counts(jobs, _job_stats(lines))
    return jobs


def _check_counts(jobs: Sequence[Job], stats: Mapping[str, int] | None) -> None:
    """The parsed blocks must be the jobs Snakemake counted (when it printed its table)."""
    if stats is None:
        if jobs:
            raise DryRunError("the dry run listed jobs but no 'Job stats' table")
        return
    parsed: dict[str, int] = {}
    for job in jobs:
        parsed[job.rule] = parsed.get(job.rule, 0) + 1
    if parsed != stats:
        raise DryRunError(
            f"read {sum(parsed.values())} job blocks but Snakemake counts "
            f"{sum(stats.values())} jobs: its dry-run format is not the one expected"
        )


def dependencies(jobs: Sequence[Job]) -> dict[int, frozenset[int]]:
    """{jobid: jobids it waits for}: B waits for A when an input of B is an output of A.

    Inputs that no planned job writes exist already (or come from outside) and add
    no dependency.
    """
    producer = {path: job.jobid for job in jobs for path in job.outputs}
    return {
        job.jobid: frozenset(
            producer[path] for path in job.inputs if producer.get(path, job.jobid) != job.jobid
        )
        for job in jobs
    }


def dry_run(
    workdir: Path,
    cores: int,
    configfiles: Sequence[str] = (),
    config: Sequence[str] = (),
    forceall: bool = False,
) -> str:
    """Snakemake's dry-run listing of what it would run now in ``workdir`` (the one
    function here that runs Snakemake)."""
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--cores", str(cores)]
    if configfiles:
        cmd += ["--configfile", *configfiles]
    if config:
        cmd += ["--config", *config]
    if forceall:
        cmd.append("--forceall")
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise DryRunError(f"snakemake --dry-run failed in {workdir} ({proc.returncode}):\n{tail}")
    return proc.stdout + proc.stderr
