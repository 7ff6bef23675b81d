"""Rule report_confusion: confusion matrix of a part's best experiment."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import confusion_figure
from convstudy.report import best_experiment, load_metrics
from convstudy.runtime import logged

with logged(snakemake.log[0]) as log:
    best = best_experiment(load_metrics(snakemake.input.metrics))
    log.info("best by final validation accuracy: %s", best["experiment"])
    confusion_figure(
        best["test"]["confusion_matrix"],
        best["class_names"],
        f"{snakemake.params.title}: {best['experiment']}",
        [snakemake.output.png, snakemake.output.pdf],
    )
