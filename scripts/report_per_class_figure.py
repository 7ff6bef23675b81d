"""Rule report_per_class: per-class test accuracy of a part's best experiment."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import per_class_figure
from convstudy.report.results import best_experiment, by_experiment, load_metrics, mean_per_class
from convstudy.logs import logged

with logged(snakemake.log[0]) as log:
    runs = by_experiment(load_metrics(snakemake.input.metrics))
    best = best_experiment(runs)
    log.info("best by mean final validation accuracy: %s", best)
    per_class_figure(
        mean_per_class(runs[best]),
        f"{snakemake.params.title}: {best}",
        [snakemake.output.png, snakemake.output.pdf],
    )
