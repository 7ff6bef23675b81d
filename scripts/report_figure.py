"""Rule report_figure: one figure of a part's report, from the part's runs."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.logs import logged
from convstudy.report.charts import draw

with logged(snakemake):
    p = snakemake.params
    draw(
        snakemake.wildcards.figure,
        snakemake.input.metrics,
        p.names,
        p.title,
        [snakemake.output.png, snakemake.output.pdf],
        kinds=p.kinds,
        references=p.references,
        data=snakemake.input.get("data"),
    )
