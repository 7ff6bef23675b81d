"""What the workflow knows about each dataset, in one place: its name in the text, its
part of the study, its classes and images, and its archives by role (keys of the
config's ``datasets`` catalogue). The config checks, the rules, the readers and the
report all read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    key: str
    #: How the report names it.
    name: str
    #: The part of the study it serves.
    part: str
    classes: int
    #: Images in the official training and test parts.
    train_images: int
    test_images: int
    #: Its archives: ``{role: catalogue key}``.
    archives: dict[str, str]
    #: Side of its images in pixels (None: they vary).
    image_size: int | None = None

    @property
    def images(self) -> int:
        return self.train_images + self.test_images


DATASETS = {
    d.key: d
    for d in (
        Dataset("cifar100", "CIFAR-100", "cifar", 100, 50_000, 10_000, {"archive": "cifar100"}, 32),
        Dataset("cifar10", "CIFAR-10", "cifar", 10, 50_000, 10_000, {"archive": "cifar10"}, 32),
        Dataset(
            "cub200",
            "Caltech-UCSD Birds-200 (2010)",
            "birds",
            200,
            3_000,
            3_033,
            {"images": "cub200_images", "lists": "cub200_lists"},
        ),
        Dataset(
            "cub200_2011",
            "Caltech-UCSD Birds-200-2011",
            "birds",
            200,
            5_994,
            5_794,
            {"archive": "cub200_2011"},
        ),
    )
}

#: The dataset the study used in each part: its reference points apply to runs on it.
STUDY_DATASETS = {"cifar": "cifar100", "birds": "cub200"}


def dataset(key: str) -> Dataset:
    try:
        return DATASETS[key]
    except KeyError:
        raise KeyError(f"unknown dataset {key!r} (known: {', '.join(DATASETS)})") from None


def dataset_name(key: str | None) -> str:
    """The dataset's name in the text (the key itself for one this module does not know)."""
    return DATASETS[key].name if key in DATASETS else str(key)
