"""Rule report_per_class: per-class test accuracy of a part's best experiment."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import per_class_figure
from convstudy.report import best_experiment, load_metrics
from convstudy.runtime import logged

with logged(snakemake.log[0]) as log:
    best = best_experiment(load_metrics(snakemake.input.metrics))
    log.info("best by final validation accuracy: %s", best["experiment"])
    per_class_figure(
        best["test"]["per_class_accuracy"],
        f"{snakemake.params.title}: {best['experiment']}",
        [snakemake.output.png, snakemake.output.pdf],
        n=snakemake.params.shown,
    )
