"""BaseNet and the study's architectures: layer shapes and parameter counts."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from convstudy.config import cifar_variants, load_config
from convstudy.models.spec import check_cnn_architecture

keras = pytest.importorskip("keras")
from convstudy.models.cnn import build_cnn  # noqa: E402


@pytest.fixture(scope="module")
def variants():
    return cifar_variants(load_config())


def test_basenet_is_the_studys_network(variants):
    model = build_cnn(variants["basenet"]["settings"]["architecture"], (32, 32, 3), 25)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["block1_conv1"] == (28, 28, 6)
    assert shapes["block1_pool"] == (14, 14, 6)
    assert shapes["block2_conv1"] == (10, 10, 16)
    assert shapes["block2_pool"] == (5, 5, 16)
    assert shapes["flatten"] == (400,)
    assert shapes["dense1"] == (50,)
    assert shapes["softmax"] == (25,)
    per_layer = {layer.name: layer.count_params() for layer in model.layers if layer.count_params()}
    assert per_layer == {"block1_conv1": 456, "block2_conv1": 2416, "dense1": 20050, "logits": 1275}
    assert model.count_params() == 24197
    assert model.get_layer("block1_conv1").kernel_size == (5, 5)
    assert model.get_layer("block1_conv1").padding == "valid"
    # ReLU after each convolution and the hidden dense layer; softmax at the end.
    assert [type(layer).__name__ for layer in model.layers].count("ReLU") == 3
    assert model.get_layer("softmax").activation.__name__ == "softmax"


def test_normalisation_adds_no_parameters(variants):
    arch = variants["normalized"]["settings"]["architecture"]
    model = build_cnn(arch, (32, 32, 3), 25, mean=[0.5, 0.4, 0.3], variance=[0.1, 0.1, 0.1])
    assert model.count_params() == 24197
    # The statistics live in the model, so model.keras takes raw pixels.
    layer = model.get_layer("normalize")
    np.testing.assert_allclose(np.ravel(layer.mean), [0.5, 0.4, 0.3], rtol=1e-6)
    np.testing.assert_allclose(np.ravel(layer.variance), [0.1, 0.1, 0.1], rtol=1e-6)


def test_deeper_variant_follows_the_study(variants):
    model = build_cnn(variants["deeper"]["settings"]["architecture"], (32, 32, 3), 25)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 32, 64, 64]
    assert all(c.kernel_size == (3, 3) and c.padding == "valid" for c in convs)
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [128, 50, 25]
    assert tuple(model.get_layer("flatten").output.shape[1:]) == (1600,)


def test_dropout_and_batchnorm_variants(variants):
    model = build_cnn(variants["dropout"]["settings"]["architecture"], (32, 32, 3), 25)
    rates = {
        layer.name: layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)
    }
    assert rates == {"block1_dropout": 0.2, "block2_dropout": 0.5}
    bn = build_cnn(variants["batchnorm"]["settings"]["architecture"], (32, 32, 3), 25)
    names = [layer.name for layer in bn.layers]
    # Batch norm after every convolution and hidden dense layer, before its ReLU.
    for layer in (
        "block1_conv1",
        "block1_conv2",
        "block2_conv1",
        "block2_conv2",
        "dense1",
        "dense2",
    ):
        assert names.index(f"{layer}_bn") < names.index(f"{layer}_relu")
    assert "logits_bn" not in names
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in bn.layers) == 6


@pytest.mark.parametrize("name", ["basenet", "deeper", "dropout", "batchnorm", "resnet"])
def test_pure_python_parameter_count_matches_keras(variants, name):
    arch = variants[name]["settings"]["architecture"]
    model = build_cnn(arch, (32, 32, 3), 25)
    assert check_cnn_architecture(arch, (32, 32, 3), 25)["parameters"] == model.count_params()


def test_residual_modules_add_their_shortcut(variants):
    model = build_cnn(variants["resnet"]["settings"]["architecture"], (32, 32, 3), 25)
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 4
    assert model.get_layer("block1_project").kernel_size == (1, 1)


def test_architectures_that_cannot_fit_are_rejected(variants):
    arch = copy.deepcopy(variants["deeper"]["settings"]["architecture"])
    arch["conv_blocks"].append({"filters": [128], "kernel_size": 7})
    arch["block_dropout"] = [0, 0, 0]
    with pytest.raises(
        ValueError, match=r"conv_blocks\[2\]: a 7x7 'valid' convolution leaves no pixels"
    ):
        check_cnn_architecture(arch, (32, 32, 3), 25)
    arch["conv_blocks"][2]["kernel_size"] = 5
    with pytest.raises(ValueError, match="1x1 maps are smaller than the 2x2 pooling"):
        check_cnn_architecture(arch, (32, 32, 3), 25)
    arch = copy.deepcopy(variants["basenet"]["settings"]["architecture"])
    arch["residual"] = True
    with pytest.raises(ValueError, match="residual modules need padding 'same'"):
        check_cnn_architecture(arch, (32, 32, 3), 25)
    arch = copy.deepcopy(variants["basenet"]["settings"]["architecture"])
    arch["block_dropout"] = [0.1]
    with pytest.raises(ValueError, match="block_dropout has 1 rates for 2 conv_blocks"):
        check_cnn_architecture(arch, (32, 32, 3), 25)
