"""Rule prepare_birds: verify the archives, decode and resize every image, split."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.data.birds import prepare_birds
from convstudy.logs import logged

with logged(snakemake):
    p = snakemake.params
    prepare_birds(
        {role: snakemake.input[role] for role in p.checksums},
        dataset=p.dataset,
        checksums=p.checksums,
        image_size=p.image_size,
        validation_fraction=p.validation_fraction,
        seed=p.seed,
        num_classes=p.num_classes,
        on_bad_image=p.on_bad_image,
        threads=snakemake.threads,
        arrays_out=snakemake.output.arrays,
        split_out=snakemake.output.split,
    )
