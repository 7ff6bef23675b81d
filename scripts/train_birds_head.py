"""Rule train_birds_head: one classifier head on the cached ResNet50 features."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.birds import train_head
from convstudy.runtime import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    train_head(
        snakemake.input.features,
        p.settings,
        name=snakemake.wildcards.birds_head,
        seed=p.seed,
        threads=snakemake.threads,
        training={
            "jit_compile": p.jit_compile,
            "mixed_precision": p.mixed_precision,
            # Speed only: read from the config so that changing it retrains nothing.
            "steps_per_execution": snakemake.config["training"]["steps_per_execution"],
        },
        model_out=snakemake.output.model,
        history_out=snakemake.output.history,
        resume_dir=p.resume_dir,
    )
