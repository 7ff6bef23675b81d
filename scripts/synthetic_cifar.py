"""Rule synthetic_cifar: write a learnable stand-in archive in the canonical layout."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.data.synthetic import write_synthetic_cifar
from convstudy.logs import logged

with logged(snakemake) as log:
    counts = write_synthetic_cifar(
        snakemake.output[0],
        snakemake.params.dataset,
        train_per_class=snakemake.params.train_per_class,
        test_per_class=snakemake.params.test_per_class,
        seed=snakemake.params.seed,
    )
    log.info("%s: %s", snakemake.output[0], counts)
