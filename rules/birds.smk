# Part 3 of the study: ResNet50 on Caltech-UCSD Birds-200. The images are
# decoded once, the frozen ResNet50 runs once (feature cache), every head trains
# on the cache, and fine-tuning starts from a trained head.


rule synthetic_birds:
    """Stand-in archives in the canonical CUB layout: real JPEGs (tests, offline demo)."""
    input:
        plan=rerun_plan("synthetic_birds"),
    output:
        [f"{BIRDS}/synthetic/{info['filename']}" for info in BIRDS_ARCHIVES.values()],
    params:
        code=script_code("synthetic_birds.py"),
        dataset=config["birds"]["dataset"],
        num_classes=config["birds"]["synthetic"]["num_classes"],
        train_per_class=config["birds"]["synthetic"]["train_per_class"],
        test_per_class=config["birds"]["synthetic"]["test_per_class"],
        seed=config["seed"],
    log:
        f"{LOGS}/birds/synthetic.log",
    benchmark:
        f"{BENCHMARKS}/birds/synthetic.tsv"
    priority: jobsize.FIRST
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/synthetic_birds.py"


rule prepare_birds:
    """Verify the archives; decode, convert to RGB and resize every image; split."""
    input:
        **archive_paths(BIRDS_ARCHIVES),
        plan=rerun_plan("prepare_birds"),
    output:
        arrays=f"{BIRDS}/data.npz",
        split=f"{BIRDS}/split.json",
    params:
        code=script_code("prepare_birds.py"),
        dataset=config["birds"]["dataset"],
        checksums=archive_checksums(BIRDS_ARCHIVES),
        image_size=config["birds"]["image_size"],
        validation_fraction=config["birds"]["validation_fraction"],
        num_classes=config["birds"]["num_classes"],
        on_bad_image=config["birds"]["on_bad_image"],
        seed=config["seed"],
    log:
        f"{LOGS}/birds/prepare.log",
    benchmark:
        f"{BENCHMARKS}/birds/prepare.tsv"
    priority: jobsize.FIRST
    threads: 2
    resources:
        # The arrays once, plus the interpreter and images in flight.
        mem_mb=lambda wc, attempt: (1500 + 2 * birds_image_mb()) * attempt,
        runtime=60,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/prepare_birds.py"


rule extract_birds_features:
    """Run the frozen ResNet50 once over every image; cache its features."""
    input:
        **birds_weights_input(),
        plan=rerun_plan("extract_birds_features"),
        arrays=rules.prepare_birds.output.arrays,
    output:
        **({"spatial": f"{BIRDS}/features/spatial.npz"} if BIRDS_SPATIAL else {}),
        pooled=f"{BIRDS}/features/pooled.npz",
    params:
        code=script_code("extract_birds_features.py"),
        weights=BIRDS_WEIGHTS["kind"],
        spatial=BIRDS_SPATIAL,
        run=run_settings("backend", "mixed_precision"),
        seed=config["seed"],
    log:
        f"{LOGS}/birds/features.log",
    benchmark:
        f"{BENCHMARKS}/birds/features.tsv"
    priority: SIZES.extraction_priority()
    threads: SIZES.most
    resources:
        mem_mb=lambda wc, attempt: (6000 + 3 * birds_image_mb()) * attempt,
        runtime=120,
    conda:
        KERAS_ENV
    script:
        "../scripts/extract_birds_features.py"


rule train_birds_head:
    """Train one classifier head on the cached features (seconds to minutes)."""
    input:
        plan=rerun_plan("train_birds_head"),
        features=birds_head_features,
    output:
        model=f"{BIRDS}/{{birds_head}}/rep{{rep}}/model.keras",
        history=f"{BIRDS}/{{birds_head}}/rep{{rep}}/history.csv",
        record=record_of("train_birds_head", "birds_head", "rep"),
    params:
        code=script_code("train_birds_head.py"),
        settings=birds_settings,
        run=run_settings("backend", "jit_compile", "mixed_precision"),
        seed=replicate_seed,
        split=replicate_split("birds"),
        resume_dir=lambda wc: f"{RESUME}/birds/{wc.birds_head}/rep{wc.rep}",
    log:
        f"{LOGS}/birds/{{birds_head}}/rep{{rep}}/train.log",
    benchmark:
        f"{BENCHMARKS}/birds/{{birds_head}}/rep{{rep}}/train.tsv"
    priority: lambda wc: SIZES.head_priority(wc.birds_head)
    threads: 1
    resources:
        mem_mb=tf_mem_mb(6000),
        runtime=lambda wc: training_runtime(
            BIRDS_EXPERIMENTS[wc.birds_head]["settings"], 0.5
        ),
    conda:
        KERAS_ENV
    script:
        "../scripts/train_birds_head.py"


rule finetune_birds:
    """ResNet50 plus a trained head, end to end from the configured stage up."""
    input:
        **birds_weights_input(),
        plan=rerun_plan("finetune_birds"),
        arrays=rules.prepare_birds.output.arrays,
        head=birds_finetune_head,
    output:
        model=f"{BIRDS}/{{birds_finetune}}/rep{{rep}}/model.keras",
        history=f"{BIRDS}/{{birds_finetune}}/rep{{rep}}/history.csv",
        record=record_of("finetune_birds", "birds_finetune", "rep"),
    params:
        code=script_code("finetune_birds.py"),
        settings=birds_settings,
        weights=BIRDS_WEIGHTS["kind"],
        run=run_settings("backend", "jit_compile", "mixed_precision"),
        seed=replicate_seed,
        split=replicate_split("birds"),
        resume_dir=lambda wc: f"{RESUME}/birds/{wc.birds_finetune}/rep{wc.rep}",
    log:
        f"{LOGS}/birds/{{birds_finetune}}/rep{{rep}}/train.log",
    benchmark:
        f"{BENCHMARKS}/birds/{{birds_finetune}}/rep{{rep}}/train.tsv"
    priority: lambda wc: SIZES.finetune_priority(wc.birds_finetune)
    threads: SIZES.most
    resources:
        mem_mb=lambda wc, attempt: (12000 + birds_image_mb()) * attempt,
        # About 10 minutes per epoch of CUB-200 at 224 on 4 CPU cores; far less on a GPU.
        runtime=lambda wc: training_runtime(
            BIRDS_EXPERIMENTS[wc.birds_finetune]["settings"], 15
        ),
    conda:
        KERAS_ENV
    script:
        "../scripts/finetune_birds.py"


rule evaluate_birds:
    """Test metrics of a head or a fine-tuned model: accuracy, top-5, per class, confusion."""
    input:
        plan=rerun_plan("evaluate_birds"),
        model=f"{BIRDS}/{{birds_experiment}}/rep{{rep}}/model.keras",
        history=f"{BIRDS}/{{birds_experiment}}/rep{{rep}}/history.csv",
        trained=birds_trained,
        data=birds_eval_data,
    output:
        metrics=f"{BIRDS}/{{birds_experiment}}/rep{{rep}}/metrics.json",
        predictions=f"{BIRDS}/{{birds_experiment}}/rep{{rep}}/predictions.npz",
    params:
        code=script_code("evaluate_birds.py"),
        settings=birds_settings,
        kind=lambda wc: BIRDS_EXPERIMENTS[wc.birds_experiment]["kind"],
        run=run_settings("backend"),
        seed=replicate_seed,
    log:
        f"{LOGS}/birds/{{birds_experiment}}/rep{{rep}}/evaluate.log",
    benchmark:
        f"{BENCHMARKS}/birds/{{birds_experiment}}/rep{{rep}}/evaluate.tsv"
    threads: lambda wc: SIZES.birds_eval_threads(wc.birds_experiment)
    resources:
        mem_mb=lambda wc, attempt: (6000 + birds_image_mb()) * attempt,
        runtime=30,
    conda:
        KERAS_ENV
    script:
        "../scripts/evaluate_birds.py"


rule plot_birds_curves:
    """Learning curves of one experiment: loss and accuracy, training vs validation."""
    input:
        plan=rerun_plan("plot_birds_curves"),
        history=f"{BIRDS}/{{birds_experiment}}/rep{{rep}}/history.csv",
    output:
        report(
            f"{BIRDS}/{{birds_experiment}}/rep{{rep}}/curves.png",
            caption="../report/birds_curves.rst",
            category="Birds",
            subcategory="Learning curves",
            labels={
                "experiment": "{birds_experiment}",
                "replicate": "{rep}",
                "figure": "learning curves",
            },
        ),
    params:
        code=script_code("plot_curves.py"),
        title=lambda wc: (
            f"Birds ({BIRDS_EXPERIMENTS[wc.birds_experiment]['kind']}): "
            f"{wc.birds_experiment}, replicate {wc.rep} (seed {replicate_seed(wc)})"
        ),
    log:
        f"{LOGS}/birds/{{birds_experiment}}/rep{{rep}}/curves.log",
    benchmark:
        f"{BENCHMARKS}/birds/{{birds_experiment}}/rep{{rep}}/curves.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/plot_curves.py"
