"""Rule report_curves: learning curves of every experiment of a part in one grid."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import curves_grid
from convstudy.io import read_history
from convstudy.logs import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    # Inputs are experiment by experiment, replicate 0 first (rules/report.smk).
    histories = [read_history(path) for path in snakemake.input.histories]
    n = p.replicates
    curves_grid(
        [(name, histories[i * n : (i + 1) * n]) for i, name in enumerate(p.names)],
        p.title,
        [snakemake.output.png, snakemake.output.pdf],
    )
