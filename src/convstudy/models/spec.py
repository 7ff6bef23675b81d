"""Pure-Python reading of the architecture settings (no TensorFlow import).

The Snakefile uses it to reject an architecture that cannot fit its input before any
job runs: the CIFAR CNNs (built in Keras by :mod:`convstudy.models.cnn`) and the birds'
classifier heads on ResNet50's features (built by :mod:`convstudy.models.heads`; the
backbone by :mod:`convstudy.models.resnet`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


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


# ------------------------------------------------------------------ birds

#: ResNet50's downsampling: the last maps are ceil(size / 32) pixels high and wide.
RESNET_STRIDE = 32
FEATURE_DIM = 2048
#: Fine-tuning depth: train the stages from this one up (``all``: every layer).
STAGES = ("conv5", "conv4", "conv3", "conv2", "all")
#: ImageNet channel means (BGR) of the Caffe-style preprocessing ResNet50 was trained with.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def spatial_shape(image_size: int | Sequence[int]) -> tuple[int, int, int]:
    """Shape of ResNet50's last maps for images of ``image_size``."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size

    def out(n):
        # 7x7/2 conv (padded by 3), 3x3/2 pool (padded by 1), then three stride-2 stages.
        n = (n + 6 - 7) // 2 + 1
        n = (n + 2 - 3) // 2 + 1
        for _ in range(3):
            n = (n - 1) // 2 + 1
        return n

    return out(h), out(w), FEATURE_DIM


def check_head(settings: Mapping, image_size: int, num_classes: int | None = None) -> dict:
    """Check a head fits its features; return ``{"input_shape", "parameters"}``."""
    arch = settings["architecture"]
    if settings["features"] == "pooled":
        if arch["conv"]:
            raise ValueError("convolutional layers need the spatial maps: set features: spatial")
        shape: tuple[int, ...] = (FEATURE_DIM,)
    else:
        shape = spatial_shape(image_size)
        if min(shape[:2]) < 1:
            raise ValueError(f"images of {image_size} pixels leave no spatial maps")
    params = 0
    channels = FEATURE_DIM
    bn = arch["batchnorm"]
    for conv in arch["conv"]:
        params += conv["kernel_size"] ** 2 * channels * conv["filters"]
        params += 4 * conv["filters"] if bn else conv["filters"]
        channels = conv["filters"]
    for units in arch["dense"]:
        params += channels * units + (4 * units if bn else units)
        channels = units
    if num_classes is not None:
        params += channels * num_classes + num_classes
    return {"input_shape": shape, "parameters": params}
