import re
import sys
from pathlib import Path

# The rules' logic lives in the convstudy package (src/), importable here without
# installation (ahead of any installed copy); jobs import it the same way through
# scripts/_src_path.py.
SRC = str(Path(workflow.basedir) / "src")
while SRC in sys.path:
    sys.path.remove(SRC)
sys.path.insert(0, SRC)

from convstudy.codeversion import script_digest
from convstudy.config import (
    cifar_archive_source,
    cifar_variants,
    load_schema,
    validate_config,
)
from convstudy.experiments.birds import (
    birds_archives,
    birds_experiments,
    birds_weights,
    needs_spatial,
)
from convstudy.variants import ConfigError

SCHEMA = load_schema(Path(workflow.basedir) / "config" / "config.schema.yaml")

# Everything that can be checked without data is checked now, before any job:
# the schema (one short line naming the key), class counts, unknown bases, cycles,
# incomplete variants, architectures that do not fit.
try:
    validate_config(config, SCHEMA)
    CIFAR_VARIANTS = (
        cifar_variants(config, SCHEMA) if config["cifar"]["enabled"] else {}
    )
    CIFAR_ARCHIVE = cifar_archive_source(config)
    BIRDS_ENABLED = config["birds"]["enabled"]
    BIRDS_EXPERIMENTS = birds_experiments(config, SCHEMA) if BIRDS_ENABLED else {}
    BIRDS_ARCHIVES = birds_archives(config) if BIRDS_ENABLED else {}
    BIRDS_WEIGHTS = birds_weights(config) if BIRDS_ENABLED else {"kind": "none"}
except ConfigError as exc:
    raise ConfigError(f"invalid configuration: {exc}") from None

# Snakemake's own check, as every workflow does; the one above has passed already.
validate(config, "../config/config.schema.yaml")

# Every experiment of every part, in report order: {part: {name: resolved variant}}.
# Each part's rule file registers its own; the report reads them from here.
EXPERIMENTS = {"cifar": CIFAR_VARIANTS}
EXPERIMENTS["birds"] = BIRDS_EXPERIMENTS

RESULTS = config["results_dir"].rstrip("/")
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
# Per-epoch resume state; deliberately not a declared output, so that Snakemake
# keeps it when a killed training job is rerun with --rerun-incomplete.
RESUME = f"{RESULTS}/resume"

DOWNLOAD_FILES = {entry["filename"]: entry for entry in config["datasets"].values()}

# Replicate k of every training runs with seed `seed + k`; its outputs go to rep<k>/.
REPLICATES = list(range(config["replicates"]))


wildcard_constraints:
    variant="|".join(map(re.escape, CIFAR_VARIANTS)) or "no-variant",
    filename="|".join(map(re.escape, DOWNLOAD_FILES)),
    rep=r"\d+",


def replicate_seed(wildcards):
    """The training seed of replicate `rep` (the data split always uses `seed`)."""
    return config["seed"] + int(wildcards.rep)


# Input functions of the CIFAR rules (rules/cifar.smk); kept here because
# `snakemake --lint` wants functions and rules in separate files.
def cifar_archive(wildcards):
    if CIFAR_ARCHIVE["source"] == "local":
        return CIFAR_ARCHIVE["path"]
    if CIFAR_ARCHIVE["source"] == "synthetic":
        return f"{RESULTS}/cifar/synthetic/{CIFAR_ARCHIVE['filename']}"
    return f"{RESULTS}/downloads/{CIFAR_ARCHIVE['filename']}"


def cifar_targets():
    if not config["cifar"]["enabled"]:
        return []
    return expand(
        f"{RESULTS}/cifar/{{variant}}/rep{{rep}}/{{file}}",
        variant=CIFAR_VARIANTS,
        rep=REPLICATES,
        # The whole output contract, so that a deleted model or history is remade
        # (an intermediate file that nothing requests would not be).
        file=["model.keras", "history.csv", "metrics.json", "curves.png"],
    )


def part_files(part, name):
    """A file of every experiment and replicate of a part: experiment by experiment,
    replicate 0 first (the report's scripts rely on this order)."""
    return [
        f"{RESULTS}/{part}/{experiment}/rep{rep}/{name}"
        for experiment in EXPERIMENTS[part]
        for rep in REPLICATES
    ]


def script_code(name):
    """Digest of the package code that a job of scripts/<name> can run: a rule's
    ``params: code=`` (derived from the script's imports, see convstudy.codeversion)."""
    return script_digest(Path(workflow.basedir) / "scripts" / name)


def tf_mem_mb(base_mb):
    """Memory request that grows with each retry after an out-of-memory kill."""
    return lambda wildcards, attempt: base_mb * attempt


def training_runtime(settings, minutes_per_epoch):
    """Wall-time request in minutes for a training job of `settings`."""
    return int(15 + minutes_per_epoch * settings["epochs"])
