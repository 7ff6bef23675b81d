"""Rule evaluate_cifar: test metrics of one trained variant."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.cifar import evaluate_variant
from convstudy.logs import logged

with logged(snakemake.log[0]):
    evaluate_variant(
        snakemake.input.model,
        snakemake.input.arrays,
        snakemake.input.history,
        name=snakemake.wildcards.variant,
        settings=snakemake.params.settings,
        threads=snakemake.threads,
        seed=snakemake.params.seed,
        replicate=int(snakemake.wildcards.rep),
        training={"backend": snakemake.params.backend},
        metrics_out=snakemake.output.metrics,
    )
