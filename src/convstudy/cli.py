"""The ``convstudy`` command line.

An argparse front end; each subcommand is a thin call into its module
(``convstudy.compare``, ``convstudy.estimate``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

#: Errors that are the user's to fix: one line, exit status 2 (as argparse's own errors).
USAGE_STATUS = 2


class UsageError(Exception):
    """What a subcommand's module reported as the user's to fix."""


def _emit(text: str, out: Path | None) -> None:
    """Text to ``out``, or to stdout."""
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def compare_command(args: argparse.Namespace) -> None:
    """``convstudy compare``: the Markdown table of convstudy.compare."""
    from .compare import CompareError, compare

    experiments = args.experiments.split(",") if args.experiments else None
    try:
        text = compare(args.run_a, args.run_b, args.part, experiments)
    except CompareError as exc:
        raise UsageError(exc) from None
    _emit(text, args.out)


def estimate_command(args: argparse.Namespace) -> None:
    """``convstudy estimate``: the estimate of convstudy.estimate, or with --record the
    reference table as JSON."""
    import json

    from . import estimate as est
    from .estimate.dryrun import DryRunError

    run = est.Invocation(
        args.directory.resolve(),
        args.cores,
        tuple(map(_absolute, args.configfile)),
        tuple(args.config),
    )
    reference = args.reference or est.DEFAULT_REFERENCE
    try:
        if args.record is not None:
            text = json.dumps(est.record(run, args.record), indent=2) + "\n"
        elif args.reference is not None and not reference.is_file():
            raise est.EstimateError(f"{reference}: no such reference file")
        else:
            text = est.format_estimate(est.estimate(run, reference, args.forceall))
    # ValueError: a bad config (ConfigError), --config entry or schedule.
    except (est.EstimateError, DryRunError, ValueError) as exc:
        raise UsageError(exc) from None
    _emit(text, args.out)


def _absolute(path: str) -> str:
    """A --configfile as Snakemake in another directory finds it: from where we run."""
    return str(Path(path).resolve())


def _positive(text: str) -> int:
    """--cores: Snakemake needs at least one."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parser() -> argparse.ArgumentParser:
    """Both subcommands with their options (``--help`` of each is its documentation)."""
    top = argparse.ArgumentParser(
        prog="convstudy", description="Tools around the study's workflow runs."
    )
    sub = top.add_subparsers(dest="command", required=True)

    cmp = sub.add_parser(
        "compare",
        help="two runs side by side: means, 95%% intervals and differences",
        description="Every experiment that both runs hold, per part: mean and 95% "
        "interval of test and final validation accuracy per run, and B - A with its "
        "95% interval (paired by replicate when both runs have the same replicates, "
        "seeds and backend; Welch's t otherwise). Markdown out.",
    )
    cmp.add_argument("run_a", type=Path, metavar="RUN_A", help="results directory of run A")
    cmp.add_argument("run_b", type=Path, metavar="RUN_B", help="results directory of run B")
    cmp.add_argument("--part", help="only this part (cifar, birds)")
    cmp.add_argument("--experiments", help="only these experiments, comma-separated")
    cmp.add_argument("--out", type=Path, help="write the table here (default: stdout)")
    cmp.set_defaults(func=compare_command)

    est = sub.add_parser(
        "estimate",
        help="expected wall time of what snakemake would run now",
        description="Expected wall time of the jobs `snakemake --cores N [--configfile ...] "
        "[--config ...]` would run now: Snakemake's dry run, each job's cost (its "
        "benchmark from an earlier run, else the reference table scaled by its work, "
        "else a labelled fallback), and a simulation of the schedule on N cores. "
        "With --record, write a reference table from a finished run instead.",
    )
    est.add_argument(
        "--cores",
        type=_positive,
        required=True,
        help="cores Snakemake gets (with --record: the cores the recorded run had)",
    )
    est.add_argument(
        "--configfile",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="as snakemake --configfile",
    )
    est.add_argument(
        "--config",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="as snakemake --config",
    )
    est.add_argument(
        "--directory",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="the workflow directory (default: the current one)",
    )
    est.add_argument(
        "--reference",
        type=Path,
        metavar="FILE",
        help="reference table of per-job costs (default: the one measured by this project, in the package)",
    )
    est.add_argument(
        "--forceall", action="store_true", help="as if rerunning everything (snakemake --forceall)"
    )
    est.add_argument(
        "--record",
        type=Path,
        metavar="RESULTS_DIR",
        help="write a reference table from the benchmark files of the finished run in "
        "RESULTS_DIR (its --configfile/--config/--cores given as well)",
    )
    est.add_argument("--out", type=Path, help="write here (default: stdout)")
    est.set_defaults(func=estimate_command)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a problem the user can fix is one line on stderr, status 2."""
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (UsageError, OSError) as exc:
        print(f"convstudy {args.command}: error: {exc}", file=sys.stderr)
        return USAGE_STATUS
    return 0
