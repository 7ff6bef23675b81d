"""Rule train_cifar: train one variant (resuming from its last finished epoch)."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.cifar import train_variant
from convstudy.experiments.common import TrainJob
from convstudy.logs import logged

with logged(snakemake):
    job = TrainJob.from_snakemake(snakemake, snakemake.wildcards.variant)
    train_variant(snakemake.input.arrays, snakemake.params.settings, job)
