import importlib.util
import re
import sys
from pathlib import Path

# The workflow's own folder: this file's parent's, whether the workflow runs itself or
# another Snakefile uses it as a module (workflow.basedir is then that Snakefile's).
WORKFLOW = Path(workflow.current_basedir).parent
# The rules' logic lives in the convstudy package (src/), importable here without
# installation and ahead of any installed copy: set up by scripts/_src_path.py, which
# every job imports first too.
_path_setup = importlib.util.spec_from_file_location(
    "_src_path", WORKFLOW / "scripts" / "_src_path.py"
)
_path_setup.loader.exec_module(importlib.util.module_from_spec(_path_setup))

from snakemake.logging import logger

from convstudy import jobsize
from convstudy import lock as results_lock
from convstudy import reruns
from convstudy.codeversion import script_digest
from convstudy.config import (
    archive_sources,
    birds_experiments,
    birds_weights,
    check_config_files,
    check_results_dir,
    cifar_variants,
    load_schema,
    needs_spatial,
    validate_config,
)
from convstudy.errors import ConfigError
from convstudy.estimate.costs import birds_sizes, cifar_sizes

SCHEMA = load_schema(WORKFLOW / "config" / "config.schema.yaml")

# Everything that can be checked without data is checked now, before any download
# or job: the schema (one short line naming the key), class counts, unknown bases,
# cycles, incomplete variants, architectures and heads that do not fit, archives
# and weights (convstudy.config).
try:
    check_config_files(workflow.configfiles)
    validate_config(config, SCHEMA)
    check_results_dir(config["results_dir"])
    CIFAR_ENABLED = config["cifar"]["enabled"]
    BIRDS_ENABLED = config["birds"]["enabled"]
    CIFAR_VARIANTS = cifar_variants(config, SCHEMA) if CIFAR_ENABLED else {}
    CIFAR_ARCHIVES = archive_sources(config, "cifar") if CIFAR_ENABLED else {}
    BIRDS_EXPERIMENTS = birds_experiments(config, SCHEMA) if BIRDS_ENABLED else {}
    BIRDS_ARCHIVES = archive_sources(config, "birds") if BIRDS_ENABLED else {}
    BIRDS_WEIGHTS = birds_weights(config) if BIRDS_ENABLED else {"kind": "none"}
except ConfigError as exc:
    raise ConfigError(f"invalid configuration: {exc}") from None

# Every experiment of every part, in report order: {part: {name: resolved variant}}.
EXPERIMENTS = {"cifar": CIFAR_VARIANTS, "birds": BIRDS_EXPERIMENTS}

RESULTS = config["results_dir"].rstrip("/")
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
# Per-epoch resume state; deliberately not a declared output, so that Snakemake
# keeps it when a killed training job is rerun with --rerun-incomplete.
RESUME = f"{RESULTS}/resume"
BIRDS = f"{RESULTS}/birds"

# One run at a time writes RESULTS, whichever checkout it comes from (convstudy.lock):
# taken when jobs are about to start, given back when the run ends. `--unlock`
# removes a lock left by a run that died, as it does Snakemake's own.
if "--unlock" in sys.argv and (owner := results_lock.unlock(RESULTS)):
    logger.info(
        f"Removed the lock of {RESULTS} left by {results_lock.describe(owner)}."
    )


onstart:
    results_lock.acquire(RESULTS, WORKFLOW)


onsuccess:
    results_lock.release(RESULTS)


onerror:
    results_lock.release(RESULTS)


#: The download catalogue by file name: {filename: {key, urls, md5, sha256, ...}}.
DOWNLOAD_FILES = {
    entry["filename"]: {**entry, "key": key}
    for key, entry in config["datasets"].items()
}

# Replicate k of every training runs with seed `seed + k`; its outputs go to rep<k>/.
REPLICATES = list(range(config["replicates"]))

BIRDS_HEADS = [n for n, e in BIRDS_EXPERIMENTS.items() if e["kind"] == "head"]
BIRDS_FINETUNES = [n for n, e in BIRDS_EXPERIMENTS.items() if e["kind"] == "finetune"]
BIRDS_SPATIAL = BIRDS_ENABLED and needs_spatial(config, SCHEMA)

# The conda env of the jobs that run a network: the backend's. Every other job runs
# in envs/base.yaml (no Keras, no TensorFlow).
KERAS_ENV = f"../envs/{config['training']['backend']}.yaml"

#: The whole output contract of a training run, so that a deleted model or history is
#: remade (an intermediate file that nothing requests would not be).
RUN_FILES = [
    "model.keras",
    "history.csv",
    "metrics.json",
    "predictions.npz",
    "curves.png",
]


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


#: Plans being planned (see rerun_plan): a job's inputs are expanded once more to
#: put them in its plan, which asks for the plan again.
_PLANNING = set()


def rerun_plan(rule_name):
    """Input function of every rule: the plan of the job (convstudy.reruns), dated so
    that a change to what the job would run with reruns it, from whichever checkout,
    and nothing else does."""

    def plan_input(wildcards):
        wildcards = dict(wildcards.items())
        path = reruns.plan_path(RESULTS, rule_name, wildcards)
        if path in _PLANNING:
            return path
        job = workflow.get_rule(rule_name)
        _PLANNING.add(path)
        try:
            inputs = job.expand_input(wildcards)[0]
        finally:
            _PLANNING.discard(path)
        outputs = job.expand_output(wildcards)[0]
        params = job.expand_params(wildcards, inputs, outputs, None)[0]
        env = Path(job.snakefile).parent / job.conda_env if job.conda_env else None
        plan = reruns.make_plan(
            rule_name,
            dict(params.items()),
            [f for f in inputs if f != path],
            RESULTS,
            reruns.software_digest(env),
        )
        why = reruns.sync_plan(path, plan)
        if why and any(Path(f).exists() for f in outputs):
            logger.info(f"{rule_name} ({reruns.job_name(wildcards)}) reruns: {why}")
        return path

    return plan_input


def record_of(rule_name, *wildcards):
    """The record a job of ``rule_name`` writes when it succeeds (convstudy.reruns):
    what it ran with, and its provenance; declared by the training rules, read by
    the evaluations."""
    job = ",".join(f"{w}={{{w}}}" for w in wildcards)
    return f"{RESULTS}/{reruns.RECORDS}/{rule_name}/{job}.json"


def script_code(name):
    """Digest of the package code that a job of scripts/<name> can run: a rule's
    ``params: code=`` (derived from the script's imports, see convstudy.codeversion)."""
    return script_digest(WORKFLOW / "scripts" / name)


def run_settings(*keys):
    """The settings of ``training`` that change a job's numbers, as the job's ``run``
    param (convstudy.runtime.RunOptions): those it uses, and only those, rerun it."""
    return {key: config["training"][key] for key in keys}


def replicate_seed(wildcards):
    """The training seed of replicate `rep` (the one place of the seed + k rule)."""
    return config["seed"] + int(wildcards.rep)


def replicate_split(part):
    """Params function: the split replicate ``rep`` of a training trains on. None: the
    one drawn while the data were prepared (every replicate by default, replicate 0
    always); with ``replicate_split``, a split of its own drawn with its seed."""

    def split(wildcards):
        if not config["replicate_split"] or int(wildcards.rep) == 0:
            return None
        return {
            "seed": replicate_seed(wildcards),
            "validation_fraction": config[part]["validation_fraction"],
        }

    return split


def archive_paths(archives):
    """{role: path} of a part's archives: local files, generated ones, or downloads."""
    return {role: info["path"] for role, info in archives.items()}


def archive_checksums(archives):
    """{role: {md5, sha256, setting}}: what each archive is checked against, and the
    config key that sets it (named on a mismatch)."""
    return {
        role: {"md5": a["md5"], "sha256": a["sha256"], "setting": a["checksum_setting"]}
        for role, a in archives.items()
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
    replicate 0 first."""
    return [
        f"{RESULTS}/{part}/{experiment}/rep{rep}/{name}"
        for experiment in EXPERIMENTS[part]
        for rep in REPLICATES
    ]


# Threads by job size, and the longest jobs first (convstudy.jobsize).

#: (training images after the validation split, test images, all images) per part.
IMAGES = {
    "cifar": cifar_sizes(config["cifar"]) if CIFAR_ENABLED else (0, 0, 0),
    "birds": birds_sizes(config["birds"]) if BIRDS_ENABLED else (0, 0, 0),
}
SIZES = jobsize.JobSizes(
    CIFAR_VARIANTS,
    BIRDS_EXPERIMENTS,
    IMAGES,
    most=config["training"]["threads"],
    image_size=config["birds"]["image_size"],
)


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


def birds_trained(wildcards):
    """The record of the training job behind a birds experiment's replicate."""
    name = wildcards.birds_experiment
    if BIRDS_EXPERIMENTS[name]["kind"] == "head":
        return record_of("train_birds_head", "birds_head", "rep").format(
            birds_head=name, rep=wildcards.rep
        )
    return record_of("finetune_birds", "birds_finetune", "rep").format(
        birds_finetune=name, rep=wildcards.rep
    )


def birds_eval_data(wildcards):
    """Heads are tested on cached test features, fine-tuned models on test images."""
    info = BIRDS_EXPERIMENTS[wildcards.birds_experiment]
    if info["kind"] == "head":
        return f"{BIRDS}/features/{info['settings']['features']}.npz"
    return f"{BIRDS}/data.npz"


def birds_image_mb():
    """Memory of the decoded image arrays, from the configured size and dataset."""
    return int(IMAGES["birds"][2] * config["birds"]["image_size"] ** 2 * 3 / 1e6)


# The report (rules/report.smk).

#: The files beside each run's metrics.json that each kind of report figure reads.
FIGURE_FILES = {
    "accuracy": ["predictions.npz"],
    "curves": ["history.csv"],
    "errors": ["predictions.npz"],
}


def figure_inputs(wildcards):
    """What a report figure reads: the part's metrics, the files beside them its kind
    needs, and for the error gallery the part's test images."""
    inputs = {"metrics": part_files(wildcards.part, "metrics.json")}
    for name in FIGURE_FILES.get(wildcards.figure, []):
        inputs[name.split(".")[0]] = part_files(wildcards.part, name)
    if wildcards.figure == "errors":
        inputs["data"] = {
            "cifar": f"{RESULTS}/cifar/data.npz",
            "birds": f"{BIRDS}/data.npz",
        }[wildcards.part]
    return inputs


def part_figures(part):
    """The report figures of a part (none when the part is not run)."""
    if part not in REPORTED:
        return []
    return [
        f"{REPORT}/{figure_file(part, kind, 'png')}" for kind in part_info(part).figures
    ]
