# Part 3 of the study: ResNet50 on Caltech-UCSD Birds-200. The images are
# decoded once, the frozen ResNet50 runs once (feature cache), every head trains
# on the cache, and fine-tuning starts from a trained head.

BIRDS = f"{RESULTS}/birds"
BIRDS_CFG = config["birds"]
BIRDS_HEADS = [n for n, e in BIRDS_EXPERIMENTS.items() if e["kind"] == "head"]
BIRDS_FINETUNES = [n for n, e in BIRDS_EXPERIMENTS.items() if e["kind"] == "finetune"]
BIRDS_SPATIAL = needs_spatial(BIRDS_EXPERIMENTS)
# A weights file is an input: replacing it reruns the extraction and fine-tuning.
BIRDS_WEIGHTS = BIRDS_CFG["weights"]
BIRDS_WEIGHTS_FILE = (
    [] if BIRDS_WEIGHTS in (None, "none", "imagenet") else [BIRDS_WEIGHTS]
)


def _alternatives(names):
    # An empty alternation would match the empty name: match nothing instead.
    return "|".join(map(re.escape, names)) or "(?!x)x"


wildcard_constraints:
    birds_head=_alternatives(BIRDS_HEADS),
    birds_finetune=_alternatives(BIRDS_FINETUNES),
    birds_experiment=_alternatives(BIRDS_EXPERIMENTS),


def birds_archive_inputs():
    """The dataset's archives by role: local files, generated ones, or downloads."""
    paths = {}
    for role, info in BIRDS_ARCHIVES.items():
        if info["source"] == "local":
            paths[role] = info["path"]
        elif info["source"] == "synthetic":
            paths[role] = f"{BIRDS}/synthetic/{info['filename']}"
        else:
            paths[role] = f"{RESULTS}/downloads/{info['filename']}"
    return paths


def birds_targets():
    if not BIRDS_ENABLED:
        return []
    return expand(
        f"{BIRDS}/{{experiment}}/{{file}}",
        experiment=BIRDS_EXPERIMENTS,
        file=["metrics.json", "curves.png"],
    )


def birds_settings(wildcards):
    name = getattr(wildcards, "birds_head", None) or getattr(wildcards, "birds_finetune", None)
    return BIRDS_EXPERIMENTS[name or wildcards.birds_experiment]["settings"]


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
    images = 11788 if BIRDS_CFG["dataset"] == "cub200_2011" else 6033
    if BIRDS_CFG["source"] == "synthetic":
        syn = BIRDS_CFG["synthetic"]
        images = syn["num_classes"] * (syn["train_per_class"] + syn["test_per_class"])
    return int(images * BIRDS_CFG["image_size"] ** 2 * 3 / 1e6)


rule synthetic_birds:
    """Stand-in archives in the canonical CUB layout: real JPEGs (tests, offline demo)."""
    output:
        [f"{BIRDS}/synthetic/{info['filename']}" for info in BIRDS_ARCHIVES.values()],
    params:
        dataset=BIRDS_CFG["dataset"],
        num_classes=BIRDS_CFG["synthetic"]["num_classes"],
        train_per_class=BIRDS_CFG["synthetic"]["train_per_class"],
        test_per_class=BIRDS_CFG["synthetic"]["test_per_class"],
        seed=config["seed"],
    log:
        f"{LOGS}/birds/synthetic.log",
    benchmark:
        f"{BENCHMARKS}/birds/synthetic.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/synthetic_birds.py"


rule prepare_birds:
    """Verify the archives; decode, convert to RGB and resize every image; split."""
    input:
        **birds_archive_inputs(),
    output:
        arrays=f"{BIRDS}/data.npz",
        split=f"{BIRDS}/split.json",
    params:
        dataset=BIRDS_CFG["dataset"],
        checksums={
            role: {"md5": a["md5"], "sha256": a["sha256"]}
            for role, a in BIRDS_ARCHIVES.items()
        },
        image_size=BIRDS_CFG["image_size"],
        validation_fraction=BIRDS_CFG["validation_fraction"],
        num_classes=BIRDS_CFG["num_classes"],
        on_bad_image=BIRDS_CFG["on_bad_image"],
        seed=config["seed"],
    log:
        f"{LOGS}/birds/prepare.log",
    benchmark:
        f"{BENCHMARKS}/birds/prepare.tsv"
    threads: 2
    resources:
        # The arrays once, plus the interpreter and images in flight.
        mem_mb=lambda wc, attempt: (1500 + 2 * birds_image_mb()) * attempt,
        runtime=60,
    conda:
        "../envs/tensorflow.yaml"
    script:
        "../scripts/prepare_birds.py"


rule extract_birds_features:
    """Run the frozen ResNet50 once over every image; cache its features."""
    input:
        arrays=rules.prepare_birds.output.arrays,
        weights=BIRDS_WEIGHTS_FILE,
    output:
        pooled=f"{BIRDS}/features/pooled.npz",
        **({"spatial": f"{BIRDS}/features/spatial.npz"} if BIRDS_SPATIAL else {}),
    params:
        weights=BIRDS_WEIGHTS,
        spatial=BIRDS_SPATIAL,
        seed=config["seed"],
        mixed_precision=config["training"]["mixed_precision"],
    log:
        f"{LOGS}/birds/features.log",
    benchmark:
        f"{BENCHMARKS}/birds/features.tsv"
    threads: 4
    resources:
        mem_mb=lambda wc, attempt: (6000 + 3 * birds_image_mb()) * attempt,
        runtime=120,
    conda:
        "../envs/tensorflow.yaml"
    script:
        "../scripts/extract_birds_features.py"


rule train_birds_head:
    """Train one classifier head on the cached features (seconds to minutes)."""
    input:
        features=birds_head_features,
    output:
        model=f"{BIRDS}/{{birds_head}}/model.keras",
        history=f"{BIRDS}/{{birds_head}}/history.csv",
    params:
        settings=birds_settings,
        seed=config["seed"],
        jit_compile=config["training"]["jit_compile"],
        mixed_precision=config["training"]["mixed_precision"],
        resume_dir=lambda wc: f"{RESUME}/birds/{wc.birds_head}",
    log:
        f"{LOGS}/birds/{{birds_head}}/train.log",
    benchmark:
        f"{BENCHMARKS}/birds/{{birds_head}}/train.tsv"
    threads: 2
    resources:
        mem_mb=tf_mem_mb(6000),
        runtime=lambda wc: training_runtime(BIRDS_EXPERIMENTS[wc.birds_head]["settings"], 0.5),
    conda:
        "../envs/tensorflow.yaml"
    script:
        "../scripts/train_birds_head.py"


rule finetune_birds:
    """ResNet50 plus a trained head, end to end from the configured stage up."""
    input:
        arrays=rules.prepare_birds.output.arrays,
        head=lambda wc: f"{BIRDS}/{BIRDS_EXPERIMENTS[wc.birds_finetune]['settings']['head']}/model.keras",
        weights=BIRDS_WEIGHTS_FILE,
    output:
        model=f"{BIRDS}/{{birds_finetune}}/model.keras",
        history=f"{BIRDS}/{{birds_finetune}}/history.csv",
    params:
        settings=birds_settings,
        weights=BIRDS_WEIGHTS,
        seed=config["seed"],
        jit_compile=config["training"]["jit_compile"],
        mixed_precision=config["training"]["mixed_precision"],
        resume_dir=lambda wc: f"{RESUME}/birds/{wc.birds_finetune}",
    log:
        f"{LOGS}/birds/{{birds_finetune}}/train.log",
    benchmark:
        f"{BENCHMARKS}/birds/{{birds_finetune}}/train.tsv"
    threads: 4
    resources:
        mem_mb=lambda wc, attempt: (12000 + birds_image_mb()) * attempt,
        # About 10 minutes per epoch of CUB-200 at 224 on 4 CPU cores; far less on a GPU.
        runtime=lambda wc: training_runtime(
            BIRDS_EXPERIMENTS[wc.birds_finetune]["settings"], 15
        ),
    conda:
        "../envs/tensorflow.yaml"
    script:
        "../scripts/finetune_birds.py"


rule evaluate_birds:
    """Test metrics of a head or a fine-tuned model: accuracy, top-5, per class, confusion."""
    input:
        model=f"{BIRDS}/{{birds_experiment}}/model.keras",
        history=f"{BIRDS}/{{birds_experiment}}/history.csv",
        data=birds_eval_data,
    output:
        metrics=f"{BIRDS}/{{birds_experiment}}/metrics.json",
    params:
        settings=birds_settings,
        kind=lambda wc: BIRDS_EXPERIMENTS[wc.birds_experiment]["kind"],
        seed=config["seed"],
    log:
        f"{LOGS}/birds/{{birds_experiment}}/evaluate.log",
    benchmark:
        f"{BENCHMARKS}/birds/{{birds_experiment}}/evaluate.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: (6000 + birds_image_mb()) * attempt,
        runtime=30,
    conda:
        "../envs/tensorflow.yaml"
    script:
        "../scripts/evaluate_birds.py"


rule plot_birds_curves:
    """Learning curves of one experiment: loss and accuracy, training vs validation."""
    input:
        history=f"{BIRDS}/{{birds_experiment}}/history.csv",
    output:
        report(
            f"{BIRDS}/{{birds_experiment}}/curves.png",
            caption="../report/birds_curves.rst",
            category="Birds",
            subcategory="Learning curves",
            labels={"experiment": "{birds_experiment}", "figure": "learning curves"},
        ),
    params:
        title=lambda wc: f"Birds ({BIRDS_EXPERIMENTS[wc.birds_experiment]['kind']}): {wc.birds_experiment}",
    log:
        f"{LOGS}/birds/{{birds_experiment}}/curves.log",
    benchmark:
        f"{BENCHMARKS}/birds/{{birds_experiment}}/curves.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/plot_curves.py"
