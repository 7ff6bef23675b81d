"""How many threads each job asks for, and which jobs start first.

What a job gains from a second thread depends on its network's size, measured by
``benchmarks/threads.py`` on a quiet 2-core machine (throughput at 2 threads over 1
thread): BaseNet 1.05x, the augmented BaseNet 0.72x, the deeper CNN 1.35x, the
batch-normalised CNN 0.92x, our residual CNN 1.76x, a birds head 0.69x, ResNet50
feature extraction 1.83x, fine-tuning 1.23x. The small networks are bound by
per-step overhead, not arithmetic: one thread each lets two of them run at once
for the price of one. Networks of at least :data:`LARGE_MACS` multiply-accumulates
per image (our residual CNN: 54 M; the study's deeper CNN: 11 M) and everything
that runs ResNet50 get ``training.threads``.

On a CPU, TensorFlow's results depend on a job's thread count in the last digits:
a job's threads are recorded in its provenance, and the same config on the same
cores gives the same numbers.

Priorities, so that a run with few cores does not end on a long job started last.
Snakemake's default scheduler (``ilp``) starts, whenever cores free up, the set of
ready jobs with the largest *sum* of priorities that fits them. Priorities therefore
add up like work: a job's priority is its work (multiply-accumulates over every image
and epoch it processes) in units of :data:`PRIORITY_UNIT`, and one long job outranks
two short ones exactly when it has more work than both. (A logarithmic scale would
rank jobs in the same order, yet let any two small networks outvote the residual
network.) The data preparation, which every job waits for, comes first
(:data:`FIRST`), and the feature extraction and the head that a fine-tuning starts
from, both on its path, get that fine-tuning's priority.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Multiply-accumulates per image from which a network gains from more threads.
LARGE_MACS = 20e6
#: ResNet50's multiply-accumulates per 224x224 image (forward pass).
RESNET50_MACS = 3.9e9
#: Multiply-accumulates of work per unit of priority (a BaseNet training: about 6,000).
PRIORITY_UNIT = 1e8
#: The priority of the jobs every other job waits for (making and preparing the data):
#: above the sum of every other job's (10^17 multiply-accumulates of work).
FIRST = 10**9
#: A training step costs about three forward passes (forward, and backward for the
#: activations and the weights).
TRAINING_PASSES = 3


def threads(macs_per_image: float, most: int) -> int:
    """The threads a job running a network of ``macs_per_image`` asks for."""
    return most if macs_per_image >= LARGE_MACS else 1


def priority(work: float) -> int:
    """A job's priority from its work (multiply-accumulates in all), proportional to it."""
    return round(work / PRIORITY_UNIT)


def training_work(macs_per_image: float, images: float, epochs: int) -> float:
    return macs_per_image * images * epochs * TRAINING_PASSES


def resnet50_macs(image_size: int) -> float:
    """ResNet50's multiply-accumulates per image at ``image_size`` (they grow with the pixels)."""
    return RESNET50_MACS * (image_size / 224) ** 2


@dataclass(frozen=True)
class JobSizes:
    """Threads and priority of every job of a resolved config: what the rules ask.

    ``cifar`` and ``birds``: the resolved experiments of each part (a CIFAR variant
    carries its ``macs`` per image); ``images``: (training, test, all) images per part;
    ``most``: ``training.threads``; ``image_size``: the birds' image side.
    """

    cifar: Mapping[str, Mapping]
    birds: Mapping[str, Mapping]
    images: Mapping[str, tuple]
    most: int
    image_size: int

    def cifar_threads(self, variant: str) -> int:
        return threads(self.cifar[variant]["macs"], self.most)

    def cifar_priority(self, variant: str) -> int:
        info = self.cifar[variant]
        work = training_work(info["macs"], self.images["cifar"][0], info["settings"]["epochs"])
        return priority(work)

    def extraction_priority(self) -> int:
        """Every head waits for the features, so the extraction is on each fine-tuning's
        path too: its own work or the longest fine-tuning's priority."""
        own = priority(self.images["birds"][2] * resnet50_macs(self.image_size))
        finetunes = [n for n, info in self.birds.items() if info["kind"] == "finetune"]
        return max([own, *map(self.finetune_priority, finetunes)])

    def finetune_priority(self, name: str) -> int:
        epochs = self.birds[name]["settings"]["epochs"]
        macs = resnet50_macs(self.image_size)
        return priority(training_work(macs, self.images["birds"][0], epochs))

    def head_priority(self, head: str) -> int:
        """A head a fine-tuning starts from is on its path: the fine-tuning's priority."""
        starts = [
            self.finetune_priority(name)
            for name, info in self.birds.items()
            if info["kind"] == "finetune" and info["settings"]["head"] == head
        ]
        return max(starts, default=0)

    def birds_eval_threads(self, name: str) -> int:
        """Heads are evaluated on cached features (one thread), fine-tuned models on images."""
        return self.most if self.birds[name]["kind"] == "finetune" else 1
