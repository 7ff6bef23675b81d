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
    archive_sources,
    birds_experiments,
    birds_weights,
    cifar_variants,
    load_schema,
    needs_spatial,
    validate_config,
)
from convstudy.variants import ConfigError

SCHEMA = load_schema(Path(workflow.basedir) / "config" / "config.schema.yaml")

# Everything that can be checked without data is checked now, before any download
# or job: the schema (one short line naming the key), class counts, unknown bases,
# cycles, incomplete variants, architectures and heads that do not fit, archives
# and weights (convstudy.config).
try:
    validate_config(config, SCHEMA)
    CIFAR_ENABLED = config["cifar"]["enabled"]
    BIRDS_ENABLED = config["birds"]["enabled"]
    CIFAR_VARIANTS = cifar_variants(config, SCHEMA) if CIFAR_ENABLED else {}
    CIFAR_ARCHIVES = archive_sources(config, "cifar") if CIFAR_ENABLED else {}
    BIRDS_EXPERIMENTS = birds_experiments(config, SCHEMA) if BIRDS_ENABLED else {}
    BIRDS_ARCHIVES = archive_sources(config, "birds") if BIRDS_ENABLED else {}
    BIRDS_WEIGHTS = birds_weights(config) if BIRDS_ENABLED else {"kind": "none"}
except ConfigError as exc:
    raise ConfigError(f"invalid configuration: {exc}") from None

# Snakemake's own check, as every workflow does; the one above has passed already.
validate(config, "../config/config.schema.yaml")

# Every experiment of every part, in report order: {part: {name: resolved variant}}.
EXPERIMENTS = {"cifar": CIFAR_VARIANTS, "birds": BIRDS_EXPERIMENTS}

RESULTS = config["results_dir"].rstrip("/")
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
# Per-epoch resume state; deliberately not a declared output, so that Snakemake
# keeps it when a killed training job is rerun with --rerun-incomplete.
RESUME = f"{RESULTS}/resume"
BIRDS = f"{RESULTS}/birds"

DOWNLOAD_FILES = {entry["filename"]: entry for entry in config["datasets"].values()}

# Replicate k of every training runs with seed `seed + k`; its outputs go to rep<k>/.
REPLICATES = list(range(config["replicates"]))

BIRDS_HEADS = [n for n, e in BIRDS_EXPERIMENTS.items() if e["kind"] == "head"]
BIRDS_FINETUNES = [n for n, e in BIRDS_EXPERIMENTS.items() if e["kind"] == "finetune"]
BIRDS_SPATIAL = needs_spatial(BIRDS_EXPERIMENTS)

# The conda env of the jobs that run a network: the backend's. Every other job runs
# in envs/base.yaml (no Keras, no TensorFlow).
KERAS_ENV = {
    "tensorflow": "../envs/tensorflow.yaml",
    "jax": "../envs/jax.yaml",
}[config["training"]["backend"]]

#: The whole output contract of a training run, so that a deleted model or history is
#: remade (an intermediate file that nothing requests would not be).
RUN_FILES = ["model.keras", "history.csv", "metrics.json", "curves.png"]


def alternatives(names):
    """A wildcard constraint matching exactly ``names``; an empty alternation would
    match the empty name, so none matches nothing."""
    return "|".join(map(re.escape, names)) or "(?!x)x"


wildcard_constraints:
    variant=alternatives(CIFAR_VARIANTS),
    filename=alternatives(DOWNLOAD_FILES),
    rep=r"\d+",
    birds_head=alternatives(BIRDS_HEADS),
    birds_finetune=alternatives(BIRDS_FINETUNES),
    birds_experiment=alternatives(BIRDS_EXPERIMENTS),


# Input functions and settings of every rule file; here because `snakemake --lint`
# wants functions and rules in separate files.


def script_code(name):
    """Digest of the package code that a job of scripts/<name> can run: a rule's
    ``params: code=`` (derived from the script's imports, see convstudy.codeversion)."""
    return script_digest(Path(workflow.basedir) / "scripts" / name)


def replicate_seed(wildcards):
    """The training seed of replicate `rep` (the data split always uses `seed`)."""
    return config["seed"] + int(wildcards.rep)


def archive_paths(archives):
    """{role: path} of a part's archives: local files, generated ones, or downloads."""
    return {role: info["path"] for role, info in archives.items()}


def archive_checksums(archives):
    return {
        role: {"md5": a["md5"], "sha256": a["sha256"]} for role, a in archives.items()
    }


def run_targets(part, names):
    return expand(
        f"{RESULTS}/{part}/{{name}}/rep{{rep}}/{{file}}",
        name=names,
        rep=REPLICATES,
        file=RUN_FILES,
    )


def part_files(part, name):
    """A file of every experiment and replicate of a part: experiment by experiment,
    replicate 0 first (the report's scripts rely on this order)."""
    return [
        f"{RESULTS}/{part}/{experiment}/rep{rep}/{name}"
        for experiment in EXPERIMENTS[part]
        for rep in REPLICATES
    ]


def tf_mem_mb(base_mb):
    """Memory request that grows with each retry after an out-of-memory kill."""
    return lambda wildcards, attempt: base_mb * attempt


def training_runtime(settings, minutes_per_epoch):
    """Wall-time request in minutes for a training job of `settings`."""
    return int(15 + minutes_per_epoch * settings["epochs"])


# Birds (rules/birds.smk).


def birds_weights_input():
    """``{"weights": file}`` for the jobs that run ResNet50, or nothing for random
    weights. ImageNet weights come from the download rule, so no job (on a compute
    node, often without internet) downloads anything; replacing the file reruns them."""
    return {} if BIRDS_WEIGHTS["kind"] == "none" else {"weights": BIRDS_WEIGHTS["path"]}


def birds_settings(wildcards):
    name = getattr(wildcards, "birds_head", None) or getattr(
        wildcards, "birds_finetune", None
    )
    return BIRDS_EXPERIMENTS[name or wildcards.birds_experiment]["settings"]


def birds_finetune_head(wildcards):
    """Replicate k of a fine-tuning variant starts from replicate k of its head."""
    head = BIRDS_EXPERIMENTS[wildcards.birds_finetune]["settings"]["head"]
    return f"{BIRDS}/{head}/rep{wildcards.rep}/model.keras"


def birds_head_features(wildcards):
    kind = BIRDS_EXPERIMENTS[wildcards.birds_head]["settings"]["features"]
    return f"{BIRDS}/features/{kind}.npz"


def birds_eval_data(wildcards):
    """Heads are tested on cached test features, fine-tuned models on test images."""
    info = BIRDS_EXPERIMENTS[wildcards.birds_experiment]
    if info["kind"] == "head":
        return f"{BIRDS}/features/{info['settings']['features']}.npz"
    return f"{BIRDS}/data.npz"


def birds_image_mb():
    """Memory of the decoded image arrays, from the configured size and dataset."""
    birds = config["birds"]
    images = 11788 if birds["dataset"] == "cub200_2011" else 6033
    if birds["source"] == "synthetic":
        syn = birds["synthetic"]
        images = syn["num_classes"] * (syn["train_per_class"] + syn["test_per_class"])
    return int(images * birds["image_size"] ** 2 * 3 / 1e6)
