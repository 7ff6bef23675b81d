"""Rule evaluate_birds: test metrics of a head or of a fine-tuned model."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.birds import evaluate
from convstudy.logs import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    evaluate(
        snakemake.input.model,
        snakemake.input.data,
        snakemake.input.history,
        name=snakemake.wildcards.birds_experiment,
        kind=p.kind,
        settings=p.settings,
        threads=snakemake.threads,
        seed=p.seed,
        replicate=int(snakemake.wildcards.rep),
        training={"backend": p.backend},
        metrics_out=snakemake.output.metrics,
        batch_size=snakemake.config["birds"]["inference_batch_size"],
    )
