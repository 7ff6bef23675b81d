"""What each planned job costs: measured before, scaled from a reference, or a fallback.

A job's cost is, in this order:

1. its own benchmark file from an earlier run in the same results directory
   (Snakemake's ``benchmark:``, column ``s``): that very job, measured;
2. the reference table (``convstudy/estimate/reference/*.json``, written by
   ``convstudy estimate --record`` from a finished run's benchmark files): seconds
   per work unit of the rule, for the job's experiment when the table measured it,
   times the job's work units under the planned config;
3. a fallback, labelled as such: the rule's ``runtime`` request (a limit its author
   chose, not a measurement), else nothing known (counted as 0 s).

Work units are what a job's time grows with: for training, epochs times training
images; for feature extraction and evaluation, images; otherwise the job itself.
They come from the resolved config, so a reference measured on one dataset size
scales to another.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..datasets import DATASETS
from .dryrun import Job

# ------------------------------------------------------------------ work units

#: The side the birds' image-sized units are counted at: ResNet50's cost grows with
#: the pixels of an image, so a 64x64 image counts (64/224)^2 of one.
BIRDS_UNIT_SIDE = 224
#: Wildcards that tell replicates apart: replicates of one experiment do the same work.
REPLICATE_WILDCARDS = frozenset({"rep"})


def validation_count(n: int, fraction: float) -> int:
    """Validation examples of a class of ``n`` (as ``data.splits.stratified_split``)."""
    return min(max(int(round(fraction * n)), 1), n - 1)


@dataclass(frozen=True)
class Workload:
    """The sizes of a resolved config that work units are counted from."""

    cifar_train: float = 0
    cifar_test: float = 0
    birds_train: float = 0
    birds_test: float = 0
    birds_images: float = 0
    #: Pixels of a birds image relative to BIRDS_UNIT_SIDE squared.
    birds_pixels: float = 1.0
    #: Epochs by (part, experiment).
    epochs: Mapping[tuple[str, str], int] | None = None

    def epochs_of(self, part: str, name: str) -> int:
        return (self.epochs or {})[part, name]


def cifar_sizes(cifar: Mapping) -> tuple[int, int]:
    """(training images after the validation split, test images) of the CIFAR part."""
    if cifar["source"] == "synthetic":
        train, test = cifar["synthetic"]["train_per_class"], cifar["synthetic"]["test_per_class"]
    else:
        known = DATASETS[cifar["dataset"]]
        train, test = known.train_images // known.classes, known.test_images // known.classes
    if cifar.get("max_train_per_class"):
        train = min(train, cifar["max_train_per_class"])
    fit = train - validation_count(train, cifar["validation_fraction"])
    return cifar["num_classes"] * fit, cifar["num_classes"] * test


def birds_sizes(birds: Mapping) -> tuple[float, float, float]:
    """(training images after the validation split, test images, all images) of the
    birds part; a subset of the real classes counts their average share."""
    fraction = birds["validation_fraction"]
    if birds["source"] == "synthetic":
        syn = birds["synthetic"]
        classes = min(birds.get("num_classes") or syn["num_classes"], syn["num_classes"])
        per_class = syn["train_per_class"]
        fit = classes * (per_class - validation_count(per_class, fraction))
        return fit, classes * syn["test_per_class"], classes * (per_class + syn["test_per_class"])
    known = DATASETS[birds["dataset"]]
    classes, train, test = known.classes, known.train_images, known.test_images
    share = (birds.get("num_classes") or classes) / classes
    return share * train * (1 - fraction), share * test, share * (train + test)


def workload(
    config: Mapping, cifar: Mapping[str, Mapping], birds: Mapping[str, Mapping]
) -> Workload:
    """The Workload of a resolved config and its resolved experiments of each part."""
    epochs = {("cifar", n): v["settings"]["epochs"] for n, v in cifar.items()}
    epochs |= {("birds", n): v["settings"]["epochs"] for n, v in birds.items()}
    sizes: dict = {}
    if config["cifar"]["enabled"]:
        sizes["cifar_train"], sizes["cifar_test"] = cifar_sizes(config["cifar"])
    if config["birds"]["enabled"]:
        train, test, images = birds_sizes(config["birds"])
        side = config["birds"]["image_size"]
        sizes |= {"birds_train": train, "birds_test": test, "birds_images": images}
        sizes["birds_pixels"] = (side / BIRDS_UNIT_SIDE) ** 2
    return Workload(epochs=epochs, **sizes)


@dataclass(frozen=True)
class Unit:
    """A rule's work unit: its name (stored in the reference) and a job's amount of it."""

    name: str
    amount: Callable[[Workload, Mapping[str, str]], float]


def _birds_name(wc: Mapping[str, str]) -> str:
    return wc.get("birds_head") or wc.get("birds_finetune") or wc["birds_experiment"]


#: Work units of the rules whose time grows with the data; every other rule's unit is the job.
UNITS = {
    "train_cifar": Unit(
        "epoch x training image",
        lambda w, wc: w.epochs_of("cifar", wc["variant"]) * w.cifar_train,
    ),
    "evaluate_cifar": Unit("test image", lambda w, wc: w.cifar_test),
    "prepare_birds": Unit("image (decoded and resized)", lambda w, wc: w.birds_images),
    "extract_birds_features": Unit(
        f"image at {BIRDS_UNIT_SIDE}x{BIRDS_UNIT_SIDE}",
        lambda w, wc: w.birds_images * w.birds_pixels,
    ),
    "train_birds_head": Unit(
        "epoch x training image",
        lambda w, wc: w.epochs_of("birds", _birds_name(wc)) * w.birds_train,
    ),
    "finetune_birds": Unit(
        f"epoch x training image at {BIRDS_UNIT_SIDE}x{BIRDS_UNIT_SIDE}",
        lambda w, wc: w.epochs_of("birds", _birds_name(wc)) * w.birds_train * w.birds_pixels,
    ),
    "evaluate_birds": Unit("test image", lambda w, wc: w.birds_test),
}
PER_JOB = Unit("job", lambda w, wc: 1.0)


def unit_of(rule: str) -> Unit:
    return UNITS.get(rule, PER_JOB)


def experiment_key(job: Job) -> str:
    """What sets a job's work apart from other jobs of its rule: its wildcards but the
    replicate (``variant=resnet``); empty for a rule without wildcards."""
    return ", ".join(
        f"{k}={v}" for k, v in sorted(job.wildcards.items()) if k not in REPLICATE_WILDCARDS
    )


# ------------------------------------------------------------------ measurements


@dataclass(frozen=True)
class Benchmark:
    """One benchmark file: mean wall seconds and CPU seconds over its rows (repeats)."""

    seconds: float
    cpu_seconds: float | None


def read_benchmark(path: Path) -> Benchmark:
    """Snakemake's benchmark TSV; CPU time is None where it was not measured."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    try:
        seconds = sum(float(r["s"]) for r in rows) / len(rows)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"{path}: not a Snakemake benchmark file ({exc!r})") from None
    try:
        cpu = sum(float(r["cpu_time"]) for r in rows) / len(rows)
    except (KeyError, TypeError, ValueError):
        cpu = None
    return Benchmark(seconds, cpu)


@dataclass
class Tally:
    """Measured jobs summed: a rule's (or one experiment's) line of the reference."""

    jobs: int = 0
    units: float = 0.0
    seconds: float = 0.0
    cpu_seconds: float | None = 0.0

    def add(self, units: float, bench: Benchmark) -> None:
        self.jobs += 1
        self.units += units
        self.seconds += bench.seconds
        if self.cpu_seconds is not None and bench.cpu_seconds is not None:
            self.cpu_seconds += bench.cpu_seconds
        else:
            self.cpu_seconds = None

    def as_dict(self) -> dict:
        return {
            "jobs": self.jobs,
            "units": round(self.units, 6),
            "seconds": round(self.seconds, 3),
            "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 3),
            "seconds_per_unit": self.seconds / self.units,
        }


def reference_rules(measured: Iterable[tuple[Job, Benchmark]], work: Workload) -> dict:
    """The ``rules`` table of a reference from measured jobs: per rule its unit, the
    threads its jobs ran with, the totals, and the same per experiment."""
    rules: dict[str, dict] = {}
    for job, bench in measured:
        units = unit_of(job.rule).amount(work, job.wildcards)
        if units <= 0:
            continue
        entry = rules.setdefault(job.rule, {"threads": 0, "total": Tally(), "by_experiment": {}})
        entry["threads"] = max(entry["threads"], job.threads)
        entry["total"].add(units, bench)
        key = experiment_key(job)
        if key:
            entry["by_experiment"].setdefault(key, Tally()).add(units, bench)
    return {
        rule: {
            "unit": unit_of(rule).name,
            "threads": entry["threads"],
            **entry["total"].as_dict(),
            "by_experiment": {k: t.as_dict() for k, t in sorted(entry["by_experiment"].items())},
        }
        for rule, entry in sorted(rules.items())
    }


# ------------------------------------------------------------------ costs

EARLIER, REFERENCE, FALLBACK, NO_WORK = "earlier run", "reference", "fallback", "no work"
#: Why a job reruns when what it would run with changed since it ran: its plan
#: (convstudy.reruns) is newer than its outputs; Snakemake's own params trigger, where
#: a profile turns it on, says so in words.
SETTINGS_CHANGED = (".plan", "Params have changed since last execution")


@dataclass(frozen=True)
class Cost:
    """A job's expected seconds, where they come from, and how."""

    seconds: float
    source: str
    note: str = ""
    #: Work units relative to the mean job the reference measured (1 if not scaled).
    scale: float = 1.0


def thread_factor(ref_threads: int, cpu_load: float | None, threads: int) -> float:
    """Slow-down of a job given fewer threads than its measurement kept busy.

    The cores the measured jobs kept busy (their CPU load, at most their threads) are
    shared among the threads the job gets now. More threads than measured are not
    assumed to help: no speed-up is extrapolated.
    """
    busy = ref_threads if cpu_load is None else min(cpu_load, ref_threads)
    return max(1.0, busy / threads)


def reference_cost(job: Job, entry: Mapping, work: Workload, threads: int) -> Cost:
    """A job's seconds from its rule's reference entry: per unit of its own experiment
    when the reference measured it, else of the rule, times the job's units."""
    line = entry["by_experiment"].get(experiment_key(job), entry)
    units = unit_of(job.rule).amount(work, job.wildcards)
    measured = line["cpu_seconds"] is not None and line["seconds"] > 0
    load = line["cpu_seconds"] / line["seconds"] if measured else None
    factor = thread_factor(entry["threads"], load, threads)
    which = "its experiment" if line is not entry else "the rule"
    note = f"{units:g} x {line['seconds_per_unit']:.3g} s per {entry['unit']} ({which})"
    if factor > 1:
        note += f", x{factor:.2f} for {threads} thread(s)"
    scale = units * line["jobs"] / line["units"]
    return Cost(line["seconds_per_unit"] * units * factor, REFERENCE, note, scale)


def fallback_cost(job: Job) -> Cost:
    """No measurement: a target rule does nothing; else the runtime the rule requests."""
    if not job.outputs and job.benchmark is None:
        return Cost(0.0, NO_WORK, "a target rule (no outputs)")
    runtime = job.resources.get("runtime")
    if runtime is not None:
        return Cost(60 * float(runtime), FALLBACK, "its runtime request, not a measurement")
    return Cost(0.0, FALLBACK, "not measured, no runtime request: counted as 0 s")


def job_cost(
    job: Job, workdir: Path, reference: Mapping[str, Mapping], work: Workload, cores: int
) -> Cost:
    """The cost of one planned job: earlier run, else reference, else fallback.

    An earlier benchmark counts unless the job reruns because what it runs with changed:
    then it measured other settings (other epochs, say).
    """
    changed = any(mark in job.reason for mark in SETTINGS_CHANGED)
    if job.benchmark and (workdir / job.benchmark).is_file() and not changed:
        return Cost(read_benchmark(workdir / job.benchmark).seconds, EARLIER, job.benchmark)
    entry = reference.get(job.rule)
    if entry is not None and entry["unit"] == unit_of(job.rule).name:
        return reference_cost(job, entry, work, min(job.threads, cores))
    return fallback_cost(job)
