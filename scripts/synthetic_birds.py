"""Rule synthetic_birds: stand-in CUB archives in the canonical layout (real JPEGs)."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from pathlib import Path

from convstudy.data.synthetic_birds import write_synthetic_birds
from convstudy.logs import logged

with logged(snakemake) as log:
    p = snakemake.params
    info = write_synthetic_birds(
        Path(snakemake.output[0]).parent,
        p.dataset,
        num_classes=p.num_classes,
        train_per_class=p.train_per_class,
        test_per_class=p.test_per_class,
        seed=p.seed,
    )
    log.info("%s", info)
