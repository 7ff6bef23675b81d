"""Pure-Python reading of a CNN architecture setting (no TensorFlow import).

The Snakefile uses it to reject an architecture that cannot fit the images
before any job runs; :mod:`convstudy.models.cnn` builds the same layers in Keras.
"""

from __future__ import annotations

from collections.abc import Mapping


def _conv_out(size: int, kernel: int, padding: str) -> int:
    return size - kernel + 1 if padding == "valid" else size


def check_cnn_architecture(
    arch: Mapping, input_shape: tuple[int, int, int], num_classes: int
) -> dict:
    """Walk the layers, checking shapes; return ``{"feature_shape", "parameters", "macs"}``.

    The parameter count is that of the Keras model built by ``build_cnn``
    (trainable and non-trainable weights, normalisation constants excluded); ``macs``
    counts the multiply-accumulates of one image's forward pass through the
    convolutions and dense layers (what a job's speed and its gain from more threads
    grow with).
    """
    height, width, channels = input_shape
    blocks = arch["conv_blocks"]
    padding = arch["padding"]
    bn = arch["batchnorm"]
    if len(arch["block_dropout"]) != len(blocks):
        raise ValueError(
            f"block_dropout has {len(arch['block_dropout'])} rates for {len(blocks)} conv_blocks"
        )
    if arch["residual"] and padding != "same":
        raise ValueError("residual modules need padding 'same' (the shortcut keeps the size)")
    params = macs = 0
    for index, block in enumerate(blocks, start=1):
        block_in = channels
        for filters in block["filters"]:
            height = _conv_out(height, block["kernel_size"], padding)
            width = _conv_out(width, block["kernel_size"], padding)
            if height < 1 or width < 1:
                raise ValueError(
                    f"conv_blocks[{index - 1}]: a {block['kernel_size']}x{block['kernel_size']} "
                    f"'{padding}' convolution leaves no pixels"
                )
            params += block["kernel_size"] ** 2 * channels * filters + filters
            macs += height * width * block["kernel_size"] ** 2 * channels * filters
            if bn != "none":
                params += 4 * filters
            channels = filters
        if arch["residual"] and block_in != channels:
            params += block_in * channels + channels + (4 * channels if bn != "none" else 0)
            macs += height * width * block_in * channels
        if height < arch["pool_size"] or width < arch["pool_size"]:
            raise ValueError(
                f"conv_blocks[{index - 1}]: {height}x{width} maps are smaller than "
                f"the {arch['pool_size']}x{arch['pool_size']} pooling"
            )
        height //= arch["pool_size"]
        width //= arch["pool_size"]
    features = height * width * channels if arch["head"] == "flatten" else channels
    feature_shape = (height, width, channels)
    for units in arch["dense"]:
        params += features * units + units + (4 * units if bn != "none" else 0)
        macs += features * units
        features = units
    params += features * num_classes + num_classes
    macs += features * num_classes
    return {"feature_shape": feature_shape, "parameters": params, "macs": macs}
