"""Rule report_confusion: confusion matrix of a part's best experiment (all replicates)."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import confusion_figure
from convstudy.report.results import best_experiment, by_experiment, load_metrics, pooled_confusion
from convstudy.logs import logged

with logged(snakemake.log[0]) as log:
    runs = by_experiment(load_metrics(snakemake.input.metrics))
    best = best_experiment(runs)
    log.info("best by mean final validation accuracy: %s", best)
    confusion_figure(
        pooled_confusion(runs[best]),
        runs[best][0]["class_names"],
        f"{snakemake.params.title}: {best}",
        [snakemake.output.png, snakemake.output.pdf],
    )
