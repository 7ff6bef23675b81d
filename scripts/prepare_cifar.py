"""Rule prepare_cifar: check the archive, keep the first classes, split, store arrays."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.data.cifar import prepare_cifar
from convstudy.logs import logged

with logged(snakemake):
    p = snakemake.params
    prepare_cifar(
        snakemake.input.archive,
        dataset=p.dataset,
        checksums=p.checksums["archive"],
        num_classes=p.num_classes,
        validation_fraction=p.validation_fraction,
        seed=p.seed,
        max_train_per_class=p.max_train_per_class,
        arrays_out=snakemake.output.arrays,
        split_out=snakemake.output.split,
    )
