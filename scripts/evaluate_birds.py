"""Rule evaluate_birds: test metrics of a head or of a fine-tuned model."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.birds import evaluate
from convstudy.experiments.common import EvalJob
from convstudy.logs import logged

with logged(snakemake):
    job = EvalJob.from_snakemake(snakemake, snakemake.wildcards.birds_experiment)
    i, p = snakemake.input, snakemake.params
    evaluate(
        i.model,
        i.data,
        i.history,
        p.settings,
        job,
        kind=p.kind,
        # From the config, not params: a speed setting must not rerun the evaluation.
        batch_size=snakemake.config["birds"]["inference_batch_size"],
    )
