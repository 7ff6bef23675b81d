"""Cumulative variants: inheritance, overrides, ordering and configuration errors."""

from __future__ import annotations

import pytest

from convstudy.config import cifar_variants, load_config, load_schema, validate_config
from convstudy.errors import ConfigError
from convstudy.variants import deep_merge, descendants, resolve_variants


@pytest.fixture
def config():
    return load_config()


def test_study_chain_is_cumulative(config):
    resolved = cifar_variants(config)
    study = ["basenet", "normalized", "augmented", "deeper", "dropout", "batchnorm"]
    assert list(resolved)[:6] == study
    assert resolved["batchnorm"]["lineage"] == study
    base = resolved["basenet"]["settings"]
    assert base["optimizer"] == {
        "name": "sgd",
        "learning_rate": 0.01,
        "momentum": 0.0,
        "nesterov": False,
        "weight_decay": 0.0,
    }
    assert (base["batch_size"], base["epochs"], base["normalize"]) == (32, 30, False)
    bn = resolved["batchnorm"]["settings"]
    # Everything each step added is still there at the end of the chain.
    assert bn["normalize"] is True
    assert bn["augment"]["horizontal_flip"] is True
    assert bn["augment"]["rotation"] == 0.0
    assert [b["filters"] for b in bn["architecture"]["conv_blocks"]] == [[16, 32], [64, 64]]
    assert bn["architecture"]["block_dropout"] == [0.2, 0.5]
    assert bn["architecture"]["batchnorm"] == "before_relu"
    assert bn["epochs"] == 60
    assert resolved["dropout"]["settings"]["epochs"] == 35  # from deeper
    assert resolved["normalized"]["settings"]["epochs"] == 35
    assert resolved["augmented"]["settings"]["epochs"] == 50
    # Our variant builds on the last study variant.
    assert resolved["resnet"]["lineage"][-2] == "batchnorm"


def test_settings_leave_out_what_does_not_train(config):
    resolved = cifar_variants(config)
    for info in resolved.values():
        assert "base" not in info["settings"] and "description" not in info["settings"]


def test_override_merges_mappings_and_replaces_lists():
    merged = deep_merge({"a": {"x": 1, "y": [1, 2]}, "b": 1}, {"a": {"y": [3]}, "c": 2})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}


def test_new_variant_is_a_config_entry(config):
    config["cifar"]["variants"]["adam"] = {
        "base": "augmented",
        "description": "Adam instead of SGD",
        "optimizer": {"name": "adam", "learning_rate": 0.001},
    }
    resolved = cifar_variants(validate_config(config))
    adam = resolved["adam"]["settings"]
    assert adam["optimizer"]["name"] == "adam" and adam["optimizer"]["momentum"] == 0.0
    assert adam["augment"]["horizontal_flip"] and adam["epochs"] == 50
    assert "adam" not in descendants(resolved, "deeper")
    assert "adam" in descendants(resolved, "normalized")


def test_bases_come_first_whatever_the_config_order():
    variants = {"c": {"base": "b", "epochs": 3}, "a": {"epochs": 1}, "b": {"base": "a"}}
    assert list(resolve_variants(variants)) == ["a", "b", "c"]
    assert resolve_variants(variants)["c"]["settings"] == {"epochs": 3}


def test_descendants(config):
    resolved = cifar_variants(config)
    assert descendants(resolved, "deeper") == ["dropout", "batchnorm", "resnet"]
    assert descendants(resolved, "resnet") == []


@pytest.mark.parametrize(
    "mutate,message",
    [
        (
            lambda v: v["dropout"].update(base="deepr"),
            r"cifar.variants.dropout: base 'deepr' is not a variant \(known: basenet",
        ),
        (
            lambda v: v["basenet"].update(base="augmented"),
            r"the bases form a cycle \(variant -> its base\): basenet -> augmented -> normalized -> basenet",
        ),
        (
            lambda v: v["deeper"].update(base="deeper"),
            r"cycle \(variant -> its base\): deeper -> deeper",
        ),
        (
            lambda v: v["basenet"].pop("batch_size"),
            r"cifar.variants.basenet: 'batch_size' is a required property",
        ),
        (
            lambda v: v["basenet"]["optimizer"].pop("momentum"),
            r"cifar.variants.basenet.optimizer: 'momentum' is a required property",
        ),
        (
            lambda v: v["dropout"]["architecture"].update(block_dropout=[0.2]),
            r"cifar.variants.dropout.architecture: block_dropout has 1 rates for 2 conv_blocks",
        ),
    ],
)
def test_resolution_errors(config, mutate, message):
    mutate(config["cifar"]["variants"])
    with pytest.raises(ConfigError, match=message):
        cifar_variants(validate_config(config))


@pytest.mark.parametrize(
    "mutate,message",
    [
        (
            lambda c: c["cifar"]["variants"]["deeper"].update(epoch=3),
            r"^cifar.variants.deeper.epoch: unknown setting \(known here: .*epochs",
        ),
        (
            lambda c: c["cifar"]["variants"]["deeper"].update(epochs=0),
            r"^cifar.variants.deeper.epochs: 0 is less than the minimum of 1$",
        ),
        (
            lambda c: c["cifar"]["variants"]["deeper"].update(epochs=-5),
            r"^cifar.variants.deeper.epochs: -5 is less than the minimum of 1$",
        ),
        (
            lambda c: c["cifar"].update(dataset="cifar1000"),
            r"^cifar.dataset: 'cifar1000' is not one of",
        ),
        (
            lambda c: c["cifar"]["variants"]["augmented"]["augment"].update(flip=True),
            r"^cifar.variants.augmented.augment.flip: unknown setting",
        ),
        (lambda c: c.update(sead=1), r"^sead: unknown setting \(known here: .*seed"),
        (lambda c: c.update(replicates=0), r"^replicates: 0 is less than the minimum of 1$"),
        (lambda c: c.update(replicates=2.5), r"^replicates: 2.5 is not of type 'integer'$"),
        (
            lambda c: c["cifar"].update(num_classes=11, dataset="cifar10"),
            r"^cifar.num_classes: 11 classes asked for, but cifar10 has 10$",
        ),
        (
            lambda c: c["birds"].update(
                num_classes=9,
                source="synthetic",
                synthetic={"num_classes": 8, "train_per_class": 2, "test_per_class": 1},
            ),
            r"^birds.num_classes: 9 classes asked for, but the synthetic cub200 \(birds.synthetic.num_classes\) has 8$",
        ),
        (
            lambda c: c["datasets"]["cifar10"].update(md5=12345678901234567890123456789012),
            r"^datasets.cifar10.md5: the checksum is a number: .* quote it",
        ),
    ],
)
def test_schema_errors(config, mutate, message):
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_schema_fills_defaults():
    config = load_config()
    del config["cifar"]["synthetic"]
    validate_config(config, load_schema())
    assert config["cifar"]["synthetic"] == {"train_per_class": 500, "test_per_class": 100}


def test_local_source_needs_a_path(config):
    from convstudy.config import archive_sources

    config["cifar"]["source"] = "local"
    with pytest.raises(ConfigError, match=r"cifar.local_archives.archive is not set \(cifar100"):
        archive_sources(config, "cifar")
    # Named like the birds part's settings: archives and checksums by role.
    config["cifar"]["local_archives"] = {"archive": "/data/cifar-100-python.tar.gz"}
    archive = archive_sources(config, "cifar")["archive"]
    assert archive["md5"] == "eb9058c3a382ffc7106e4002c42a8d85"
    assert archive["path"] == "/data/cifar-100-python.tar.gz"
    config["cifar"]["local_checksums"] = {"archive": {"md5": "A" * 32}}
    archive = archive_sources(config, "cifar")["archive"]
    assert archive["md5"] == "a" * 32
    assert archive["checksum_setting"] == "cifar.local_checksums.archive"


def test_the_demo_config_is_valid():
    from convstudy.config import REPO

    demo = load_config(overrides=load_config_file(REPO / "config" / "demo.yaml"))
    resolved = cifar_variants(demo)
    assert all(info["settings"]["epochs"] <= 3 for info in resolved.values())


def load_config_file(path):
    import yaml

    return yaml.safe_load(open(path))


def test_settings_do_not_depend_on_key_order():
    """Merged config files reorder keys; Snakemake would see changed params."""
    a = {"x": {"epochs": 2, "optimizer": {"name": "sgd", "learning_rate": 0.1}}}
    b = {"x": {"optimizer": {"learning_rate": 0.1, "name": "sgd"}, "epochs": 2}}
    sa, sb = resolve_variants(a)["x"]["settings"], resolve_variants(b)["x"]["settings"]
    assert list(sa) == list(sb) == ["epochs", "optimizer"]
    assert list(sa["optimizer"]) == list(sb["optimizer"])
