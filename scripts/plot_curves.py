"""Rules plot_*_curves: learning curves (loss, accuracy; training vs validation)."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.figures import learning_curve_figure
from convstudy.logs import logged
from convstudy.files import read_history

with logged(snakemake):
    learning_curve_figure(
        read_history(snakemake.input.history), snakemake.params.title, snakemake.output[0]
    )
