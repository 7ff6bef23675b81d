# Reproduction of a convolutional-network study (Visión por Computador 2019-20,
# Universidad de Granada, Práctica 2): BaseNet and cumulative improvements on the
# first 25 CIFAR-100 classes, ResNet50 on Caltech-UCSD Birds-200, and a report.
#
#   snakemake --cores 4                          # the whole study
#   snakemake --cores 4 --configfile config/demo.yaml   # offline demo, minutes
#   snakemake --report results/report.zip        # Snakemake's HTML report
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/cifar.smk"
include: "rules/birds.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        REPORT_TARGETS,
        run_targets("cifar", CIFAR_VARIANTS),
        run_targets("birds", BIRDS_EXPERIMENTS),


# One part by name: `snakemake --cores 4 cifar` (or birds). The report is the rule
# `report`: `snakemake --cores 4 report` renders it over every part that is enabled.
rule cifar:
    input:
        run_targets("cifar", CIFAR_VARIANTS),
        part_figures("cifar"),


rule birds:
    input:
        run_targets("birds", BIRDS_EXPERIMENTS),
        part_figures("birds"),
