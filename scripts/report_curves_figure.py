"""Rule report_curves: learning curves of every experiment of a part in one grid."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import curves_grid
from convstudy.io import read_history
from convstudy.runtime import logged

with logged(snakemake.log[0]):
    curves_grid(
        [
            (name, read_history(path))
            for name, path in zip(snakemake.params.names, snakemake.input.histories, strict=True)
        ],
        snakemake.params.title,
        [snakemake.output.png, snakemake.output.pdf],
    )
