# Every download of the workflow: dataset archives and pretrained weights, from the
# `datasets` catalogue. Local rules, so they run where Snakemake runs (compute nodes
# often have no internet); no other job touches the network.


localrules:
    download_archive,


rule download_archive:
    """Fetch an archive of the `datasets` catalogue; verified by md5 before it lands.

    Its output is defined by its URLs and checksum, not by code: an edit to the
    download code fetches nothing again (and so reruns nothing downstream)."""
    input:
        plan=rerun_plan("download_archive"),
    output:
        f"{RESULTS}/downloads/{{filename}}",
    params:
        urls=lambda wc: DOWNLOAD_FILES[wc.filename]["urls"],
        md5=lambda wc: DOWNLOAD_FILES[wc.filename].get("md5"),
        sha256=lambda wc: DOWNLOAD_FILES[wc.filename].get("sha256"),
        setting=lambda wc: f"datasets.{DOWNLOAD_FILES[wc.filename]['key']}",
    log:
        f"{LOGS}/download/{{filename}}.log",
    benchmark:
        f"{BENCHMARKS}/download/{{filename}}.tsv"
    retries: 1
    threads: 1
    resources:
        mem_mb=512,
        runtime=60,
    conda:
        "../envs/base.yaml"
    script:
        "../scripts/download.py"
