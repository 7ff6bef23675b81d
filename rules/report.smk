# The study's final report over every experiment of every part that was run
# (EXPERIMENTS, rules/common.smk). The figures are jobs of their own (one rule, a job
# per part and kind), so that a change to the templates renders the text again and
# redraws nothing.

from convstudy.report.parts import (
    check_references,
    figure_file,
    part_info,
    report_parts,
    run_parts,
)
from convstudy.report import templates as report_templates
from convstudy.report.pdf import pdf_wanted


# The PDF is built where the workflow was started: that is where latexmk was looked
# for (report.pdf: auto), and a cluster node may lack it.
localrules:
    report_pdf,


REPORT = f"{RESULTS}/report"
REPORT_PARTS = report_parts(config, EXPERIMENTS)
REPORTED = run_parts(config, EXPERIMENTS)
REPORTED_PARTS_RE = alternatives(REPORTED)
#: The study's reference points of each part that was run, where they apply.
REPORT_REFERENCES = {p: REPORT_PARTS[p]["references"] for p in REPORTED}
try:
    check_references(config["report"]["references"])
except ValueError as exc:
    raise ConfigError(f"invalid configuration: {exc}") from None

REPORT_METRICS = [
    path for part in REPORTED for path in part_files(part, "metrics.json")
]
REPORT_PREDICTIONS = [
    path for part in REPORTED for path in part_files(part, "predictions.npz")
]
#: Title and group in Snakemake's report of each kind of figure.
FIGURE_TITLES = {
    "accuracy": "test accuracy",
    "curves": "learning curves",
    "confusion": "confusion matrix",
    "per_class": "per-class test accuracy",
    "errors": "test images most often wrong",
}
FIGURE_GROUPS = {
    "accuracy": "Overview",
    "curves": "Overview",
    "confusion": "Best model",
    "per_class": "Best model",
    "errors": "Best model",
}
# Every figure of every part that was run: {"png": [...], "pdf": [...]}.
REPORT_FIGURES = {
    ext: [
        f"{REPORT}/{figure_file(part, kind, ext)}"
        for part in REPORTED
        for kind in part_info(part).figures
    ]
    for ext in ("png", "pdf")
}
REPORT_TARGETS = [
    f"{REPORT}/report.md",
    f"{REPORT}/report.tex",
    f"{REPORT}/summary.csv",
    f"{REPORT}/aggregates.csv",
    f"{REPORT}/steps.csv",
]
if pdf_wanted(config["report"]["pdf"], config["report"]["latexmk"]):
    REPORT_TARGETS.append(f"{REPORT}/report.pdf")


rule report_figure:
    """One figure of a part's report (its kind: accuracy, curves, confusion, per_class,
    errors), from the part's runs."""
    input:
        unpack(figure_inputs),
        plan=rerun_plan("report_figure"),
    output:
        png=report(
            f"{REPORT}/figures/{{part}}_{{figure}}.png",
            caption="../report/report_figure.rst",
            category=lambda wc: part_info(wc.part).label,
            subcategory=lambda wc: FIGURE_GROUPS[wc.figure],
            labels=lambda wc: {
                "part": part_info(wc.part).label,
                "figure": FIGURE_TITLES[wc.figure],
            },
        ),
        pdf=f"{REPORT}/figures/{{part}}_{{figure}}.pdf",
    params:
        code=script_code("report_figure.py"),
        names=lambda wc: list(EXPERIMENTS[wc.part]),
        title=lambda wc: f"{part_info(wc.part).label}: {FIGURE_TITLES[wc.figure]}",
        kinds=lambda wc: {n: i.get("kind") for n, i in EXPERIMENTS[wc.part].items()},
        references=lambda wc: REPORT_REFERENCES.get(wc.part, []),
    log:
        f"{LOGS}/report/{{part}}_{{figure}}.log",
    benchmark:
        f"{BENCHMARKS}/report/{{part}}_{{figure}}.tsv"
    wildcard_constraints:
        part=REPORTED_PARTS_RE,
        figure=alternatives(FIGURE_TITLES),
    threads: 1
    resources:
        mem_mb=lambda wc: 1000 + (birds_image_mb() if wc.part == "birds" else 200),
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/report_figure.py"


rule report:
    """summary.csv, report.md and report.tex of every part that was run."""
    input:
        plan=rerun_plan("report"),
        metrics=REPORT_METRICS,
        predictions=REPORT_PREDICTIONS,
        figures=REPORT_FIGURES["png"] + REPORT_FIGURES["pdf"],
    output:
        md=f"{REPORT}/report.md",
        tex=f"{REPORT}/report.tex",
        summary=report(
            f"{REPORT}/summary.csv",
            caption="../report/report_summary.rst",
            category="Summary",
            labels={"table": "every experiment and replicate"},
        ),
        aggregates=report(
            f"{REPORT}/aggregates.csv",
            caption="../report/report_aggregates.rst",
            category="Summary",
            labels={"table": "every experiment over its replicates"},
        ),
        steps=report(
            f"{REPORT}/steps.csv",
            caption="../report/report_steps.rst",
            category="Summary",
            labels={"table": "every step against its base"},
        ),
    params:
        code=script_code("report_render.py"),
        templates=report_templates.digest(),
        parts=REPORT_PARTS,
        seed=config["seed"],
    log:
        f"{LOGS}/report/report.log",
    benchmark:
        f"{BENCHMARKS}/report/report.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/report_render.py"


rule report_pdf:
    """report.pdf from report.tex with latexmk (a target only where latexmk is found)."""
    input:
        plan=rerun_plan("report_pdf"),
        tex=rules.report.output.tex,
        figures=REPORT_FIGURES["pdf"],
    output:
        f"{REPORT}/report.pdf",
    params:
        code=script_code("report_pdf.py"),
        latexmk=config["report"]["latexmk"],
    log:
        f"{LOGS}/report/report_pdf.log",
    benchmark:
        f"{BENCHMARKS}/report/report_pdf.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/report_pdf.py"
