"""Constants and rules of the input pipelines that both implementations share; this
module imports nothing from the rest of the package."""

from __future__ import annotations

from collections.abc import Mapping

NO_AUGMENT = {
    "horizontal_flip": False,
    "translate": 0.0,
    "rotation": 0.0,
    "zoom": 0.0,
    "fill_mode": "nearest",
}
#: Multiplier of the epoch in a batch's seed: [seed, epoch * EPOCH_STRIDE + batch].
EPOCH_STRIDE = 1_000_003
#: Crops draw from a stream of their own, [seed + this, ...], apart from the shuffle.
CROP_SEED_OFFSET = 17


def crops(augment: Mapping) -> bool:
    """Whether ``augment`` asks for the fine-tuning crops (else projective transforms)."""
    return "min_crop" in augment
