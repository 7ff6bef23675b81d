"""Rule finetune_birds: ResNet50 plus a trained head, end to end (resumable per epoch)."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.birds import finetune
from convstudy.logs import logged
from convstudy.runtime import training_options

with logged(snakemake.log[0]):
    p = snakemake.params
    finetune(
        snakemake.input.arrays,
        snakemake.input.head,
        p.settings,
        name=snakemake.wildcards.birds_finetune,
        weights=snakemake.input.get("weights"),
        seed=p.seed,
        threads=snakemake.threads,
        training=training_options(p, snakemake.config),
        model_out=snakemake.output.model,
        history_out=snakemake.output.history,
        resume_dir=p.resume_dir,
    )
