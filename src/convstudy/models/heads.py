"""Pure-Python checks of the birds' classifier heads (no TensorFlow import).

The Snakefile rejects a head that cannot fit its features before any job runs;
:mod:`convstudy.models.resnet` builds the same layers in Keras.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
