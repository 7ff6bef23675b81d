"""The study's CNNs (BaseNet and its improvements) built from one architecture setting.

Every variant of the CIFAR part is this builder with other settings, so the
variants differ only where their config says they do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import layers

from .spec import check_cnn_architecture


def _activate(x, batchnorm: str, name: str):
    if batchnorm == "before_relu":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    if batchnorm == "after_relu":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


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
    bn = arch["batchnorm"]
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if mean is not None:
        x = layers.Normalization(axis=-1, mean=mean, variance=variance, name="normalize")(x)
    for b, block in enumerate(arch["conv_blocks"], start=1):
        shortcut = x
        filters = block["filters"]
        for c, f in enumerate(filters, start=1):
            lname = f"block{b}_conv{c}"
            x = layers.Conv2D(f, block["kernel_size"], padding=arch["padding"], name=lname)(x)
            last = c == len(filters)
            if arch["residual"] and last:
                # The shortcut joins before the module's final ReLU, as in ResNet.
                if bn == "before_relu":
                    x = layers.BatchNormalization(name=f"{lname}_bn")(x)
                if shortcut.shape[-1] != f:
                    shortcut = layers.Conv2D(f, 1, name=f"block{b}_project")(shortcut)
                    if bn != "none":
                        shortcut = layers.BatchNormalization(name=f"block{b}_project_bn")(
                            shortcut
                        )
                x = layers.Add(name=f"block{b}_add")([x, shortcut])
                x = layers.ReLU(name=f"{lname}_relu")(x)
                if bn == "after_relu":
                    x = layers.BatchNormalization(name=f"{lname}_bn")(x)
            else:
                x = _activate(x, bn, lname)
        x = layers.MaxPooling2D(arch["pool_size"], name=f"block{b}_pool")(x)
        rate = arch["block_dropout"][b - 1]
        if rate > 0:
            x = layers.Dropout(rate, name=f"block{b}_dropout")(x)
    if arch["head"] == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    for d, units in enumerate(arch["dense"], start=1):
        if arch["dense_dropout"] > 0:
            x = layers.Dropout(arch["dense_dropout"], name=f"dense{d}_dropout")(x)
        x = layers.Dense(units, name=f"dense{d}")(x)
        x = _activate(x, bn, f"dense{d}")
    if arch["dense_dropout"] > 0:
        x = layers.Dropout(arch["dense_dropout"], name="output_dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    # float32 softmax keeps the loss stable under a mixed-precision policy.
    outputs = layers.Activation("softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name)
