"""The birds' classifier heads: small Keras models from cached ResNet50 features
(pooled 2048-d vectors or the last spatial maps) to class probabilities.

Their shape checks live in :mod:`convstudy.models.spec` (no TensorFlow), so the
Snakefile can run them while it parses the config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import layers


def build_head(
    settings: Mapping, input_shape: Sequence[int], num_classes: int, name: str = "head"
) -> keras.Model:
    """Features -> class probabilities, as the head's ``architecture`` says."""
    arch = settings["architecture"]
    bn = arch["batchnorm"]
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = inputs
    if arch["input_dropout"] > 0:
        x = layers.Dropout(arch["input_dropout"], name="input_dropout")(x)
    for i, conv in enumerate(arch["conv"], start=1):
        x = layers.Conv2D(
            conv["filters"],
            conv["kernel_size"],
            padding="same",
            use_bias=not bn,
            name=f"conv{i}",
        )(x)
        if bn:
            x = layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = layers.ReLU(name=f"conv{i}_relu")(x)
    if len(input_shape) == 3:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    for i, units in enumerate(arch["dense"], start=1):
        x = layers.Dense(units, use_bias=not bn, name=f"dense{i}")(x)
        if bn:
            x = layers.BatchNormalization(name=f"dense{i}_bn")(x)
        x = layers.ReLU(name=f"dense{i}_relu")(x)
        if arch["dropout"] > 0:
            x = layers.Dropout(arch["dropout"], name=f"dense{i}_dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name)
