"""ResNet50 for the birds: the backbone, the frozen feature extractor, the fine-tuning
model (a trained head from :mod:`convstudy.models.heads` put back on top of the
backbone, so fine-tuning's first stage, training the head on the frozen base, is the
head experiment itself, run on the cache).

The shape checks live in :mod:`convstudy.models.spec` (no TensorFlow), so the
Snakefile can run them while it parses the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
from keras import layers

from . import trainable_parameters
from .spec import CAFFE_MEAN_BGR, STAGES
from .weights import check_resnet50_weights


@keras.saving.register_keras_serializable(package="convstudy")
class CaffePreprocess(layers.Layer):
    """``keras.applications.resnet50.preprocess_input`` as a layer: RGB [0, 255] -> BGR - mean.

    Inside the model, so a saved model takes raw pixels like every other model here.
    """

    def call(self, inputs):
        x = keras.ops.cast(inputs, self.compute_dtype)
        x = x[..., ::-1]
        return x - keras.ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=self.compute_dtype)


def resolve_weights(weights: str | Path | None) -> str | None:
    """A weights file, checked, or None for random weights.

    Never ``"imagenet"``: Keras would download the file from inside the job, and
    compute nodes often have no internet. The workflow fetches it as a download
    rule and hands the job the file.
    """
    if weights in (None, "none"):
        return None
    if weights == "imagenet":
        raise ValueError(
            "weights 'imagenet' must be a file here: the workflow downloads it "
            "(rule download_archive) and passes the path, so that no job needs the network"
        )
    return str(check_resnet50_weights(weights))


def build_backbone(weights: str | Path | None, image_shape: Sequence[int]) -> keras.Model:
    """ResNet50 without its top, frozen, batch normalization in inference mode."""
    backbone = keras.applications.ResNet50(
        include_top=False,
        weights=resolve_weights(weights),
        input_shape=tuple(image_shape),
        pooling=None,
    )
    backbone.trainable = False
    return backbone


def build_extractor(
    backbone: keras.Model, image_shape: Sequence[int], spatial: bool
) -> keras.Model:
    """Images (uint8 pixel values) -> pooled features [, spatial maps]."""
    inputs = keras.Input(shape=tuple(image_shape), name="image")
    maps = backbone(CaffePreprocess(name="preprocess")(inputs), training=False)
    pooled = layers.GlobalAveragePooling2D(name="avg_pool", dtype="float32")(maps)
    outputs = (
        [pooled, layers.Activation("linear", dtype="float32", name="maps")(maps)]
        if spatial
        else pooled
    )
    return keras.Model(inputs, outputs, name="resnet50_features")


def set_trainable_stages(backbone: keras.Model, unfreeze: str) -> int:
    """Make the stages from ``unfreeze`` up trainable (batch normalization stays frozen).

    Returns the number of trainable backbone weights.
    """
    if unfreeze not in STAGES:
        raise ValueError(f"unfreeze must be one of {STAGES}, not {unfreeze!r}")
    backbone.trainable = True
    first = 1 if unfreeze == "all" else int(unfreeze[-1])
    for layer in backbone.layers:
        stage = (
            layer.name[4] if layer.name.startswith("conv") and layer.name[4:5].isdigit() else None
        )
        in_stage = stage is not None and int(stage) >= first
        trainable = (unfreeze == "all" or in_stage) and not isinstance(
            layer, layers.BatchNormalization
        )
        layer.trainable = trainable
    return trainable_parameters(backbone)


def build_finetune_model(
    backbone: keras.Model,
    head: keras.Model,
    image_shape: Sequence[int],
    unfreeze: str,
    name: str = "finetune",
) -> keras.Model:
    """ResNet50 + a trained head, end to end; raw pixels in, probabilities out.

    The backbone is called with ``training=False``: its batch normalization
    keeps the ImageNet statistics (small batches of one dataset would spoil
    them), while the unfrozen convolutions learn.
    """
    set_trainable_stages(backbone, unfreeze)
    inputs = keras.Input(shape=tuple(image_shape), name="image")
    maps = backbone(CaffePreprocess(name="preprocess")(inputs), training=False)
    if len(head.inputs[0].shape) == 2:
        features = layers.GlobalAveragePooling2D(name="avg_pool")(maps)
    else:
        features = maps
    outputs = head(features)
    return keras.Model(inputs, outputs, name=name)
