"""Rule train_birds_head: one classifier head on the cached ResNet50 features."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.birds import train_head
from convstudy.experiments.common import TrainJob
from convstudy.logs import logged

with logged(snakemake):
    job = TrainJob.from_snakemake(snakemake, snakemake.wildcards.birds_head)
    train_head(snakemake.input.features, snakemake.params.settings, job)
