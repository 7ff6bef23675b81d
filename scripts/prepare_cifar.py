"""Rule prepare_cifar: check the archive, keep the first classes, split, store arrays."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.cifar import prepare
from convstudy.runtime import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    prepare(
        snakemake.input[0],
        dataset=p.dataset,
        md5=p.md5,
        num_classes=p.num_classes,
        validation_fraction=p.validation_fraction,
        seed=p.seed,
        max_train_per_class=p.max_train_per_class,
        arrays_out=snakemake.output.arrays,
        split_out=snakemake.output.split,
    )
