"""Rule download_archive: fetch an archive, trying each URL, verified by md5."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.data.archives import download
from convstudy.logs import logged

with logged(snakemake) as log:
    p = snakemake.params
    url = download(p.urls, snakemake.output[0], p.md5, sha256=p.sha256, setting=p.setting)
    log.info("%s <- %s (verified: md5 %s, sha256 %s)", snakemake.output[0], url, p.md5, p.sha256)
