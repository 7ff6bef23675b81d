"""The method text: each experiment's resolved settings and its data, in words.

Familiar settings get prose; any other setting gets a readable listing, so a new
setting shows up in the report without code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..datasets import DATASETS, dataset_name


def _num(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_cnn(arch: Mapping, num_classes: int | None = None) -> str:
    """A CNN architecture of the CIFAR part in one line."""
    steps = []
    for block in arch["conv_blocks"]:
        size = block["kernel_size"]
        steps.extend(f"Conv {f}@{size}×{size}" for f in block["filters"])
        steps.append(f"max-pool {arch.get('pool_size', 2)}")
    steps.append("global average pooling" if arch.get("head") == "global_average" else "flatten")
    steps.extend(f"Dense {units}" for units in arch.get("dense", []))
    steps.append(f"Dense {num_classes} (softmax)" if num_classes else "Dense (softmax)")
    text = " → ".join(steps) + "; ReLU after every hidden layer"
    extras = [f"{arch.get('padding', 'valid')} padding"]
    if arch.get("residual"):
        extras.append("residual shortcut around every module")
    batchnorm = arch.get("batchnorm", "none")
    if batchnorm and batchnorm != "none":
        extras.append(
            "batch normalisation " + batchnorm.replace("_", " ").replace("relu", "every ReLU")
        )
    drops = arch.get("block_dropout") or []
    if any(drops):
        extras.append("dropout " + ", ".join(_num(d) for d in drops) + " after the modules")
    if arch.get("dense_dropout"):
        extras.append(f"dropout {_num(arch['dense_dropout'])} before each dense layer")
    return f"{text}; " + "; ".join(extras)


def describe_optimizer(opt: Mapping, schedule: Mapping | None = None) -> str:
    name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}.get(
        opt.get("name"), str(opt.get("name"))
    )
    details = [f"learning rate {_num(opt['learning_rate'])}"] if "learning_rate" in opt else []
    if opt.get("momentum"):
        details.append(f"momentum {_num(opt['momentum'])}")
    if opt.get("nesterov"):
        details.append("Nesterov")
    if opt.get("weight_decay"):
        details.append(f"weight decay {_num(opt['weight_decay'])}")
    for key, value in opt.items():
        if key not in ("name", "learning_rate", "momentum", "nesterov", "weight_decay"):
            details.append(f"{key.replace('_', ' ')} {format_value(value)}")
    text = f"{name} ({', '.join(details)})" if details else name
    if schedule:
        sched = schedule.get("name", "constant")
        text += f", {sched} learning-rate schedule"
        if schedule.get("warmup_epochs"):
            text += f" with {schedule['warmup_epochs']} warm-up epochs"
    return text


def describe_augment(aug: Mapping) -> str:
    parts = []
    if aug.get("horizontal_flip"):
        parts.append("random horizontal flips")
    if aug.get("vertical_flip"):
        parts.append("random vertical flips")
    if aug.get("translate"):
        parts.append(f"random translations up to {100 * aug['translate']:g}%")
    if aug.get("rotation"):
        parts.append(f"random rotations up to {_num(aug['rotation'])}°")
    if aug.get("zoom"):
        parts.append(f"random zoom ±{_num(aug['zoom'])}")
    for key, value in aug.items():
        if (
            key
            not in (
                "horizontal_flip",
                "vertical_flip",
                "translate",
                "rotation",
                "zoom",
                "fill_mode",
            )
            and value
        ):
            parts.append(f"{key.replace('_', ' ')} {format_value(value)}")
    if not parts:
        return "none"
    if (aug.get("rotation") or aug.get("zoom") or aug.get("translate")) and aug.get("fill_mode"):
        parts.append(f"{aug['fill_mode']} fill")
    return ", ".join(parts)


def format_value(value) -> str:
    """Any setting as readable text (nested mappings and lists included), whole:
    a setting cut short mid-word reads as another setting."""
    if isinstance(value, Mapping):
        text = ", ".join(f"{k.replace('_', ' ')} {format_value(v)}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) for v in value):
            text = "; ".join(f"({i}) {format_value(v)}" for i, v in enumerate(value, 1))
        else:
            text = "[" + ", ".join(format_value(v) for v in value) + "]"
    elif value is None:
        text = "none"
    else:
        text = _num(value)
    return text


#: Settings that the method text describes in their own line, in this order.
_DESCRIBED = (
    "architecture",
    "normalize",
    "augment",
    "optimizer",
    "schedule",
    "label_smoothing",
    "batch_size",
    "epochs",
)


def describe_settings(settings: Mapping, num_classes: int | None = None) -> list[tuple[str, str]]:
    """(label, text) lines of the method section for one experiment's resolved settings.

    Settings of any part are covered: the familiar ones get prose, the rest a
    readable listing, so a new setting shows up in the report without code.
    """
    lines = []
    arch = settings.get("architecture")
    if isinstance(arch, Mapping) and "conv_blocks" in arch:
        lines.append(("Architecture", describe_cnn(arch, num_classes)))
    elif arch is not None:
        lines.append(("Architecture", format_value(arch)))
    # Settings without prose (a birds head, fine-tuning stages...) describe the model:
    # they come right after the architecture.
    for key, value in settings.items():
        if key not in _DESCRIBED:
            lines.append((key.replace("_", " ").capitalize(), format_value(value)))
    inputs = []
    if "normalize" in settings:
        inputs.append(
            "featurewise mean/std normalisation fitted on the training split"
            if settings["normalize"]
            else "pixels scaled to [0, 1]"
        )
    if "augment" in settings and isinstance(settings["augment"], Mapping):
        inputs.append(f"augmentation: {describe_augment(settings['augment'])}")
    if inputs:
        lines.append(("Input", "; ".join(inputs)))
    if isinstance(settings.get("optimizer"), Mapping):
        lines.append(
            ("Optimizer", describe_optimizer(settings["optimizer"], settings.get("schedule")))
        )
    training = []
    if "batch_size" in settings:
        training.append(f"batch {settings['batch_size']}")
    if "epochs" in settings:
        training.append(f"{settings['epochs']} epochs")
    if settings.get("label_smoothing"):
        training.append(f"label smoothing {_num(settings['label_smoothing'])}")
    if training:
        lines.append(("Training", ", ".join(training)))
    return lines


def _flatten(settings: Mapping, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def settings_changes(settings: Mapping, base_settings: Mapping | None) -> list[str]:
    """What a variant changes over its base, e.g. ``["normalize: yes", "epochs: 35"]``."""
    if base_settings is None:
        return []
    new, old = _flatten(settings), _flatten(base_settings)
    changes = []
    for key in new:
        if key not in old or new[key] != old[key]:
            changes.append(f"{key}: {format_value(new[key])}")
    changes.extend(f"{key}: removed" for key in old if key not in new)
    return changes


WEIGHTS_TEXT = {
    "imagenet": "ResNet50 starts from its ImageNet weights (Keras' file).",
    "none": "ResNet50 starts from random weights (no pretraining: a demo or test run).",
    "file": "ResNet50 starts from a weights file given in the configuration.",
}


def _validation_sentence(fraction, seed) -> str:
    return (
        f"A stratified {100 * fraction:g}% of the training images is held out for "
        f"validation (seed {seed})."
    )


def _cifar_data(data: Mapping, seed) -> list[str]:
    key = data.get("dataset")
    n = data.get("num_classes")
    fine = "fine " if key == "cifar100" else ""
    if key in DATASETS and n == DATASETS[key].classes:
        classes = f"all {n} {fine}classes"
    else:
        classes = f"the first {n} {fine}classes (labels 0 to {n - 1})"
    sentences = [f"{dataset_name(key)}, {classes}, 32×32 colour images."]
    if data.get("max_train_per_class"):
        sentences.append(f"At most {data['max_train_per_class']} training images per class.")
    if data.get("validation_fraction"):
        sentences.append(_validation_sentence(data["validation_fraction"], seed))
    return sentences


def _birds_data(data: Mapping, seed) -> list[str]:
    dataset = dataset_name(data.get("dataset"))
    classes = (
        f"the first {data['num_classes']} species" if data.get("num_classes") else "every species"
    )
    size = data.get("image_size")
    sentences = [
        f"{dataset}, {classes}, the dataset's own train/test split; images resized to "
        f"{size}×{size} without cropping."
    ]
    if data.get("validation_fraction"):
        sentences.append(_validation_sentence(data["validation_fraction"], seed))
    if data.get("weights") in WEIGHTS_TEXT:
        sentences.append(WEIGHTS_TEXT[data["weights"]])
    if data.get("on_bad_image") == "skip":
        sentences.append("Undecodable images were left out (counted in split.json).")
    return sentences


def describe_data(
    part: str, data: Mapping, seed: int | None, test_examples: int | None
) -> list[str]:
    """Sentences on the data of a part, from its config section (whole settings,
    never cut short)."""
    if part == "cifar":
        sentences = _cifar_data(data, seed)
    elif part == "birds":
        sentences = _birds_data(data, seed)
    else:
        listed = {k: v for k, v in data.items() if k != "source"}
        sentences = [f"{k.replace('_', ' ').capitalize()}: {_num(v)}." for k, v in listed.items()]
        sentences.append(f"Seed {seed}.")
    source = data.get("source")
    if source == "synthetic":
        sentences.append(
            "The images are a synthetic stand-in generated by the workflow (demo or test "
            "run): accuracies are not comparable with the study's reference points."
        )
    elif source == "local":
        sentences.append("The dataset archive was supplied locally.")
    elif source == "download":
        sentences.append(
            "The dataset archive was downloaded and checked against its official checksum."
        )
    if test_examples:
        sentences.append(f"Every test accuracy is measured on {test_examples} test images.")
    return sentences
