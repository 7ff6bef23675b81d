"""The report's text: summary tables in CSV, report.md and report.tex rendered from
Jinja2 templates, every value escaped for its format on output.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
from markupsafe import Markup

from ..io import atomic_path
from .method import describe_data, describe_settings, settings_changes
from .parts import PER_CLASS_SHOWN, figure_file, part_info
from .results import (
    AGGREGATE_FIELDS,
    STEP_FIELDS,
    SUMMARY_FIELDS,
    Grouped,
    aggregate,
    aggregate_rows,
    best_and_worst,
    best_experiment,
    group_metrics,
    load_metrics,
    mean_per_class,
    rank_classes,
    step,
    step_rows,
    summary_rows,
    write_csv,
)
from .stats import CONFIDENCE, HELPS, HURTS, Interval, verdict

log = logging.getLogger(__name__)

#: Title and caption (for Markdown and LaTeX) of each kind of figure; ``{runs}`` says
#: how the replicates are drawn.
FIGURES: dict[str, tuple[str, str]] = {
    "accuracy": (
        "Test accuracy",
        "Test accuracy of every {noun} in configuration order{runs_accuracy}. Lines and "
        "bands: the study's reference points (test accuracy on the real dataset).",
    ),
    "curves": (
        "Learning curves",
        "Loss and accuracy per epoch of every {noun}{runs_curves}: training split (blue) "
        "and validation split (orange).",
    ),
    "confusion": (
        "Confusion matrix of the best {noun}",
        "Confusion matrix on the test set of {best}, the {noun} with the best {mean}final "
        "validation accuracy{runs_pooled}: true classes in rows, predicted classes in "
        "columns, colour = share of the true class, numbers = images.",
    ),
    "per_class": (
        "Per-class accuracy of the best {noun}",
        "Test accuracy per class of {best}, the {noun} with the best {mean}final validation "
        "accuracy{runs_mean}: the best and the worst classes.",
    ),
}


def _runs_text(replicates: int) -> dict[str, str]:
    if replicates == 1:
        return {
            "runs_accuracy": " (single runs)",
            "runs_curves": "",
            "runs_pooled": "",
            "runs_mean": "",
            "mean": "",
        }
    return {
        "runs_accuracy": (
            f": each of the {replicates} replicates (dot), their mean (bar) and its "
            f"{CONFIDENCE:.0%} confidence interval (line)"
        ),
        "runs_curves": f", the mean over {replicates} replicates, shaded from the lowest to the highest",
        "runs_pooled": f", summed over its {replicates} replicates",
        "runs_mean": f", averaged over its {replicates} replicates",
        "mean": "mean ",
    }


_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "×": r"\texttimes{}",
    "→": r"$\rightarrow$",
    "±": r"$\pm$",
    "°": r"\textdegree{}",
    "…": r"\dots{}",
}


def escape_tex(text) -> str:
    """Text with every LaTeX special character escaped (class and variant names, prose)."""
    return "".join(_TEX_SPECIALS.get(ch, ch) for ch in str(text))


_MD_SPECIALS = set("\\`*_[]<>|")


def escape_md(text) -> str:
    return "".join("\\" + ch if ch in _MD_SPECIALS else ch for ch in str(text))


def make_environment(template_dir: str | Path, flavor: str) -> jinja2.Environment:
    """Jinja2 environment that escapes every value for ``flavor`` ('md' or 'tex').

    Values are escaped on output unless marked with the ``raw`` filter, so a
    template cannot forget to escape a class name. LaTeX templates use
    ``((* block *))``, ``((( value )))`` and ``((= comment =))`` to keep braces free.
    """
    escape = {"md": escape_md, "tex": escape_tex}[flavor]
    delimiters = {}
    if flavor == "tex":
        delimiters = dict(
            block_start_string="((*",
            block_end_string="*))",
            variable_start_string="(((",
            variable_end_string=")))",
            comment_start_string="((=",
            comment_end_string="=))",
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=lambda v: v if isinstance(v, Markup) else escape(v),
        **delimiters,
    )
    env.filters["raw"] = Markup
    return env


def render_template(template: str | Path, context: Mapping, flavor: str) -> str:
    template = Path(template)
    env = make_environment(template.parent, flavor)
    return env.get_template(template.name).render(**context)


def _accuracy_text(value) -> str:
    """0.4 -> "0.40", 0.664 -> "0.664": two decimals at least, as many as given."""
    text = f"{float(value):.4f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.partition(".")[2]))


def _reference_text(accuracy) -> str:
    if isinstance(accuracy, (list, tuple)):
        return f"{_accuracy_text(accuracy[0])}-{_accuracy_text(accuracy[1])}"
    return _accuracy_text(accuracy)


# --------------------------------------------------------------------------------------
# How numbers are shown.

#: Headers of the results table of single runs; with replicates, every number is a
#: mean (± sd), the test accuracy gets its interval, and a best epoch has no mean.
_RESULT_COLUMNS_ONE = (
    "Experiment",
    "Kind",
    "Base",
    "Parameters",
    "Epochs",
    "Training (s)",
    "Test acc.",
    "Test top-5",
    "Test loss",
    "Best val. acc.",
    "Best epoch",
    "Final val. acc.",
)
_RESULT_COLUMNS_MANY = (
    *_RESULT_COLUMNS_ONE[:7],
    "95% CI",
    *_RESULT_COLUMNS_ONE[7:10],
    "Final val. acc.",
)


def fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def fmt_signed(value, digits: int = 4) -> str:
    return "-" if value is None else f"{float(value):+.{digits}f}"


def fmt_mean(interval: Interval, digits: int = 4) -> str:
    """``mean ± sd`` over replicates; the value alone for a single run."""
    if interval.std is None:
        return fmt(interval.mean, digits)
    return f"{interval.mean:.{digits}f} ± {interval.std:.{digits}f}"


def fmt_ci(interval: Interval, digits: int = 4, signed: bool = False) -> str:
    if interval.low is None:
        return "-"
    show = fmt_signed if signed else fmt
    return f"[{show(interval.low, digits)}, {show(interval.high, digits)}]"


def verdict_text(difference: Interval) -> str:
    found = verdict(difference)
    if found is None:
        return "single run"
    if found in (HELPS, HURTS):
        return found
    return f"no difference measurable at N={difference.n}"


def _result_cells(name: str, info: Mapping, runs: Sequence[Mapping], many: bool) -> list[str]:
    stats = aggregate(runs)
    first = runs[0]
    cells = [
        name,
        info.get("kind") or "",
        info.get("compare_to") or info.get("base") or "-",
        f"{int(first['parameters']):,}",
        str(int(first["epochs"])),
        f"{sum(m['training_seconds'] for m in runs) / len(runs):.1f}",
        fmt_mean(stats["test_accuracy"]),
    ]
    if many:
        cells.append(fmt_ci(stats["test_accuracy"]))
    cells += [
        fmt_mean(stats["test_top5_accuracy"]),
        fmt_mean(stats["test_loss"]),
        fmt_mean(stats["best_val_accuracy"]),
    ]
    if not many:
        cells.append(str(int(first["best_val_epoch"])))
    cells.append(fmt_mean(stats["final_val_accuracy"]))
    return cells


def _steps(experiments: Mapping[str, Sequence[Mapping]], entry: Mapping, many: bool) -> dict | None:
    rows, tally = [], {}
    for name, runs in experiments.items():
        base = entry["experiments"][name].get("compare_to")
        if base is None:
            continue
        difference = step(runs, experiments[base])
        text = verdict_text(difference)
        tally[text] = tally.get(text, 0) + 1
        cells = [
            name,
            base,
            fmt(aggregate(runs)["test_accuracy"].mean),
            fmt(aggregate(experiments[base])["test_accuracy"].mean),
            fmt_signed(difference.mean),
        ]
        if many:
            cells += [fmt_ci(difference, signed=True), text]
        rows.append({"cells": cells, "verdict": text})
    if not rows:
        return None
    headers = ["Step", "Base", "Test acc.", "Base test acc.", "Difference"]
    if many:
        headers += [f"{CONFIDENCE:.0%} CI", "Verdict"]
    if many:
        counts = [f"{text}: {n}" for text, n in tally.items()]
        summary = f"Of the {len(rows)} steps, " + "; ".join(counts) + "."
    else:
        summary = (
            "Single runs: each difference is one run against one run, which says nothing "
            "about whether the step helps (set replicates to 3 or more for intervals)."
        )
    return {"headers": headers, "rows": rows, "summary": summary}


# --------------------------------------------------------------------------------------
# The templates' context.


def part_context(
    part: str,
    entry: Mapping,
    experiments: Mapping[str, Sequence[Mapping]],
    references: Sequence[Mapping],
    seed: int | None,
    replicates: int,
) -> dict:
    """What both templates show of one part that was run."""
    info = part_info(part)
    configured = entry["experiments"]
    many = replicates > 1
    best = best_experiment(experiments)
    best_runs = experiments[best]
    best_stats = aggregate(best_runs)
    per_class = mean_per_class(best_runs)
    class_count = len(best_runs[0].get("class_names") or per_class)
    method = []
    for name in experiments:
        exp = configured[name]
        base = exp.get("base")
        base_settings = configured[base]["settings"] if base in configured else None
        method.append(
            {
                "name": name,
                "kind": exp.get("kind") or "",
                "base": base or "",
                "starts_from": exp["settings"].get("head", "")
                if exp.get("kind") == "finetune"
                else "",
                "description": " ".join(str(exp.get("description") or "").split()),
                "changes": settings_changes(exp["settings"], base_settings),
                "lines": describe_settings(exp["settings"], class_count),
            }
        )
    ranked = rank_classes(per_class)
    top, bottom = best_and_worst(per_class, PER_CLASS_SHOWN)
    figures = []
    for kind in info.figures:
        title, caption = FIGURES[kind]
        fmt_args = {"noun": info.noun, "best": best, **_runs_text(replicates)}
        figures.append(
            {
                "kind": kind,
                "png": figure_file(part, kind, "png"),
                "pdf": figure_file(part, kind, "pdf"),
                "title": title.format(**fmt_args),
                "caption": caption.format(**fmt_args),
            }
        )
    headers = list(_RESULT_COLUMNS_MANY if many else _RESULT_COLUMNS_ONE)
    rows = [
        {"cells": _result_cells(n, configured[n], runs, many), "best": n == best}
        for n, runs in experiments.items()
    ]
    if not any(configured[n].get("kind") for n in experiments):
        kind = headers.index("Kind")
        headers.pop(kind)
        for row in rows:
            row["cells"].pop(kind)
    return {
        "key": part,
        "label": info.label,
        "title": info.title,
        "noun": info.noun,
        "data": describe_data(part, entry.get("data", {}), seed, best_runs[0]["test"]["examples"]),
        "method": method,
        "headers": headers,
        "rows": rows,
        "steps": _steps(experiments, entry, many),
        "best": {
            "name": best,
            "final_val_accuracy": fmt_mean(best_stats["final_val_accuracy"]),
            "test_accuracy": fmt_mean(best_stats["test_accuracy"]),
            "test_top5_accuracy": fmt_mean(best_stats["test_top5_accuracy"]),
        },
        "references": [
            {"label": r["label"], "accuracy": _reference_text(r["accuracy"])} for r in references
        ],
        "per_class": {
            "classes": len(ranked),
            "all_shown": len(ranked) <= 2 * PER_CLASS_SHOWN,
            "best": [(name, f"{acc:.4f}") for name, acc in top],
            "worst": [(name, f"{acc:.4f}") for name, acc in bottom],
        },
        "figures": figures,
    }


def replicates_text(seed: int | None, replicates: int) -> str:
    if replicates == 1:
        return (
            f"Every number is a single training run (seed {seed}): no spread or interval "
            "can be given, and differences between experiments may be run-to-run noise."
        )
    return (
        f"Every experiment was trained {replicates} times, with seeds {seed} to "
        f"{seed + replicates - 1} on the same data split (replicate k of every experiment "
        f"uses seed {seed} + k). Numbers are means over the replicates; ± is their standard "
        f"deviation; intervals are {CONFIDENCE:.0%} confidence intervals of the mean "
        f"(Student's t, {replicates - 1} degree{'s' if replicates > 2 else ''} of freedom). "
        "A step is compared with its "
        "base replicate by replicate (same seed), and it helps (or hurts) when the interval "
        "of that paired difference in test accuracy lies above (or below) zero; otherwise "
        f"no difference is measurable with {replicates} replicates. Each interval holds for "
        "its own comparison: with several steps, one of them may cross zero by chance."
    )


def report_context(
    parts: Mapping[str, Mapping],
    grouped: Grouped,
    references: Mapping[str, Sequence[Mapping]],
    seed: int | None,
    replicates: int = 1,
) -> dict:
    overview = []
    for part, entry in parts.items():
        info = part_info(part)
        count = len(grouped.get(part, {}))
        overview.append(
            {
                "label": info.label,
                "title": info.title,
                "run": entry["status"] == "run",
                "status": f"run: {count} {info.noun}{'s' if count != 1 else ''}"
                if entry["status"] == "run"
                else f"not run: {entry['reason']}",
                "reason": entry["reason"],
            }
        )
    return {
        "seed": seed,
        "replicates": replicates,
        "replicates_text": replicates_text(seed, replicates),
        "overview": overview,
        "parts": [
            part_context(
                part, parts[part], grouped[part], references.get(part, []), seed, replicates
            )
            for part in grouped
        ],
        "not_run": [o for o in overview if not o["run"]],
    }


def render_report(
    metrics_paths: Sequence[str | Path],
    *,
    parts: Mapping[str, Mapping],
    references: Mapping[str, Sequence[Mapping]],
    seed: int | None,
    replicates: int = 1,
    md_template: str | Path,
    tex_template: str | Path,
    md_out: str | Path,
    tex_out: str | Path,
    summary_out: str | Path,
    aggregates_out: str | Path,
    steps_out: str | Path,
) -> dict:
    """Write summary.csv (per replicate), aggregates.csv and steps.csv, report.md and
    report.tex; return the template context."""
    grouped = group_metrics(load_metrics(metrics_paths), parts, replicates)
    write_csv(summary_out, SUMMARY_FIELDS, summary_rows(grouped, parts))
    write_csv(aggregates_out, AGGREGATE_FIELDS, aggregate_rows(grouped, parts))
    write_csv(steps_out, STEP_FIELDS, step_rows(grouped, parts))
    context = report_context(parts, grouped, references, seed, replicates)
    for template, out, flavor in ((md_template, md_out, "md"), (tex_template, tex_out, "tex")):
        text = render_template(template, context, flavor)
        with atomic_path(out, suffix=Path(out).suffix) as tmp:
            tmp.write_text(text)
    for item in context["overview"]:
        log.info("%s: %s", item["label"], item["status"])
    return context
