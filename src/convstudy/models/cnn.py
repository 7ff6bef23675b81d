"""The study's CNNs (BaseNet and its improvements) built from one architecture setting.

Every variant of the CIFAR part is this builder with other settings, so the
variants differ only where their config says they do. One small builder per
idea, as in the Keras examples: an activation with its batch normalisation, a
convolutional module (plain or residual), the dense head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import layers

from .spec import check_cnn_architecture


def bn_relu(x, batchnorm: str, name: str):
    """ReLU with batch normalisation before it, after it, or none (``batchnorm``)."""
    if batchnorm == "before_relu":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    if batchnorm == "after_relu":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


def shortcut(x, filters: int, batchnorm: str, name: str):
    """The module's input, projected by a 1x1 convolution when its channels differ."""
    if x.shape[-1] == filters:
        return x
    x = layers.Conv2D(filters, 1, name=f"{name}_project")(x)
    if batchnorm != "none":
        x = layers.BatchNormalization(name=f"{name}_project_bn")(x)
    return x


def conv_module(x, block: Mapping, arch: Mapping, name: str):
    """Convolutions, each with its activation; residual: the shortcut joins before the
    last ReLU, as in ResNet. Then max pooling and the module's dropout."""
    bn = arch["batchnorm"]
    inputs = x
    filters = block["filters"]
    for c, f in enumerate(filters, start=1):
        lname = f"{name}_conv{c}"
        x = layers.Conv2D(f, block["kernel_size"], padding=arch["padding"], name=lname)(x)
        if arch["residual"] and c == len(filters):
            if bn == "before_relu":
                x = layers.BatchNormalization(name=f"{lname}_bn")(x)
            x = layers.Add(name=f"{name}_add")([x, shortcut(inputs, f, bn, name)])
            x = bn_relu(x, "after_relu" if bn == "after_relu" else "none", lname)
        else:
            x = bn_relu(x, bn, lname)
    return layers.MaxPooling2D(arch["pool_size"], name=f"{name}_pool")(x)


def dense_head(x, arch: Mapping, num_classes: int):
    """Flatten or global average pooling, hidden dense layers, float32 softmax."""
    if arch["head"] == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    for d, units in enumerate(arch["dense"], start=1):
        if arch["dense_dropout"] > 0:
            x = layers.Dropout(arch["dense_dropout"], name=f"dense{d}_dropout")(x)
        x = layers.Dense(units, name=f"dense{d}")(x)
        x = bn_relu(x, arch["batchnorm"], f"dense{d}")
    if arch["dense_dropout"] > 0:
        x = layers.Dropout(arch["dense_dropout"], name="output_dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    # float32 softmax keeps the loss stable under a mixed-precision policy.
    return layers.Activation("softmax", dtype="float32", name="softmax")(x)


def build_cnn(
    arch: Mapping,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    mean: Sequence[float] | None = None,
    variance: Sequence[float] | None = None,
    name: str = "cnn",
) -> keras.Model:
    """Build the classifier described by ``arch`` (see the config schema).

    Inputs are raw pixel values in [0, 255]; the model rescales to [0, 1] as the
    study does and, when ``mean``/``variance`` are given, applies the featurewise
    normalisation fitted on the training split, so the saved model is self-contained.
    """
    check_cnn_architecture(arch, tuple(input_shape), num_classes)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if mean is not None:
        x = layers.Normalization(axis=-1, mean=mean, variance=variance, name="normalize")(x)
    for b, block in enumerate(arch["conv_blocks"], start=1):
        x = conv_module(x, block, arch, f"block{b}")
        rate = arch["block_dropout"][b - 1]
        if rate > 0:
            x = layers.Dropout(rate, name=f"block{b}_dropout")(x)
    return keras.Model(inputs, dense_head(x, arch, num_classes), name=name)
