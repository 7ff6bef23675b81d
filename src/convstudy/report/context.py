"""What the report's templates show: every value computed here, once, for both the
Markdown and the LaTeX template (which escape it for their format).

The prose lives here too, as data: the same sentences go into both formats, and
each template escapes them for its own (LaTeX's ``%`` and ``_``, Markdown's ``*``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..datasets import dataset_name
from .method import describe_data, describe_settings, settings_changes
from .parts import PER_CLASS_SHOWN, figure_file, part_info
from .results import (
    Grouped,
    aggregate,
    best_and_worst,
    best_experiment,
    ensemble,
    mean_per_class,
    measure,
    rank_classes,
    step,
)
from .stats import CONFIDENCE, MEANINGFUL_P, MIN_REPLICATES
from .tables import RESULT_COLUMNS, STEP_COLUMNS, fmt_mean, table, verdict_text

#: Title and caption of each kind of figure; ``{runs_*}`` say how the replicates are drawn.
FIGURES: dict[str, tuple[str, str]] = {
    "accuracy": (
        "Test accuracy",
        "Test accuracy of every {noun} in configuration order{runs_accuracy}{references}",
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
    "errors": (
        "Test images the best {noun} gets wrong",
        "The test images that {best}, the {noun} with the best {mean}final validation "
        "accuracy, gets wrong most often{runs_errors}, each with its true class and the "
        "class predicted most often instead.",
    ),
}


def replicates_of(grouped: Grouped) -> int:
    """The number of replicates of every experiment (they all have the same)."""
    return len(next(iter(next(iter(grouped.values())).values()))) if grouped else 0


def seeds_of(grouped: Grouped) -> list[int]:
    """The training seeds the replicates used, as their metrics record them."""
    runs = next(iter(next(iter(grouped.values())).values())) if grouped else []
    return [m.get("seed") for m in runs]


def _runs_text(replicates: int, references: bool) -> dict[str, str]:
    refs = (
        ". Lines and bands: the study's reference points (test accuracy on the real dataset)."
        if references
        else "."
    )
    if replicates == 1:
        return {
            "runs_accuracy": " (single runs; line: 95% interval over the test images)",
            "runs_curves": "",
            "runs_pooled": "",
            "runs_mean": "",
            "runs_errors": "",
            "mean": "",
            "references": refs,
        }
    return {
        "runs_accuracy": (
            f": each of the {replicates} replicates (dot), their mean (bar) with its "
            f"{CONFIDENCE:.0%} interval over seeds and test images (line), and the "
            "accuracy of their ensemble (diamond)"
        ),
        "runs_curves": f", the mean over {replicates} replicates, shaded from the lowest to the highest",
        "runs_pooled": f", summed over its {replicates} replicates",
        "runs_mean": f", averaged over its {replicates} replicates",
        "runs_errors": f" across its {replicates} replicates",
        "mean": "mean ",
        "references": refs,
    }


def replicates_text(seeds: Sequence[int]) -> str:
    """How to read every number of the report, given the replicates' seeds."""
    k = len(seeds)
    test = (
        f"Test accuracies come with a {CONFIDENCE:.0%} interval that counts the test images "
        "as a sample of the task: "
    )
    if k == 1:
        return (
            f"Every number is a single training run (seed {seeds[0]}): no spread over "
            "training seeds can be given, and differences between experiments may be "
            f"run-to-run noise. {test}the Wilson interval of the binomial, over the test "
            "images only."
        )
    return (
        f"Every experiment was trained {k} times, with seeds {', '.join(map(str, seeds))} "
        "on the same data, replicate k of every experiment with the same seed. Numbers are "
        f"means over the replicates; ± is their standard deviation. {test}it comes from "
        "the variance components of a crossed seeds × test images design (Student's t "
        "with Satterthwaite degrees of freedom), on the logit scale so that it stays "
        "within [0, 1]. A step is compared with its base replicate by replicate and image "
        "by image; its interval counts both sources too (the seed-only interval, which "
        "treats the test set as fixed, is shown beside it), and P(step > base) is the "
        "probability that a new paired run beats its base on a new test set of the same "
        f"size (Bouthillier et al., 2021; above {MEANINGFUL_P} they call a gain meaningful). "
        f"A step helps (or hurts) when its interval lies above (or below) zero; a verdict "
        f"needs at least {MIN_REPLICATES} replicates. Each interval holds for its own "
        "comparison: with several steps, one of them may cross zero by chance. The "
        "ensemble is the accuracy of the mean of the replicates' predicted probabilities."
    )


def steps_summary(found: Sequence) -> str:
    """One sentence over the step table: its verdicts, or why there are none."""
    k = found[0].replicates
    if k == 1:
        return (
            "Single runs: each difference is one run against one run, which says nothing "
            f"about whether the step helps (set replicates to {MIN_REPLICATES} or more for "
            "intervals and verdicts)."
        )
    if k < MIN_REPLICATES:
        return (
            f"With {k} replicates the intervals are shown but no step is judged: a verdict "
            f"needs at least {MIN_REPLICATES} replicates (set replicates: {MIN_REPLICATES} "
            "or more; the README's calibration table gives the power of each number)."
        )
    tally: dict[str, int] = {}
    for item in found:
        text = item.verdict or "no verdict"
        tally[text] = tally.get(text, 0) + 1
    return f"Of the {len(found)} steps: " + "; ".join(f"{t}: {n}" for t, n in tally.items()) + "."


def _method(experiments: Mapping, configured: Mapping, class_count: int) -> list[dict]:
    method = []
    for name in experiments:
        exp = configured[name]
        base = exp.get("base")
        base_settings = configured[base]["settings"] if base in configured else None
        finetune = exp.get("kind") == "finetune"
        method.append(
            {
                "name": name,
                "kind": exp.get("kind") or "",
                "base": base or "",
                "starts_from": exp["settings"].get("head", "") if finetune else "",
                "description": " ".join(str(exp.get("description") or "").split()),
                "changes": settings_changes(exp["settings"], base_settings),
                "lines": describe_settings(exp["settings"], class_count),
            }
        )
    return method


def _results(experiments: Mapping, configured: Mapping, best: str) -> dict:
    rows = [
        {
            "name": name,
            "info": configured[name],
            "runs": runs,
            "stats": aggregate(runs),
            "ensemble": ensemble(runs),
        }
        for name, runs in experiments.items()
    ]
    out = table(RESULT_COLUMNS, rows)
    out["rows"] = [
        {"cells": cells, "best": row["name"] == best}
        for cells, row in zip(out["rows"], rows, strict=True)
    ]
    return out


def _steps(experiments: Mapping, configured: Mapping) -> dict | None:
    rows = []
    for name, runs in experiments.items():
        base = configured[name].get("compare_to")
        if base is None:
            continue
        rows.append(
            {
                "name": name,
                "base": base,
                "runs": runs,
                "accuracy": sum(measure(runs, "test_accuracy")) / len(runs),
                "base_accuracy": sum(measure(experiments[base], "test_accuracy"))
                / len(experiments[base]),
                "step": step(runs, experiments[base]),
            }
        )
    if not rows:
        return None
    out = table(STEP_COLUMNS, rows)
    out["rows"] = [
        {"cells": cells, "verdict": verdict_text(row["step"])}
        for cells, row in zip(out["rows"], rows, strict=True)
    ]
    out["summary"] = steps_summary([row["step"] for row in rows])
    return out


def _figures(part: str, best: str, replicates: int, references: bool) -> list[dict]:
    info = part_info(part)
    args = {"noun": info.noun, "best": best, **_runs_text(replicates, references)}
    return [
        {
            "kind": kind,
            "png": figure_file(part, kind, "png"),
            "pdf": figure_file(part, kind, "pdf"),
            "title": FIGURES[kind][0].format(**args),
            "caption": FIGURES[kind][1].format(**args),
        }
        for kind in info.figures
    ]


def _per_class(best_runs: Sequence[Mapping]) -> dict:
    per_class = mean_per_class(best_runs)
    ranked = rank_classes(per_class)
    top, bottom = best_and_worst(per_class, PER_CLASS_SHOWN)
    return {
        "classes": len(ranked),
        "all_shown": len(ranked) <= 2 * PER_CLASS_SHOWN,
        "best": [(name, f"{acc:.4f}") for name, acc in top],
        "worst": [(name, f"{acc:.4f}") for name, acc in bottom],
    }


def _reference_text(accuracy) -> str:
    """0.4 -> "0.40", 0.664 -> "0.664", [0.40, 0.45] -> "0.40-0.45"."""
    if isinstance(accuracy, (list, tuple)):
        return "-".join(map(_reference_text, accuracy))
    text = f"{float(accuracy):.4f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.partition(".")[2]))


def part_context(
    part: str, entry: Mapping, experiments: Mapping[str, Sequence[Mapping]], seed: int | None
) -> dict:
    """What both templates show of one part that was run."""
    info = part_info(part)
    references = entry.get("references", [])
    configured = entry["experiments"]
    best = best_experiment(experiments)
    best_runs = experiments[best]
    best_stats = aggregate(best_runs)
    class_count = len(best_runs[0].get("class_names") or best_runs[0]["test"]["per_class_accuracy"])
    return {
        "key": part,
        "label": info.label,
        "title": entry.get("title", info.title),
        "noun": info.noun,
        "data": describe_data(part, entry.get("data", {}), seed, best_runs[0]["test"]["examples"]),
        "method": _method(experiments, configured, class_count),
        **_results(experiments, configured, best),
        "steps": _steps(experiments, configured),
        "best": {
            "name": best,
            "final_val_accuracy": fmt_mean(best_stats["final_val_accuracy"]),
            "test_accuracy": fmt_mean(best_stats["test_accuracy"]),
            "test_top5_accuracy": fmt_mean(best_stats["test_top5_accuracy"]),
        },
        "references": [
            {"label": r["label"], "accuracy": _reference_text(r["accuracy"])} for r in references
        ],
        "references_note": entry.get("references_note", ""),
        "per_class": _per_class(best_runs),
        "figures": _figures(part, best, len(best_runs), bool(references)),
    }


def _overview(parts: Mapping[str, Mapping], grouped: Grouped) -> list[dict]:
    overview = []
    for part, entry in parts.items():
        info = part_info(part)
        run = entry["status"] == "run"
        count = len(grouped.get(part, {}))
        status = f"run: {count} {info.noun}{'s' if count != 1 else ''}"
        if run and entry.get("selected"):
            status += f" of {entry['configured']} ({entry['selected']})"
        overview.append(
            {
                "label": info.label,
                "title": entry.get("title", info.title),
                "run": run,
                "status": status if run else f"not run: {entry['reason']}",
                "reason": entry["reason"],
            }
        )
    return overview


def _distinct(values) -> str:
    found = sorted({str(v) for v in values if v not in (None, "", [])})
    return ", ".join(found) if found else "not recorded"


def software_and_hardware(grouped: Grouped) -> list[tuple[str, str]]:
    """What made the results, as every run's jobs recorded it: one line per item,
    every distinct value (one value: every job agreed)."""
    jobs = [
        job
        for experiments in grouped.values()
        for runs in experiments.values()
        for m in runs
        for job in (m.get("provenance") or {}).values()
    ]
    if not jobs:
        return []
    commits = {(j.get("commit"), j.get("dirty")) for j in jobs}
    return [
        ("Python", _distinct(j.get("python") for j in jobs)),
        ("Keras", _distinct(j.get("keras") for j in jobs)),
        ("TensorFlow", _distinct(j.get("tensorflow") for j in jobs)),
        ("JAX", _distinct(j.get("jax") for j in jobs)),
        ("NumPy", _distinct(j.get("numpy") for j in jobs)),
        (
            "Workflow commit",
            _distinct(
                f"{c[:12]}{' with uncommitted changes' if dirty else ''}" if c else None
                for c, dirty in commits
            ),
        ),
        ("CPU", _distinct(j.get("cpu") for j in jobs)),
        ("GPU", _distinct(g for j in jobs for g in j.get("gpus") or []) or "none"),
        ("Threads per job", _distinct(j.get("threads") for j in jobs)),
        (
            "Jobs ran",
            f"from {min(j['started'] for j in jobs)} to {max(j['finished'] for j in jobs)}",
        ),
    ]


def report_context(parts: Mapping[str, Mapping], grouped: Grouped, seed: int | None) -> dict:
    overview = _overview(parts, grouped)
    seeds = seeds_of(grouped)
    datasets = [
        parts[p]["data"]["dataset"] for p in grouped if parts[p].get("data", {}).get("dataset")
    ]
    return {
        "title": "Convolutional networks"
        + (f" on {' and '.join(map(dataset_name, datasets))}" if datasets else "")
        + ": a reproduction",
        "seed": seed,
        "replicates": replicates_of(grouped),
        "replicates_text": replicates_text(seeds) if seeds else "",
        "overview": overview,
        "parts": [part_context(part, parts[part], grouped[part], seed) for part in grouped],
        "not_run": [o for o in overview if not o["run"]],
        "software": software_and_hardware(grouped),
    }
