"""ResNet50 pieces: preprocessing, feature cache, heads on cached features, fine-tuning model."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from convstudy import config as config_mod
from convstudy.config import load_config, load_schema
from convstudy.data.birds import prepare_birds
from convstudy.data.synthetic_birds import write_synthetic_birds
from convstudy.errors import ConfigError
from convstudy.experiments import birds as exp
from convstudy.experiments.common import EvalJob, TrainJob
from convstudy.files import HISTORY_FIELDS, load_arrays, read_history, save_arrays
from convstudy.models.heads import build_head
from convstudy.models.spec import check_head, spatial_shape
from convstudy.runtime import RunOptions

keras = pytest.importorskip("keras")
from convstudy.models import resnet  # noqa: E402

SCHEMA = load_schema()


def head_settings(**over):
    settings = copy.deepcopy(load_config()["birds"]["heads"]["linear"])
    settings.pop("description", None)
    settings["epochs"] = 3
    for key, value in over.items():
        if isinstance(value, dict):
            settings[key].update(value)
        else:
            settings[key] = value
    return settings


def test_preprocess_layer_is_resnet50_preprocess_input():
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("float32")
    expected = keras.applications.resnet50.preprocess_input(x.copy())
    np.testing.assert_allclose(np.asarray(resnet.CaffePreprocess()(x)), expected, atol=1e-4)


@pytest.mark.parametrize("size", [64, 100, 224])
def test_spatial_shape_matches_the_backbone(size):
    backbone = resnet.build_backbone(None, (size, size, 3))
    assert tuple(backbone.output.shape[1:]) == spatial_shape(size)


@pytest.mark.parametrize(
    "features, arch",
    [
        ("pooled", {"dense": [64], "input_dropout": 0.2, "dropout": 0.5}),
        (
            "spatial",
            {"conv": [{"filters": 32, "kernel_size": 3}], "dense": [16], "batchnorm": True},
        ),
    ],
)
def test_head_parameter_check_matches_keras(features, arch):
    settings = head_settings(features=features, architecture=arch)
    info = check_head(settings, 64, 7)
    model = build_head(settings, info["input_shape"], 7)
    assert model.count_params() == info["parameters"]


def test_conv_head_on_pooled_features_is_rejected():
    settings = head_settings(architecture={"conv": [{"filters": 8, "kernel_size": 1}]})
    with pytest.raises(ValueError, match="spatial"):
        check_head(settings, 224)


def _config(**birds):
    config = load_config(overrides={"birds": birds})
    return config


def test_experiments_resolve_in_report_order_with_kinds():
    config = load_config()
    experiments = config_mod.birds_experiments(config, SCHEMA)
    names = list(experiments)
    heads = list(config["birds"]["heads"])
    assert names[: len(heads)] == heads
    assert {experiments[n]["kind"] for n in heads} == {"head"}
    assert {experiments[n]["kind"] for n in names[len(heads) :]} == {"finetune"}
    for info in experiments.values():
        assert {"settings", "base", "lineage", "description", "kind"} <= set(info)
        assert "description" not in info["settings"] and "base" not in info["settings"]
    assert config_mod.needs_spatial(config, SCHEMA) == any(
        experiments[h]["settings"]["features"] == "spatial" for h in heads
    )
    # Selecting experiments does not change the feature cache (nor rerun its heads).
    only_pooled = {**config, "birds": {**config["birds"], "only": ["linear"]}}
    assert config_mod.needs_spatial(only_pooled, SCHEMA) == config_mod.needs_spatial(config, SCHEMA)


@pytest.mark.parametrize(
    "birds, message",
    [
        ({"finetune": {"ft": {"base": "finetune_top", "head": "nope"}}}, "head 'nope' is not"),
        ({"finetune": {"linear": {"base": "finetune_top"}}}, "both a head and a fine-tuning"),
        (
            {
                "heads": {
                    "bad": {
                        "base": "linear",
                        "architecture": {"conv": [{"filters": 8, "kernel_size": 1}]},
                    }
                }
            },
            "birds.heads.bad: convolutional",
        ),
        ({"heads": {"loop": {"base": "loop"}}}, "cycle"),
        ({"heads": {"features": {"base": "linear"}}}, "reserved"),
    ],
)
def test_bad_birds_configs_are_named(birds, message):
    with pytest.raises(ConfigError, match=message):
        config_mod.birds_experiments(_config(**birds), SCHEMA)


def test_archive_sources():
    config = load_config()
    down = config_mod.archive_sources(config, "birds")
    assert set(down) == {"images", "lists"}
    assert down["images"]["sha256"] and down["images"]["urls"][0].endswith("/images.tgz")
    local = config_mod.archive_sources(
        _config(dataset="cub200_2011", source="local", local_archives={"archive": "/x/CUB.tgz"}),
        "birds",
    )
    assert local == {
        "archive": {
            "source": "local",
            "filename": "CUB_200_2011.tgz",
            "path": "/x/CUB.tgz",
            "urls": [],
            "md5": "97eceeb196236b17998738112f37df78",
            # Named when the file does not match: where to set the checksum of your own.
            "checksum_setting": "birds.local_checksums.archive",
            "sha256": None,
        }
    }
    # The workflow's own files: generated under the results, or downloaded there.
    assert down["images"]["path"] == "results/downloads/images.tgz"
    synthetic = config_mod.archive_sources(_config(source="synthetic"), "birds")
    assert synthetic["lists"]["path"] == "results/birds/synthetic/lists.tgz"
    assert synthetic["lists"]["md5"] is None and synthetic["lists"]["urls"] == []
    own = config_mod.archive_sources(
        _config(
            source="local",
            local_archives={"images": "i.tgz", "lists": "l.tgz"},
            local_checksums={"images": {"md5": "A" * 32}},
        ),
        "birds",
    )
    assert own["images"]["md5"] == "a" * 32 and own["images"]["sha256"] is None
    assert own["lists"]["sha256"] == down["lists"]["sha256"]
    with pytest.raises(ConfigError, match="local_archives.lists is not set"):
        config_mod.archive_sources(
            _config(source="local", local_archives={"images": "i.tgz"}), "birds"
        )


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    """A prepared synthetic dataset and its feature cache (random weights, 32x32)."""
    root = tmp_path_factory.mktemp("features")
    info = write_synthetic_birds(
        root / "archives", "cub200", num_classes=3, train_per_class=6, test_per_class=2, seed=1
    )
    prepare_birds(
        info["archives"],
        dataset="cub200",
        checksums={},
        image_size=32,
        validation_fraction=0.34,
        seed=0,
        num_classes=None,
        on_bad_image="error",
        threads=1,
        arrays_out=root / "data.npz",
        split_out=root / "split.json",
    )
    exp.extract_features(
        root / "data.npz",
        weights=None,
        spatial=True,
        options=RunOptions(threads=1),
        batch_size=5,
        pooled_out=root / "pooled.npz",
        spatial_out=root / "spatial.npz",
    )
    return root


def test_feature_cache_shapes(cached):
    data = load_arrays(cached / "data.npz")
    pooled = load_arrays(cached / "pooled.npz")
    maps = load_arrays(cached / "spatial.npz")
    for part in ("train", "val", "test"):
        n = len(data[f"y_{part}"])
        assert pooled[f"x_{part}"].shape == (n, 2048) and pooled[f"x_{part}"].dtype == np.float32
        assert maps[f"x_{part}"].shape == (n, 1, 1, 2048) and maps[f"x_{part}"].dtype == np.float16
        np.testing.assert_array_equal(pooled[f"y_{part}"], data[f"y_{part}"])
        # Pooled features are the spatial maps averaged (here over a single position).
        np.testing.assert_allclose(
            pooled[f"x_{part}"],
            maps[f"x_{part}"][:, 0, 0].astype(np.float32),
            rtol=2e-3,
            atol=1e-3,
        )
    assert pooled["class_names"] == data["class_names"]


def _cluster_features(tmp_path, shape, seed=0):
    """Features whose class is learnable: one random centre per class, plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, *shape))
    out = {"class_names": [f"c{i}" for i in range(5)]}
    for part, n in (("train", 100), ("val", 40), ("test", 40)):
        y = np.arange(n) % 5
        out[f"x_{part}"] = (centres[y] + rng.normal(scale=2.0, size=(n, *shape))).astype("float32")
        out[f"y_{part}"] = y.astype(np.int32)
    save_arrays(tmp_path / "features.npz", out)
    return tmp_path / "features.npz"


@pytest.mark.parametrize(
    "features, shape, arch",
    [
        ("pooled", (2048,), {}),
        ("pooled", (2048,), {"dense": [32], "input_dropout": 0.2, "dropout": 0.3}),
        ("spatial", (2, 2, 2048), {"conv": [{"filters": 16, "kernel_size": 1}], "batchnorm": True}),
    ],
)
def test_heads_learn_from_cached_features_without_the_backbone(
    tmp_path, monkeypatch, features, shape, arch
):
    def no_backbone(*args, **kwargs):
        raise AssertionError("a head must never build ResNet50")

    monkeypatch.setattr(keras.applications, "ResNet50", no_backbone)
    path = _cluster_features(tmp_path, shape)
    settings = head_settings(features=features, architecture=arch, epochs=8)
    job = TrainJob(
        "h",
        RunOptions(threads=1),
        tmp_path / "model.keras",
        tmp_path / "history.csv",
        tmp_path / "resume",
    )
    history = exp.train_head(path, settings, job)
    assert len(history) == 8 and list(read_history(tmp_path / "history.csv")[0]) == list(
        HISTORY_FIELDS
    )
    # Five classes: chance is 0.2.
    assert history[-1]["val_accuracy"] >= 0.6
    assert not (tmp_path / "resume").exists()
    metrics = exp.evaluate(
        tmp_path / "model.keras",
        path,
        tmp_path / "history.csv",
        settings,
        EvalJob("h", RunOptions(threads=1), tmp_path / "metrics.json"),
        kind="head",
    )
    assert metrics["kind"] == "head" and metrics["test"]["examples"] == 40
    assert metrics["test"]["accuracy"] >= 0.6


def test_crop_flip_is_seeded_and_exact_at_full_size():
    import tensorflow as tf

    from convstudy.pipeline.tfdata import crop_flip_batch

    x = tf.random.stateless_uniform((6, 16, 16, 3), seed=[1, 2]) * 255
    seed = tf.constant([3, 4], tf.int64)
    flipped = crop_flip_batch(x, seed, 1.0, True).numpy()
    for a, b in zip(flipped, x.numpy(), strict=True):
        assert np.allclose(a, b, atol=1e-3) or np.allclose(a, b[:, ::-1], atol=1e-3)
    mirrored = [
        np.allclose(a, b[:, ::-1], atol=1e-3) for a, b in zip(flipped, x.numpy(), strict=True)
    ]
    assert any(mirrored) and not all(mirrored)
    crops = crop_flip_batch(x, seed, 0.5, True).numpy()
    np.testing.assert_array_equal(crops, crop_flip_batch(x, seed, 0.5, True).numpy())
    assert not np.allclose(crops, crop_flip_batch(x, seed + 1, 0.5, True).numpy())
    assert crops.shape == x.shape


@pytest.mark.parametrize("unfreeze", ["conv5", "all"])
def test_finetune_model_starts_from_the_head(cached, unfreeze):
    """Stage 2 starts where stage 1 ended: on images, the fine-tuning model gives
    what the head gives on those images' pooled features."""
    data = load_arrays(cached / "data.npz")
    keras.utils.set_random_seed(0)
    head = build_head(head_settings(architecture={"dense": [8]}), (2048,), 3)
    backbone = resnet.build_backbone(None, (32, 32, 3))
    extractor = resnet.build_extractor(backbone, (32, 32, 3), spatial=False)
    features = np.asarray(extractor.predict(data["x_test"], verbose=0))
    model = resnet.build_finetune_model(backbone, head, (32, 32, 3), unfreeze)
    np.testing.assert_allclose(
        np.asarray(model.predict(data["x_test"], verbose=0)),
        np.asarray(head.predict(features, verbose=0)),
        rtol=1e-4,
        atol=1e-6,
    )
    trainable = {w.path.split("/")[0] for w in backbone.trainable_weights}
    bn = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bn and not any(layer.trainable for layer in bn)
    assert any(name.startswith("conv5") for name in trainable)
    assert any(name.startswith("conv4") for name in trainable) == (unfreeze == "all")
    assert all(w.trainable for w in head.weights)


def test_settings_do_not_depend_on_key_order():
    """Snakemake compares params with their key order: merged config files reorder keys."""
    config = load_config()
    reordered = copy.deepcopy(config)
    head = reordered["birds"]["heads"]["linear"]
    head["optimizer"] = dict(reversed(list(head["optimizer"].items())))
    reordered["birds"]["heads"]["linear"] = dict(reversed(list(head.items())))
    a = config_mod.birds_experiments(config, SCHEMA)
    b = config_mod.birds_experiments(reordered, SCHEMA)
    assert list(a) == list(b)
    for name in a:
        assert json.dumps(a[name]["settings"]) == json.dumps(b[name]["settings"])
