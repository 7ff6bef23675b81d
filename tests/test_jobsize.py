"""Threads by job size and priorities by work (convstudy.jobsize), on the default config."""

from __future__ import annotations

from convstudy import jobsize
from convstudy.config import birds_experiments, cifar_variants, load_config, load_schema
from convstudy.estimate.costs import birds_sizes, cifar_sizes


def sizes(config) -> jobsize.JobSizes:
    return jobsize.JobSizes(
        cifar_variants(config),
        birds_experiments(config, load_schema()),
        {"cifar": cifar_sizes(config["cifar"]), "birds": birds_sizes(config["birds"])},
        most=config["training"]["threads"],
        image_size=config["birds"]["image_size"],
    )


def test_threads_follow_what_a_job_gains_from_them():
    """benchmarks/threads.py: only our residual CNN and ResNet50 gain from a second thread."""
    config = load_config(overrides={"training": {"threads": 6}})
    plan = sizes(config)
    assert {v: plan.cifar_threads(v) for v in plan.cifar} == {
        "basenet": 1,
        "normalized": 1,
        "augmented": 1,
        "deeper": 1,
        "dropout": 1,
        "batchnorm": 1,
        "resnet": 6,
    }
    assert plan.birds_eval_threads("linear") == 1 and plan.birds_eval_threads("finetune_top") == 6


def test_longer_jobs_start_first():
    plan = sizes(load_config())
    order = sorted(plan.cifar, key=plan.cifar_priority)
    # More epochs or a bigger network: more work.
    assert order[0] == "basenet" and order[-1] == "resnet"
    assert plan.cifar_priority("batchnorm") > plan.cifar_priority("dropout")
    # The fine-tuning is the longest job; the head it starts from inherits its priority,
    # the others do not.
    assert plan.finetune_priority("finetune_top") > plan.cifar_priority("resnet")
    assert plan.head_priority("conv") == plan.finetune_priority("finetune_top")
    assert plan.head_priority("linear") == 0
    # The features every head waits for are on the fine-tuning's path as well.
    assert plan.extraction_priority() == plan.finetune_priority("finetune_top")
    without_finetune = sizes(load_config(overrides={"birds": {"only": ["linear"]}}))
    assert 0 < without_finetune.extraction_priority() < plan.extraction_priority()
    # Snakemake's ilp scheduler starts the set of ready jobs with the largest sum of
    # priorities: the residual network must outweigh two small networks together,
    # and the data preparation everything else.
    assert plan.cifar_priority("resnet") > plan.cifar_priority("batchnorm") + plan.cifar_priority(
        "dropout"
    )
    every = sum(map(plan.cifar_priority, plan.cifar)) + 3 * plan.finetune_priority("finetune_top")
    assert every < jobsize.FIRST


def test_the_cnn_spec_counts_multiply_accumulates():
    from convstudy.models.spec import check_cnn_architecture

    arch = {
        "conv_blocks": [{"filters": [6], "kernel_size": 5}],
        "padding": "valid",
        "pool_size": 2,
        "residual": False,
        "batchnorm": "none",
        "block_dropout": [0.0],
        "head": "flatten",
        "dense": [],
    }
    # 28 x 28 outputs x 5 x 5 x 3 inputs x 6 filters, then 14 x 14 x 6 -> 10 classes.
    assert check_cnn_architecture(arch, (32, 32, 3), 10)["macs"] == 28 * 28 * 75 * 6 + 1176 * 10
