"""Rule report_accuracy: test accuracy of every experiment of a part, per replicate."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import accuracy_chart
from convstudy.report.results import load_metrics, measure
from convstudy.logs import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    runs = {name: [] for name in p.kinds}
    for m in load_metrics(snakemake.input.metrics):
        runs[m["experiment"]].append(m)
    accuracy_chart(
        [
            {"name": name, "kind": p.kinds[name], "values": measure(ms, "test_accuracy")}
            for name, ms in runs.items()
        ],
        p.references,
        p.title,
        [snakemake.output.png, snakemake.output.pdf],
    )
