"""Rule finetune_birds: ResNet50 plus a trained head, end to end (resumable per epoch)."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.birds import finetune
from convstudy.experiments.common import TrainJob
from convstudy.logs import logged

with logged(snakemake):
    job = TrainJob.from_snakemake(snakemake, snakemake.wildcards.birds_finetune)
    i = snakemake.input
    finetune(i.arrays, i.head, snakemake.params.settings, job, weights=i.get("weights"))
