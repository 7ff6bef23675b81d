"""Rule extract_birds_features: the frozen ResNet50, once, over every image."""

import _src_path  # noqa: F401  (first: makes convstudy importable)
from convstudy.experiments.birds import extract_features
from convstudy.logs import logged
from convstudy.runtime import RunOptions

with logged(snakemake):
    p = snakemake.params
    extract_features(
        snakemake.input.arrays,
        weights=snakemake.input.get("weights"),
        spatial=p.spatial,
        options=RunOptions.from_snakemake(snakemake),
        # From the config, not params: a speed setting must not rerun the extraction.
        batch_size=snakemake.config["birds"]["inference_batch_size"],
        pooled_out=snakemake.output.pooled,
        spatial_out=snakemake.output.get("spatial"),
    )
