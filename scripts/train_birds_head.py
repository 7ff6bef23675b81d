"""Rule train_birds_head: one classifier head on the cached ResNet50 features."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.birds import train_head
from convstudy.logs import logged
from convstudy.runtime import training_options

with logged(snakemake.log[0]):
    p = snakemake.params
    train_head(
        snakemake.input.features,
        p.settings,
        name=snakemake.wildcards.birds_head,
        seed=p.seed,
        threads=snakemake.threads,
        training=training_options(p, snakemake.config),
        model_out=snakemake.output.model,
        history_out=snakemake.output.history,
        resume_dir=p.resume_dir,
    )
