"""Rule evaluate_cifar: test metrics of one trained variant."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.cifar import evaluate_variant
from convstudy.experiments.common import EvalJob
from convstudy.logs import logged

with logged(snakemake):
    job = EvalJob.from_snakemake(snakemake, snakemake.wildcards.variant)
    i = snakemake.input
    evaluate_variant(i.model, i.arrays, i.history, snakemake.params.settings, job)
