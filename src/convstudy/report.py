"""The study's final report: summary table, method text written from the resolved
configuration, Markdown and LaTeX rendered from Jinja2 templates, and the PDF.

Every number comes from an experiment's ``metrics.json``; the configuration only
supplies what each experiment *is* (its settings, base and description). The parts
of the study are known here (:data:`PARTS`), so a report of a partial run can say
which part was not run and why.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from .io import atomic_path, read_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartInfo:
    #: Short name: the part's category in Snakemake's report, its name in tables.
    label: str
    title: str
    #: Figures of the part, in the order the report shows them (see :data:`FIGURES`).
    figures: tuple[str, ...]
    #: What one experiment of the part is called in the text.
    noun: str = "experiment"


#: The parts of the study, in report order. A part a workflow does not (yet) define
#: is reported as not run; a part defined but unknown here gets the generic figures.
PARTS: dict[str, PartInfo] = {
    "cifar": PartInfo(
        "CIFAR",
        "BaseNet and its cumulative improvements on CIFAR-100",
        ("accuracy", "curves", "confusion"),
        noun="variant",
    ),
    "birds": PartInfo(
        "Birds",
        "ResNet50 on Caltech-UCSD Birds-200",
        ("accuracy", "curves", "per_class"),
    ),
}

#: Title and caption (for Markdown and LaTeX) of each kind of figure.
FIGURES: dict[str, tuple[str, str]] = {
    "accuracy": (
        "Test accuracy",
        "Test accuracy of every {noun} in configuration order. Lines and bands: the "
        "study's reference points (test accuracy on the real dataset).",
    ),
    "curves": (
        "Learning curves",
        "Loss and accuracy per epoch of every {noun}: training split (blue) and "
        "validation split (orange).",
    ),
    "confusion": (
        "Confusion matrix of the best {noun}",
        "Confusion matrix on the test set of {best}, the {noun} with the best final "
        "validation accuracy: true classes in rows, predicted classes in columns, "
        "colour = share of the true class, numbers = images.",
    ),
    "per_class": (
        "Per-class accuracy of the best {noun}",
        "Test accuracy per class of {best}, the {noun} with the best final validation "
        "accuracy: the best and the worst classes.",
    ),
}

#: Columns of summary.csv, one row per experiment; every number is copied from the
#: experiment's metrics.json.
SUMMARY_FIELDS = (
    "part",
    "experiment",
    "kind",
    "base",
    "adds",
    "parameters",
    "epochs",
    "training_seconds",
    "test_accuracy",
    "test_top5_accuracy",
    "test_loss",
    "test_examples",
    "best_val_accuracy",
    "best_val_epoch",
    "final_val_accuracy",
)

#: Columns of the results table in report.md and report.tex: (summary field, header).
TABLE_COLUMNS = (
    ("experiment", "Experiment"),
    ("kind", "Kind"),
    ("base", "Base"),
    ("parameters", "Parameters"),
    ("epochs", "Epochs"),
    ("training_seconds", "Training (s)"),
    ("test_accuracy", "Test acc."),
    ("test_top5_accuracy", "Test top-5"),
    ("test_loss", "Test loss"),
    ("best_val_accuracy", "Best val. acc."),
    ("best_val_epoch", "Best epoch"),
)

#: Number of best and worst classes listed for a part's best model.
PER_CLASS_SHOWN = 10


def part_info(part: str) -> PartInfo:
    return PARTS.get(part) or PartInfo(part.capitalize(), part, ("accuracy", "curves"))


def figure_file(part: str, kind: str, ext: str) -> str:
    """Path of a figure relative to the report directory (as report.md/.tex link it)."""
    return f"figures/{part}_{kind}.{ext}"


# --------------------------------------------------------------------------------------
# What was run: evaluated when the workflow is parsed, handed to the report as params.


def part_statuses(config: Mapping, experiments: Mapping[str, Mapping]) -> dict[str, dict]:
    """``{part: {"status", "reason"}}`` for every part of the study and every registered one.

    status: ``run``; ``disabled`` (``<part>.enabled: false``); ``empty`` (no experiment
    configured); ``absent`` (the workflow registers no such part).
    """
    statuses = {}
    for part in list(dict.fromkeys([*PARTS, *experiments])):
        section = config.get(part)
        if part not in experiments:
            status = "absent"
            reason = "this workflow defines no experiments for this part"
        elif isinstance(section, Mapping) and not section.get("enabled", True):
            status = "disabled"
            reason = f"switched off in the configuration ({part}.enabled: false)"
        elif not experiments[part]:
            status = "empty"
            reason = "no experiments are configured for this part"
        else:
            status, reason = "run", ""
        statuses[part] = {"status": status, "reason": reason}
    return statuses


def check_references(references: Mapping[str, Sequence[Mapping]]) -> None:
    """Reference ranges must run from low to high (the schema checks the rest)."""
    for part, points in references.items():
        for i, point in enumerate(points):
            accuracy = point["accuracy"]
            if isinstance(accuracy, (list, tuple)) and accuracy[0] > accuracy[1]:
                raise ValueError(
                    f"report.references.{part}[{i}].accuracy: range {list(accuracy)} "
                    "runs from high to low"
                )


def run_parts(config: Mapping, experiments: Mapping[str, Mapping]) -> list[str]:
    return [p for p, s in part_statuses(config, experiments).items() if s["status"] == "run"]


#: Keys of a part's config section that say where files are, not what was done:
#: left out of the report's params so that moving an archive reruns nothing.
_LOCATION_KEYS = ("enabled", "local_archive", "local_md5", "local_archives", "weights_path")


def part_data_settings(section: Mapping | None) -> dict:
    """The scalar settings of a part's config section (dataset, sizes, split...)."""
    if not isinstance(section, Mapping):
        return {}
    return {
        k: v
        for k, v in section.items()
        if k not in _LOCATION_KEYS and (v is None or isinstance(v, (str, int, float, bool)))
    }


def report_parts(config: Mapping, experiments: Mapping[str, Mapping]) -> dict[str, dict]:
    """Everything the report needs to know about each part besides its results.

    Only what describes the experiments goes in (settings, bases, descriptions, data
    settings), so the report reruns when an experiment changes and not otherwise.
    """
    parts = {}
    for part, status in part_statuses(config, experiments).items():
        entry = dict(status)
        if status["status"] == "run":
            entry["data"] = part_data_settings(config.get(part))
            entry["experiments"] = {
                name: {
                    "base": info.get("base"),
                    "lineage": list(info.get("lineage", [name])),
                    "description": info.get("description", ""),
                    "kind": info.get("kind"),
                    "settings": info["settings"],
                }
                for name, info in experiments[part].items()
            }
        parts[part] = entry
    return parts


# --------------------------------------------------------------------------------------
# Numbers: every one of them read from the metrics files.


def load_metrics(paths: Sequence[str | Path]) -> list[dict]:
    metrics = []
    for path in paths:
        data = read_json(path)
        missing = [k for k in ("part", "experiment", "test", "epochs") if k not in data]
        if missing:
            raise ValueError(f"{path}: not an experiment's metrics file (missing {missing})")
        metrics.append(data)
    return metrics


def group_metrics(
    metrics: Sequence[Mapping], parts: Mapping[str, Mapping]
) -> dict[str, list[dict]]:
    """Metrics of each run part in the registry's order; every experiment must have one."""
    by_key = {(m["part"], m["experiment"]): m for m in metrics}
    grouped = {}
    for part, entry in parts.items():
        if entry["status"] != "run":
            continue
        missing = [n for n in entry["experiments"] if (part, n) not in by_key]
        if missing:
            raise ValueError(f"no metrics for {part} experiment(s) {', '.join(missing)}")
        grouped[part] = [by_key[(part, n)] for n in entry["experiments"]]
    return grouped


def best_experiment(metrics: Sequence[Mapping]) -> Mapping:
    """The experiment whose saved model has the best validation accuracy (the first of
    equals). Selection never looks at the test set."""
    if not metrics:
        raise ValueError("no experiments to choose from")
    return max(metrics, key=lambda m: m["final_val_accuracy"])


def rank_classes(per_class: Mapping[str, float | None]) -> list[tuple[str, float]]:
    """Classes with test examples, best first (ties by name, so the order is stable)."""
    scored = [(name, float(acc)) for name, acc in per_class.items() if acc is not None]
    return sorted(scored, key=lambda item: (-item[1], item[0]))

def best_and_worst(
    per_class: Mapping[str, float | None], n: int = 10
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The ``n`` best and ``n`` worst classes (worst last); all classes split in two
    when there are no more than ``2 n``."""
    ranked = rank_classes(per_class)
    if len(ranked) <= 2 * n:
        half = math.ceil(len(ranked) / 2)
        return ranked[:half], ranked[half:]
    return ranked[:n], ranked[-n:]



def summary_row(metrics: Mapping, info: Mapping) -> dict:
    test = metrics["test"]
    return {
        "part": metrics["part"],
        "experiment": metrics["experiment"],
        "kind": info.get("kind") or "",
        "base": info.get("base") or "",
        "adds": " ".join(str(info.get("description") or "").split()),
        "parameters": metrics["parameters"],
        "epochs": metrics["epochs"],
        "training_seconds": metrics["training_seconds"],
        "test_accuracy": test["accuracy"],
        "test_top5_accuracy": test["top5_accuracy"],
        "test_loss": test["loss"],
        "test_examples": test["examples"],
        "best_val_accuracy": metrics["best_val_accuracy"],
        "best_val_epoch": metrics["best_val_epoch"],
        "final_val_accuracy": metrics["final_val_accuracy"],
    }


def summary_rows(grouped: Mapping[str, Sequence[Mapping]], parts: Mapping[str, Mapping]) -> list[dict]:
    return [
        summary_row(m, parts[part]["experiments"][m["experiment"]])
        for part, metrics in grouped.items()
        for m in metrics
    ]


def write_summary(path: str | Path, rows: Sequence[Mapping]) -> None:
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)


def format_cell(field: str, value) -> str:
    """How the results tables show a summary value."""
    if value is None or value == "":
        return "-"
    if field in ("parameters",):
        return f"{int(value):,}"
    if field in ("epochs", "best_val_epoch", "test_examples"):
        return str(int(value))
    if field == "training_seconds":
        return f"{float(value):.1f}"
    if field in ("test_accuracy", "test_top5_accuracy", "test_loss", "best_val_accuracy",
                 "final_val_accuracy"):
        return f"{float(value):.4f}"
    return str(value)


# --------------------------------------------------------------------------------------
# Method text, written from the resolved settings of each experiment.


def _num(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_cnn(arch: Mapping, num_classes: int | None = None) -> str:
    """A CNN architecture of the CIFAR part in one line."""
    steps = []
    for block in arch["conv_blocks"]:
        size = block["kernel_size"]
        steps.extend(f"Conv {f}@{size}×{size}" for f in block["filters"])
        steps.append(f"max-pool {arch.get('pool_size', 2)}")
    steps.append("global average pooling" if arch.get("head") == "global_average" else "flatten")
    steps.extend(f"Dense {units}" for units in arch.get("dense", []))
    steps.append(f"Dense {num_classes} (softmax)" if num_classes else "Dense (softmax)")
    text = " → ".join(steps) + "; ReLU after every hidden layer"
    extras = [f"{arch.get('padding', 'valid')} padding"]
    if arch.get("residual"):
        extras.append("residual shortcut around every module")
    batchnorm = arch.get("batchnorm", "none")
    if batchnorm and batchnorm != "none":
        extras.append("batch normalisation " + batchnorm.replace("_", " ").replace("relu", "every ReLU"))
    drops = arch.get("block_dropout") or []
    if any(drops):
        extras.append("dropout " + ", ".join(_num(d) for d in drops) + " after the modules")
    if arch.get("dense_dropout"):
        extras.append(f"dropout {_num(arch['dense_dropout'])} before each dense layer")
    return f"{text}; " + "; ".join(extras)


def describe_optimizer(opt: Mapping, schedule: Mapping | None = None) -> str:
    name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}.get(opt.get("name"), str(opt.get("name")))
    details = [f"learning rate {_num(opt['learning_rate'])}"] if "learning_rate" in opt else []
    if opt.get("momentum"):
        details.append(f"momentum {_num(opt['momentum'])}")
    if opt.get("nesterov"):
        details.append("Nesterov")
    if opt.get("weight_decay"):
        details.append(f"weight decay {_num(opt['weight_decay'])}")
    for key, value in opt.items():
        if key not in ("name", "learning_rate", "momentum", "nesterov", "weight_decay"):
            details.append(f"{key.replace('_', ' ')} {format_value(value)}")
    text = f"{name} ({', '.join(details)})" if details else name
    if schedule:
        sched = schedule.get("name", "constant")
        text += f", {sched} learning-rate schedule"
        if schedule.get("warmup_epochs"):
            text += f" with {schedule['warmup_epochs']} warm-up epochs"
    return text


def describe_augment(aug: Mapping) -> str:
    parts = []
    if aug.get("horizontal_flip"):
        parts.append("random horizontal flips")
    if aug.get("vertical_flip"):
        parts.append("random vertical flips")
    if aug.get("translate"):
        parts.append(f"random translations up to {100 * aug['translate']:g}%")
    if aug.get("rotation"):
        parts.append(f"random rotations up to {_num(aug['rotation'])}°")
    if aug.get("zoom"):
        parts.append(f"random zoom ±{_num(aug['zoom'])}")
    for key, value in aug.items():
        if key not in ("horizontal_flip", "vertical_flip", "translate", "rotation", "zoom", "fill_mode") and value:
            parts.append(f"{key.replace('_', ' ')} {format_value(value)}")
    if not parts:
        return "none"
    if (aug.get("rotation") or aug.get("zoom") or aug.get("translate")) and aug.get("fill_mode"):
        parts.append(f"{aug['fill_mode']} fill")
    return ", ".join(parts)


def format_value(value, limit: int = 160) -> str:
    """Any setting as short readable text (nested mappings and lists included)."""
    if isinstance(value, Mapping):
        text = ", ".join(f"{k.replace('_', ' ')} {format_value(v, limit)}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value):
            text = "; ".join(f"({i}) {format_value(v, limit)}" for i, v in enumerate(value, 1))
        else:
            text = "[" + ", ".join(format_value(v, limit) for v in value) + "]"
    elif value is None:
        text = "none"
    else:
        text = _num(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Settings that the method text describes in their own line, in this order.
_DESCRIBED = ("architecture", "normalize", "augment", "optimizer", "schedule", "label_smoothing", "batch_size", "epochs")


def describe_settings(settings: Mapping, num_classes: int | None = None) -> list[tuple[str, str]]:
    """(label, text) lines of the method section for one experiment's resolved settings.

    Settings of any part are covered: the familiar ones get prose, the rest a
    readable listing, so a new setting shows up in the report without code.
    """
    lines = []
    arch = settings.get("architecture")
    if isinstance(arch, Mapping) and "conv_blocks" in arch:
        lines.append(("Architecture", describe_cnn(arch, num_classes)))
    elif arch is not None:
        lines.append(("Architecture", format_value(arch)))
    # Settings without prose (a birds head, fine-tuning stages...) describe the model:
    # they come right after the architecture.
    for key, value in settings.items():
        if key not in _DESCRIBED:
            lines.append((key.replace("_", " ").capitalize(), format_value(value)))
    inputs = []
    if "normalize" in settings:
        inputs.append(
            "featurewise mean/std normalisation fitted on the training split"
            if settings["normalize"]
            else "pixels scaled to [0, 1]"
        )
    if "augment" in settings and isinstance(settings["augment"], Mapping):
        inputs.append(f"augmentation: {describe_augment(settings['augment'])}")
    if inputs:
        lines.append(("Input", "; ".join(inputs)))
    if isinstance(settings.get("optimizer"), Mapping):
        lines.append(("Optimizer", describe_optimizer(settings["optimizer"], settings.get("schedule"))))
    training = []
    if "batch_size" in settings:
        training.append(f"batch {settings['batch_size']}")
    if "epochs" in settings:
        training.append(f"{settings['epochs']} epochs")
    if settings.get("label_smoothing"):
        training.append(f"label smoothing {_num(settings['label_smoothing'])}")
    if training:
        lines.append(("Training", ", ".join(training)))
    return lines


def _flatten(settings: Mapping, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def settings_changes(settings: Mapping, base_settings: Mapping | None) -> list[str]:
    """What a variant changes over its base, e.g. ``["normalize: yes", "epochs: 35"]``."""
    if base_settings is None:
        return []
    new, old = _flatten(settings), _flatten(base_settings)
    changes = []
    for key in new:
        if key not in old or new[key] != old[key]:
            changes.append(f"{key}: {format_value(new[key], limit=60)}")
    changes.extend(f"{key}: removed" for key in old if key not in new)
    return changes


def describe_data(part: str, data: Mapping, seed: int | None, test_examples: int | None) -> list[str]:
    """Sentences on the data of a part, from its config section."""
    sentences = []
    if part == "cifar":
        dataset = {"cifar100": "CIFAR-100", "cifar10": "CIFAR-10"}.get(data.get("dataset"), data.get("dataset"))
        n = data.get("num_classes")
        first = "fine " if data.get("dataset") == "cifar100" else ""
        sentences.append(f"{dataset}, the first {n} {first}classes (labels 0 to {n - 1}), 32×32 colour images.")
        if data.get("max_train_per_class"):
            sentences.append(f"At most {data['max_train_per_class']} training images per class.")
        if data.get("validation_fraction"):
            sentences.append(
                f"A stratified {100 * data['validation_fraction']:g}% of the training images "
                f"is held out for validation (seed {seed})."
            )
    else:
        listed = {k: v for k, v in data.items() if k != "source"}
        if listed:
            sentences.append("Data settings: " + format_value(listed) + f"; seed {seed}.")
    source = data.get("source")
    if source == "synthetic":
        sentences.append(
            "The images are a synthetic stand-in generated by the workflow (demo or test "
            "run): accuracies are not comparable with the study's reference points."
        )
    elif source == "local":
        sentences.append("The dataset archive was supplied locally.")
    elif source == "download":
        sentences.append("The dataset archive was downloaded and checked against its official checksum.")
    if test_examples:
        sentences.append(f"Every test accuracy is measured on {test_examples} test images.")
    return sentences


# --------------------------------------------------------------------------------------
# Rendering.

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


def part_context(
    part: str,
    entry: Mapping,
    metrics: Sequence[Mapping],
    references: Sequence[Mapping],
    seed: int | None,
) -> dict:
    """What both templates show of one part that was run."""
    info = part_info(part)
    experiments = entry["experiments"]
    rows = summary_rows({part: metrics}, {part: entry})
    best = best_experiment(metrics)
    has_kind = any(r["kind"] for r in rows)
    columns = [(f, h) for f, h in TABLE_COLUMNS if f != "kind" or has_kind]
    class_count = len(best.get("class_names") or best["test"]["per_class_accuracy"])
    method = []
    for m in metrics:
        name = m["experiment"]
        exp = experiments[name]
        base = exp.get("base")
        base_settings = experiments[base]["settings"] if base in experiments else None
        method.append(
            {
                "name": name,
                "kind": exp.get("kind") or "",
                "base": base or "",
                "description": " ".join(str(exp.get("description") or "").split()),
                "changes": settings_changes(exp["settings"], base_settings),
                "lines": describe_settings(exp["settings"], class_count),
            }
        )
    ranked = rank_classes(best["test"]["per_class_accuracy"])
    top, bottom = best_and_worst(best["test"]["per_class_accuracy"], PER_CLASS_SHOWN)
    figures = []
    for kind in info.figures:
        title, caption = FIGURES[kind]
        fmt = {"noun": info.noun, "best": best["experiment"]}
        figures.append(
            {
                "kind": kind,
                "png": figure_file(part, kind, "png"),
                "pdf": figure_file(part, kind, "pdf"),
                "title": title.format(**fmt),
                "caption": caption.format(**fmt),
            }
        )
    return {
        "key": part,
        "label": info.label,
        "title": info.title,
        "noun": info.noun,
        "data": describe_data(part, entry.get("data", {}), seed, best["test"]["examples"]),
        "method": method,
        "headers": [h for _, h in columns],
        "rows": [
            {
                "cells": [format_cell(f, row[f]) for f, _ in columns],
                "best": row["experiment"] == best["experiment"],
            }
            for row in rows
        ],
        "best": {
            "name": best["experiment"],
            "final_val_accuracy": format_cell("final_val_accuracy", best["final_val_accuracy"]),
            "test_accuracy": format_cell("test_accuracy", best["test"]["accuracy"]),
            "test_top5_accuracy": format_cell("test_top5_accuracy", best["test"]["top5_accuracy"]),
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


def report_context(
    parts: Mapping[str, Mapping],
    grouped: Mapping[str, Sequence[Mapping]],
    references: Mapping[str, Sequence[Mapping]],
    seed: int | None,
) -> dict:
    overview = []
    for part, entry in parts.items():
        info = part_info(part)
        count = len(grouped.get(part, []))
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
        "overview": overview,
        "parts": [
            part_context(part, parts[part], grouped[part], references.get(part, []), seed)
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
    md_template: str | Path,
    tex_template: str | Path,
    md_out: str | Path,
    tex_out: str | Path,
    summary_out: str | Path,
) -> dict:
    """Write summary.csv, report.md and report.tex; return the template context."""
    grouped = group_metrics(load_metrics(metrics_paths), parts)
    write_summary(summary_out, summary_rows(grouped, parts))
    context = report_context(parts, grouped, references, seed)
    for template, out, flavor in ((md_template, md_out, "md"), (tex_template, tex_out, "tex")):
        text = render_template(template, context, flavor)
        with atomic_path(out, suffix=Path(out).suffix) as tmp:
            tmp.write_text(text)
    for item in context["overview"]:
        log.info("%s: %s", item["label"], item["status"])
    return context


# --------------------------------------------------------------------------------------
# PDF.

#: Debian packages that provide latexmk and everything report.tex uses.
LATEX_PACKAGES = "texlive-latex-base texlive-latex-recommended lmodern latexmk"


def pdf_instructions(tex: str | Path, latexmk: str = "latexmk") -> str:
    tex = Path(tex)
    return (
        f"{latexmk} not found on PATH: {tex.with_suffix('.pdf')} is not built. To build it, "
        f"install LaTeX (Debian/Ubuntu: apt-get install {LATEX_PACKAGES}) and rerun Snakemake "
        f"(report.pdf becomes a target when latexmk is found), or run "
        f"`cd {tex.parent} && latexmk -pdf {tex.name}`."
    )


def build_pdf(tex: str | Path, pdf_out: str | Path, latexmk: str = "latexmk") -> None:
    """Compile ``tex`` with latexmk in a scratch directory; move only a finished PDF into place."""
    tex, pdf_out = Path(tex).resolve(), Path(pdf_out).resolve()
    exe = shutil.which(latexmk)
    if exe is None:
        raise FileNotFoundError(pdf_instructions(tex, latexmk))
    pdf_out.parent.mkdir(parents=True, exist_ok=True)
    # A fixed scratch name: pdfTeX puts the output path into the PDF's ID.
    build = pdf_out.parent / f".{pdf_out.stem}.latexmk"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    try:
        cmd = [
            exe,
            "-pdf",
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-file-line-error",
            f"-outdir={build}",
            tex.name,
        ]
        log.info("running %s (in %s)", " ".join(cmd), tex.parent)
        # Fixed dates make the same .tex give the same PDF.
        env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
        proc = subprocess.run(cmd, cwd=tex.parent, capture_output=True, text=True, env=env)
        tex_log = build / tex.with_suffix(".log").name
        if proc.returncode != 0:
            details = tex_log.read_text(errors="replace") if tex_log.exists() else proc.stdout
            raise RuntimeError(
                f"latexmk failed on {tex} (exit {proc.returncode}); end of the LaTeX log:\n"
                + "\n".join(details.splitlines()[-40:])
            )
        log.info("latexmk output (end):\n%s", "\n".join(proc.stdout.splitlines()[-15:]))
        with atomic_path(pdf_out, suffix=".pdf") as tmp:
            shutil.copyfile(build / tex.with_suffix(".pdf").name, tmp)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    log.info("wrote %s", pdf_out)


def pdf_wanted(setting: str, latexmk: str = "latexmk") -> bool:
    """Whether report.pdf is a target: ``always``, ``never``, or ``auto`` (latexmk found)."""
    if setting == "always":
        return True
    if setting == "never":
        return False
    return shutil.which(latexmk) is not None

