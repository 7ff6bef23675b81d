"""The report's tables, each declared once as columns: a header, how a cell is written
from a row, and when the column is shown. Both templates (Markdown, LaTeX) render
the same headers and cells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .stats import CONFIDENCE, Interval, StepComparison


def fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def fmt_signed(value, digits: int = 4) -> str:
    return "-" if value is None else f"{float(value):+.{digits}f}"


def fmt_mean(interval: Interval, digits: int = 4) -> str:
    """``mean ± sd`` over replicates; the value alone for a single run."""
    if interval.std is None:
        return fmt(interval.mean, digits)
    return f"{interval.mean:.{digits}f} ± {interval.std:.{digits}f}"


def fmt_ci(low, high, digits: int = 4, signed: bool = False) -> str:
    if low is None:
        return "-"
    show = fmt_signed if signed else fmt
    return f"[{show(low, digits)}, {show(high, digits)}]"


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Mapping], str]
    #: Whether the table shows the column, given every row.
    shown: Callable[[Sequence[Mapping]], bool] = lambda rows: True


def table(columns: Sequence[Column], rows: Sequence[Mapping]) -> dict:
    """``{"headers": [...], "rows": [[cell, ...], ...]}`` of the shown columns."""
    shown = [c for c in columns if c.shown(rows)]
    return {
        "headers": [c.header for c in shown],
        "rows": [[c.cell(row) for c in shown] for row in rows],
    }


def _replicated(rows: Sequence[Mapping]) -> bool:
    return any(len(row["runs"]) > 1 for row in rows)


CI = f"{CONFIDENCE:.0%} CI"

#: The results table: a row is ``{name, info, runs, stats, ensemble}`` of one experiment
#: (``stats``: :func:`convstudy.report.results.aggregate`).
RESULT_COLUMNS = (
    Column("Experiment", lambda r: r["name"]),
    Column(
        "Kind",
        lambda r: r["info"].get("kind") or "",
        lambda rows: any(r["info"].get("kind") for r in rows),
    ),
    Column("Base", lambda r: r["info"].get("compare_to") or r["info"].get("base") or "-"),
    Column("Parameters", lambda r: f"{int(r['runs'][0]['parameters']):,}"),
    Column("Epochs", lambda r: str(int(r["runs"][0]["epochs"]))),
    Column(
        "Training (s)",
        lambda r: f"{sum(m['training_seconds'] for m in r['runs']) / len(r['runs']):.1f}",
    ),
    Column("Test acc.", lambda r: fmt_mean(r["stats"]["test_accuracy"])),
    Column(CI, lambda r: fmt_ci(r["stats"]["test_accuracy"].low, r["stats"]["test_accuracy"].high)),
    Column("Ensemble", lambda r: fmt(r["ensemble"]), _replicated),
    Column("Test top-5", lambda r: fmt_mean(r["stats"]["test_top5_accuracy"])),
    Column("Test loss", lambda r: fmt_mean(r["stats"]["test_loss"])),
    Column("Best val. acc.", lambda r: fmt_mean(r["stats"]["best_val_accuracy"])),
    Column(
        "Best epoch",
        lambda r: str(int(r["runs"][0]["best_val_epoch"])),
        lambda rows: not _replicated(rows),
    ),
    Column("Final val. acc.", lambda r: fmt_mean(r["stats"]["final_val_accuracy"])),
)


def verdict_text(found: StepComparison) -> str:
    if found.verdict is not None:
        return found.verdict
    return f"no verdict: {found.reason}"


#: The step table: a row is ``{name, base, accuracy, base_accuracy, step}`` where
#: ``step`` is the :class:`StepComparison` of the experiment with its base.
STEP_COLUMNS = (
    Column("Step", lambda r: r["name"]),
    Column("Base", lambda r: r["base"]),
    Column("Test acc.", lambda r: fmt(r["accuracy"])),
    Column("Base test acc.", lambda r: fmt(r["base_accuracy"])),
    Column("Difference", lambda r: fmt_signed(r["step"].mean)),
    Column(
        f"{CI}, seeds and test images",
        lambda r: fmt_ci(r["step"].low, r["step"].high, signed=True),
        _replicated,
    ),
    Column(
        f"{CI}, seeds only",
        lambda r: fmt_ci(r["step"].seed_only.low, r["step"].seed_only.high, signed=True),
        _replicated,
    ),
    Column(
        "P(step > base)",
        lambda r: (
            "-"
            if r["step"].p_improvement is None
            else f"{r['step'].p_improvement:.2f} {fmt_ci(r['step'].p_low, r['step'].p_high, 2)}"
        ),
        _replicated,
    ),
    Column("Verdict", lambda r: verdict_text(r["step"])),
)
