"""Rule report: summary tables (CSV), report.md and report.tex from the metrics files."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.report.pdf import pdf_instructions, pdf_wanted
from convstudy.report.render import render_report
from convstudy.logs import logged

with logged(snakemake) as log:
    p = snakemake.params
    render_report(
        snakemake.input.metrics,
        parts=p.parts,
        seed=p.seed,
        md_out=snakemake.output.md,
        tex_out=snakemake.output.tex,
        summary_out=snakemake.output.summary,
        aggregates_out=snakemake.output.aggregates,
        steps_out=snakemake.output.steps,
    )
    settings = snakemake.config["report"]
    # Only a message: whether latexmk exists must not make the report rerun.
    if not pdf_wanted("auto", settings["latexmk"]):
        log.info(pdf_instructions(snakemake.output.tex, settings["latexmk"]))
