"""The parts of the study and what was run: read while the Snakefile is parsed.

Everything here is plain Python over the resolved configuration, handed to the
report's jobs as ``params``; nothing reads results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..datasets import STUDY_DATASETS, dataset_name


@dataclass(frozen=True)
class PartInfo:
    #: Short name: the part's category in Snakemake's report, its name in tables.
    label: str
    title: str
    #: Figures of the part, in the order the report shows them.
    figures: tuple[str, ...]
    #: What one experiment of the part is called in the text.
    noun: str = "experiment"


#: The parts of the study, in report order. A part a workflow does not (yet) define
#: is reported as not run; a part defined but unknown here gets the generic figures.
PARTS: dict[str, PartInfo] = {
    "cifar": PartInfo(
        "CIFAR",
        "BaseNet and its cumulative improvements on {dataset}",
        ("accuracy", "curves", "confusion", "errors"),
        noun="variant",
    ),
    "birds": PartInfo(
        "Birds",
        "ResNet50 on {dataset}",
        ("accuracy", "curves", "per_class", "errors"),
    ),
}


def part_title(part: str, section: Mapping | None) -> str:
    """A part's title, naming the dataset that ran (the study's when none is set)."""
    dataset = (section or {}).get("dataset") if isinstance(section, Mapping) else None
    return part_info(part).title.format(
        dataset=dataset_name(dataset or STUDY_DATASETS.get(part, part))
    )


def applicable_references(config: Mapping, part: str) -> tuple[list, str]:
    """The study's reference points of a part if they apply to this run (the study's
    dataset, real data), else none and why: a run on other data cannot be compared."""
    points = list((config.get("report") or {}).get("references", {}).get(part, []))
    section = config.get(part) if isinstance(config.get(part), Mapping) else {}
    if not points:
        return [], ""
    study = STUDY_DATASETS.get(part)
    if section.get("source") == "synthetic":
        return [], "this run uses synthetic stand-in data"
    if study and section.get("dataset", study) != study:
        return [], f"this run uses {dataset_name(section['dataset'])}"
    return points, ""


#: Best and worst classes listed (text and figure) for a part's best experiment.
PER_CLASS_SHOWN = 10


def part_info(part: str) -> PartInfo:
    return PARTS.get(part) or PartInfo(part.capitalize(), part, ("accuracy", "curves"))


def configured_count(section) -> int:
    """Experiments a part's config section defines, selected or not."""
    if not isinstance(section, Mapping):
        return 0
    keys = ("variants", "heads", "finetune")
    return sum(len(section.get(k) or {}) for k in keys)


def figure_file(part: str, kind: str, ext: str) -> str:
    """Path of a figure relative to the report directory (as report.md/.tex link it)."""
    return f"figures/{part}_{kind}.{ext}"


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


#: Settings of a part's section that say where files are or how fast jobs run, not
#: what was done: left out of the report's params, so changing them renders nothing.
_NOT_DESCRIBED = (
    "enabled",
    "local_archives",
    "local_checksums",
    "inference_batch_size",
)


def part_data_settings(section: Mapping | None) -> dict:
    """The scalar settings of a part's config section (dataset, sizes, split...).

    A weights file is described by what it is, not where it lies.
    """
    if not isinstance(section, Mapping):
        return {}
    data = {
        k: v
        for k, v in section.items()
        if k not in _NOT_DESCRIBED and (v is None or isinstance(v, (str, int, float, bool)))
    }
    if "weights" in data and data["weights"] not in (None, "none", "imagenet"):
        data["weights"] = "file"
    return data


def comparison_base(name: str, info: Mapping, experiments: Mapping[str, Mapping]) -> str | None:
    """What an experiment is compared with in the step table: its ``base``, or for a
    fine-tuning variant without one, the head it starts from."""
    base = info.get("base")
    if base is None and info.get("kind") == "finetune":
        base = info["settings"].get("head")
    return base if base in experiments and base != name else None


def report_parts(config: Mapping, experiments: Mapping[str, Mapping]) -> dict[str, dict]:
    """Everything the report needs to know about each part besides its results.

    Only what describes the experiments goes in (settings, bases, descriptions, data
    settings), so the report reruns when an experiment changes and not otherwise.
    """
    parts = {}
    for part, status in part_statuses(config, experiments).items():
        entry = dict(status)
        entry["title"] = part_title(part, config.get(part))
        if status["status"] == "run":
            section = config.get(part) if isinstance(config.get(part), Mapping) else {}
            references, entry["references_note"] = applicable_references(config, part)
            entry["references"] = references
            if section.get("only") is not None:
                entry["configured"] = configured_count(section)
                entry["selected"] = f"selected with {part}.only"
            entry["data"] = part_data_settings(config.get(part))
            entry["experiments"] = {
                name: {
                    "base": info.get("base"),
                    "compare_to": comparison_base(name, info, experiments[part]),
                    "lineage": list(info.get("lineage", [name])),
                    "description": info.get("description", ""),
                    "kind": info.get("kind"),
                    "settings": info["settings"],
                }
                for name, info in experiments[part].items()
            }
        parts[part] = entry
    return parts
