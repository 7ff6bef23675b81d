# Every download of the workflow: dataset archives and pretrained weights, from the
# `datasets` catalogue. Local rules, so they run where Snakemake runs (compute nodes
# often have no internet); no other job touches the network.


localrules:
    download_archive,


rule download_archive:
    """Fetch an archive of the `datasets` catalogue; verified by md5 before it lands."""
    output:
        f"{RESULTS}/downloads/{{filename}}",
    params:
        code=script_code("download.py"),
        urls=lambda wc: DOWNLOAD_FILES[wc.filename]["urls"],
        md5=lambda wc: DOWNLOAD_FILES[wc.filename].get("md5"),
        sha256=lambda wc: DOWNLOAD_FILES[wc.filename].get("sha256"),
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
