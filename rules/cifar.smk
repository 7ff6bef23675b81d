# Part 1 and 2 of the study: BaseNet on the first CIFAR-100 classes and its
# cumulative improvements, one training job per variant.


rule synthetic_cifar:
    """A learnable stand-in archive in the canonical layout (tests, offline demo)."""
    input:
        plan=rerun_plan("synthetic_cifar"),
    output:
        f"{RESULTS}/cifar/synthetic/{{filename}}",
    params:
        code=script_code("synthetic_cifar.py"),
        dataset=config["cifar"]["dataset"],
        train_per_class=config["cifar"]["synthetic"]["train_per_class"],
        test_per_class=config["cifar"]["synthetic"]["test_per_class"],
        seed=config["seed"],
    log:
        f"{LOGS}/cifar/synthetic/{{filename}}.log",
    benchmark:
        f"{BENCHMARKS}/cifar/synthetic/{{filename}}.tsv"
    priority: jobsize.FIRST
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/synthetic_cifar.py"


rule prepare_cifar:
    """Check and read the archive, keep the first classes, split off validation."""
    input:
        **archive_paths(CIFAR_ARCHIVES),
        plan=rerun_plan("prepare_cifar"),
    output:
        arrays=f"{RESULTS}/cifar/data.npz",
        split=f"{RESULTS}/cifar/split.json",
    params:
        code=script_code("prepare_cifar.py"),
        dataset=config["cifar"]["dataset"],
        checksums=archive_checksums(CIFAR_ARCHIVES),
        num_classes=config["cifar"]["num_classes"],
        validation_fraction=config["cifar"]["validation_fraction"],
        max_train_per_class=config["cifar"].get("max_train_per_class"),
        seed=config["seed"],
    log:
        f"{LOGS}/cifar/prepare.log",
    benchmark:
        f"{BENCHMARKS}/cifar/prepare.tsv"
    priority: jobsize.FIRST
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/prepare_cifar.py"


rule train_cifar:
    """Train one variant from scratch (resuming a killed run from its last epoch)."""
    input:
        plan=rerun_plan("train_cifar"),
        arrays=rules.prepare_cifar.output.arrays,
    output:
        model=f"{RESULTS}/cifar/{{variant}}/rep{{rep}}/model.keras",
        history=f"{RESULTS}/cifar/{{variant}}/rep{{rep}}/history.csv",
        record=record_of("train_cifar", "variant", "rep"),
    params:
        code=script_code("train_cifar.py"),
        settings=lambda wc: CIFAR_VARIANTS[wc.variant]["settings"],
        run=run_settings("backend", "jit_compile", "mixed_precision"),
        seed=replicate_seed,
        split=replicate_split("cifar"),
        resume_dir=lambda wc: f"{RESUME}/cifar/{wc.variant}/rep{wc.rep}",
    log:
        f"{LOGS}/cifar/{{variant}}/rep{{rep}}/train.log",
    benchmark:
        f"{BENCHMARKS}/cifar/{{variant}}/rep{{rep}}/train.tsv"
    priority: lambda wc: SIZES.cifar_priority(wc.variant)
    threads: lambda wc: SIZES.cifar_threads(wc.variant)
    resources:
        mem_mb=tf_mem_mb(6000),
        runtime=lambda wc: training_runtime(CIFAR_VARIANTS[wc.variant]["settings"], 1.5),
    conda:
        KERAS_ENV
    script:
        "../scripts/train_cifar.py"


rule evaluate_cifar:
    """Test metrics of one variant: accuracy, top-5, loss, per class, confusion matrix."""
    input:
        plan=rerun_plan("evaluate_cifar"),
        model=rules.train_cifar.output.model,
        history=rules.train_cifar.output.history,
        trained=rules.train_cifar.output.record,
        arrays=rules.prepare_cifar.output.arrays,
    output:
        metrics=f"{RESULTS}/cifar/{{variant}}/rep{{rep}}/metrics.json",
        predictions=f"{RESULTS}/cifar/{{variant}}/rep{{rep}}/predictions.npz",
    params:
        code=script_code("evaluate_cifar.py"),
        settings=lambda wc: CIFAR_VARIANTS[wc.variant]["settings"],
        run=run_settings("backend"),
        seed=replicate_seed,
    log:
        f"{LOGS}/cifar/{{variant}}/rep{{rep}}/evaluate.log",
    benchmark:
        f"{BENCHMARKS}/cifar/{{variant}}/rep{{rep}}/evaluate.tsv"
    threads: lambda wc: SIZES.cifar_threads(wc.variant)
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        KERAS_ENV
    script:
        "../scripts/evaluate_cifar.py"


rule plot_cifar_curves:
    """Learning curves of one variant: loss and accuracy, training vs validation."""
    input:
        plan=rerun_plan("plot_cifar_curves"),
        history=rules.train_cifar.output.history,
    output:
        report(
            f"{RESULTS}/cifar/{{variant}}/rep{{rep}}/curves.png",
            caption="../report/cifar_curves.rst",
            category="CIFAR",
            subcategory="Learning curves",
            labels={
                "variant": "{variant}",
                "replicate": "{rep}",
                "figure": "learning curves",
            },
        ),
    params:
        code=script_code("plot_curves.py"),
        title=lambda wc: f"CIFAR: {wc.variant}, replicate {wc.rep} (seed {replicate_seed(wc)})",
    log:
        f"{LOGS}/cifar/{{variant}}/rep{{rep}}/curves.log",
    benchmark:
        f"{BENCHMARKS}/cifar/{{variant}}/rep{{rep}}/curves.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/plot_curves.py"
