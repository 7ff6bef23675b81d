"""Rule report_accuracy: test accuracy of every experiment of a part, with reference points."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import accuracy_bars
from convstudy.report import load_metrics
from convstudy.runtime import logged

with logged(snakemake.log[0]):
    accuracy_bars(
        [
            {"name": m["experiment"], "accuracy": m["test"]["accuracy"], "kind": snakemake.params.kinds.get(m["experiment"])}
            for m in load_metrics(snakemake.input.metrics)
        ],
        snakemake.params.references,
        snakemake.params.title,
        [snakemake.output.png, snakemake.output.pdf],
    )
