"""Rule train_cifar: train one variant (resuming from its last finished epoch)."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.cifar import train_variant
from convstudy.logs import logged
from convstudy.runtime import training_options

with logged(snakemake.log[0]):
    p = snakemake.params
    train_variant(
        snakemake.input.arrays,
        p.settings,
        name=snakemake.wildcards.variant,
        seed=p.seed,
        threads=snakemake.threads,
        training=training_options(p, snakemake.config),
        model_out=snakemake.output.model,
        history_out=snakemake.output.history,
        resume_dir=p.resume_dir,
    )
