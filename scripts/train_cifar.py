"""Rule train_cifar: train one variant (resuming from its last finished epoch)."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.cifar import train_variant
from convstudy.runtime import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    train_variant(
        snakemake.input.arrays,
        p.settings,
        name=snakemake.wildcards.variant,
        seed=p.seed,
        threads=snakemake.threads,
        training={
            "jit_compile": p.jit_compile,
            "mixed_precision": p.mixed_precision,
            # Read from the config, not params: it changes speed, not results,
            # so changing it must not retrain anything.
            "steps_per_execution": snakemake.config["training"]["steps_per_execution"],
        },
        model_out=snakemake.output.model,
        history_out=snakemake.output.history,
        resume_dir=p.resume_dir,
    )
