# Part 3 of the study: the final report over every experiment of every part that was
# run (EXPERIMENTS, rules/common.smk). Figures are rules of their own, so that a change
# to the templates renders the text again and redraws nothing.

from convstudy.report.parts import (
    check_references,
    figure_file,
    part_info,
    report_parts,
    run_parts,
)
from convstudy.report.pdf import pdf_wanted


# The PDF is built where the workflow was started: that is where latexmk was looked
# for (report.pdf: auto), and a cluster node may lack it.
localrules:
    report_pdf,


REPORT = f"{RESULTS}/report"
REPORT_PARTS = report_parts(config, EXPERIMENTS)
REPORTED = run_parts(config, EXPERIMENTS)
REPORTED_PARTS_RE = alternatives(REPORTED)
try:
    check_references(config["report"]["references"])
except ValueError as exc:
    raise ConfigError(f"invalid configuration: {exc}") from None

REPORT_METRICS = [
    path for part in REPORTED for path in part_files(part, "metrics.json")
]
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


rule report_accuracy:
    """Test accuracy of every experiment of a part, with the study's reference points."""
    input:
        metrics=lambda wc: part_files(wc.part, "metrics.json"),
    output:
        png=report(
            f"{REPORT}/figures/{{part}}_accuracy.png",
            caption="../report/report_accuracy.rst",
            category=lambda wc: part_info(wc.part).label,
            subcategory="Overview",
            labels=lambda wc: {
                "part": part_info(wc.part).label,
                "figure": "test accuracy",
            },
        ),
        pdf=f"{REPORT}/figures/{{part}}_accuracy.pdf",
    params:
        code=script_code("report_accuracy_figure.py"),
        title=lambda wc: f"{part_info(wc.part).label}: test accuracy",
        kinds=lambda wc: {n: i.get("kind") for n, i in EXPERIMENTS[wc.part].items()},
        references=lambda wc: config["report"]["references"].get(wc.part, []),
    log:
        f"{LOGS}/report/{{part}}_accuracy.log",
    benchmark:
        f"{BENCHMARKS}/report/{{part}}_accuracy.tsv"
    wildcard_constraints:
        part=REPORTED_PARTS_RE,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/report_accuracy_figure.py"


rule report_curves:
    """Learning curves of every experiment of a part in one grid."""
    input:
        histories=lambda wc: part_files(wc.part, "history.csv"),
    output:
        png=report(
            f"{REPORT}/figures/{{part}}_curves.png",
            caption="../report/report_curves.rst",
            category=lambda wc: part_info(wc.part).label,
            subcategory="Overview",
            labels=lambda wc: {
                "part": part_info(wc.part).label,
                "figure": "learning curves",
            },
        ),
        pdf=f"{REPORT}/figures/{{part}}_curves.pdf",
    params:
        code=script_code("report_curves_figure.py"),
        names=lambda wc: list(EXPERIMENTS[wc.part]),
        replicates=len(REPLICATES),
        title=lambda wc: f"{part_info(wc.part).label}: learning curves",
    log:
        f"{LOGS}/report/{{part}}_curves.log",
    benchmark:
        f"{BENCHMARKS}/report/{{part}}_curves.tsv"
    wildcard_constraints:
        part=REPORTED_PARTS_RE,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/report_curves_figure.py"


rule report_confusion:
    """Confusion matrix of a part's best experiment (by validation accuracy)."""
    input:
        metrics=lambda wc: part_files(wc.part, "metrics.json"),
    output:
        png=report(
            f"{REPORT}/figures/{{part}}_confusion.png",
            caption="../report/report_confusion.rst",
            category=lambda wc: part_info(wc.part).label,
            subcategory="Best model",
            labels=lambda wc: {
                "part": part_info(wc.part).label,
                "figure": "confusion matrix",
            },
        ),
        pdf=f"{REPORT}/figures/{{part}}_confusion.pdf",
    params:
        code=script_code("report_confusion_figure.py"),
        title=lambda wc: f"{part_info(wc.part).label}: confusion matrix",
    log:
        f"{LOGS}/report/{{part}}_confusion.log",
    benchmark:
        f"{BENCHMARKS}/report/{{part}}_confusion.tsv"
    wildcard_constraints:
        part=REPORTED_PARTS_RE,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/report_confusion_figure.py"


rule report_per_class:
    """Per-class test accuracy of a part's best experiment: the best and worst classes."""
    input:
        metrics=lambda wc: part_files(wc.part, "metrics.json"),
    output:
        png=report(
            f"{REPORT}/figures/{{part}}_per_class.png",
            caption="../report/report_per_class.rst",
            category=lambda wc: part_info(wc.part).label,
            subcategory="Best model",
            labels=lambda wc: {
                "part": part_info(wc.part).label,
                "figure": "per-class accuracy",
            },
        ),
        pdf=f"{REPORT}/figures/{{part}}_per_class.pdf",
    params:
        code=script_code("report_per_class_figure.py"),
        title=lambda wc: f"{part_info(wc.part).label}: per-class test accuracy",
    log:
        f"{LOGS}/report/{{part}}_per_class.log",
    benchmark:
        f"{BENCHMARKS}/report/{{part}}_per_class.tsv"
    wildcard_constraints:
        part=REPORTED_PARTS_RE,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/report_per_class_figure.py"


rule report:
    """summary.csv, report.md and report.tex of every part that was run."""
    input:
        metrics=REPORT_METRICS,
        figures=REPORT_FIGURES["png"] + REPORT_FIGURES["pdf"],
        md_template="report/report.md.j2",
        tex_template="report/report.tex.j2",
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
        parts=REPORT_PARTS,
        references={p: config["report"]["references"].get(p, []) for p in REPORTED},
        seed=config["seed"],
        replicates=len(REPLICATES),
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
