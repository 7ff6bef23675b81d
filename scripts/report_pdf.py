"""Rule report_pdf: report.pdf from report.tex with latexmk."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.report.pdf import build_pdf
from convstudy.logs import logged

with logged(snakemake):
    build_pdf(snakemake.input.tex, snakemake.output[0], snakemake.params.latexmk)
