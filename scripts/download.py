"""Rule download_archive: fetch an archive, trying each URL, verified by md5."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.data.archives import download
from convstudy.runtime import logged

with logged(snakemake.log[0]) as log:
    url = download(snakemake.params.urls, snakemake.output[0], snakemake.params.md5)
    log.info("%s <- %s (md5 %s verified)", snakemake.output[0], url, snakemake.params.md5)
