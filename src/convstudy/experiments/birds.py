"""The birds part, step by step: prepare the images, extract ResNet50 features once,
train classifier heads on the cached features, fine-tune ResNet50 with a trained
head, evaluate.

Each function below is what one rule runs. The config resolution at the top is
pure Python: the Snakefile calls it while parsing, before any job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..data.birds import DATASET_ARCHIVES
from ..models.heads import check_head
from ..variants import ConfigError, resolve_variants, select, sorted_keys

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- config


def birds_experiments(config: Mapping, schema: Mapping) -> dict[str, dict[str, Any]]:
    """Heads then fine-tuning variants, resolved: ``{name: {settings, base, lineage,
    description, kind}}`` in report order. Raises ConfigError on anything that
    cannot work (unknown head, name used twice, head that does not fit)."""
    birds = config["birds"]
    defs = schema["$defs"]
    heads = resolve_variants(
        birds["heads"], defs["birds_head"], defs=defs, where="birds.heads"
    )
    finetunes = resolve_variants(
        birds.get("finetune") or {}, defs["birds_finetune"], defs=defs, where="birds.finetune"
    )
    both = sorted(set(heads) & set(finetunes))
    if both:
        raise ConfigError(
            f"birds: {', '.join(both)} named both a head and a fine-tuning variant "
            "(experiment names share results/birds/)"
        )
    reserved = {"features", "synthetic"} & (set(heads) | set(finetunes))
    if reserved:
        raise ConfigError(f"birds: {', '.join(sorted(reserved))} is a reserved name")
    for name, info in heads.items():
        try:
            check_head(info["settings"], birds["image_size"], birds.get("num_classes"))
        except ValueError as exc:
            raise ConfigError(f"birds.heads.{name}: {exc}") from None
    for name, info in finetunes.items():
        head = info["settings"]["head"]
        if head not in heads:
            raise ConfigError(
                f"birds.finetune.{name}: head '{head}' is not a head (known: {', '.join(heads)})"
            )
    only = birds.get("only")
    heads = select(heads, None if only is None else [n for n in only if n in heads], "birds.only")
    finetunes = select(
        finetunes, None if only is None else [n for n in only if n in finetunes], "birds.only"
    )
    if only is not None:
        unknown = [n for n in only if n not in heads and n not in finetunes]
        if unknown:
            raise ConfigError(f"birds.only: {', '.join(unknown)} is not a head or fine-tuning variant")
        for name, info in finetunes.items():
            if info["settings"]["head"] not in heads:
                raise ConfigError(
                    f"birds.only: {name} starts from the head {info['settings']['head']}: "
                    "select it too"
                )
    out = {n: {**info, "kind": "head"} for n, info in heads.items()}
    out.update({n: {**info, "kind": "finetune"} for n, info in finetunes.items()})
    for info in out.values():
        info["settings"] = sorted_keys(info["settings"])
    return out


def needs_spatial(experiments: Mapping[str, Mapping]) -> bool:
    """Whether some head trains on the spatial maps (else only pooled features are cached)."""
    return any(
        e["kind"] == "head" and e["settings"]["features"] == "spatial"
        for e in experiments.values()
    )


def birds_archives(config: Mapping) -> dict[str, dict[str, Any]]:
    """Where each archive of the birds dataset comes from, by role.

    ``{role: {"source", "filename", "path", "md5", "sha256", "urls"}}``; ``path``
    is set for local archives, checksums are those to verify (None: nothing to
    check, as for the workflow's own synthetic archives).
    """
    birds = config["birds"]
    dataset = birds["dataset"]
    source = birds["source"]
    local = birds.get("local_archives") or {}
    checks = birds.get("local_checksums") or {}
    out = {}
    for role, key in DATASET_ARCHIVES[dataset].items():
        if key not in config["datasets"]:
            raise ConfigError(f"datasets.{key}: missing catalogue entry for {dataset} {role}")
        entry = config["datasets"][key]
        official = {"md5": entry.get("md5"), "sha256": entry.get("sha256")}
        info = {"source": source, "filename": entry["filename"], "path": None, "urls": []}
        if source == "local":
            if not local.get(role):
                roles = ", ".join(DATASET_ARCHIVES[dataset])
                raise ConfigError(
                    f"birds.source is 'local' but birds.local_archives.{role} is not set "
                    f"({dataset} needs: {roles})"
                )
            info["path"] = local[role]
            own = checks.get(role)
            sums = {"md5": own.get("md5"), "sha256": own.get("sha256")} if own else official
        elif source == "download":
            info["urls"] = list(entry["urls"])
            sums = official
        else:
            sums = {"md5": None, "sha256": None}
        info["md5"] = sums["md5"].lower() if sums["md5"] else None
        info["sha256"] = sums["sha256"].lower() if sums["sha256"] else None
        out[role] = info
    return out


#: The catalogue entry (``datasets``) of the weights behind ``birds.weights: imagenet``.
IMAGENET_WEIGHTS = "resnet50_imagenet"


def birds_weights(config: Mapping) -> dict[str, Any]:
    """Where the ResNet50 weights come from: ``{"kind", "path"}``.

    ``imagenet``: the catalogue's file, downloaded by the workflow into
    ``downloads/`` (``path`` is its file name there); a path: the user's file,
    checked now; ``none``: random weights (``path`` None).
    """
    from ..models.weights import WeightsError, check_resnet50_weights

    weights = config["birds"]["weights"]
    if weights in (None, "none"):
        return {"kind": "none", "path": None}
    if weights == "imagenet":
        if IMAGENET_WEIGHTS not in config["datasets"]:
            raise ConfigError(
                f"datasets.{IMAGENET_WEIGHTS}: missing catalogue entry for birds.weights: imagenet"
            )
        return {"kind": "imagenet", "path": config["datasets"][IMAGENET_WEIGHTS]["filename"]}
    try:
        check_resnet50_weights(weights, "birds.weights")
    except WeightsError as exc:
        raise ConfigError(str(exc)) from None
    return {"kind": "file", "path": weights}


# --------------------------------------------------------------------------- prepare


def prepare(
    archives: Mapping[str, str | Path],
    *,
    dataset: str,
    checksums: Mapping[str, Mapping],
    image_size: int,
    validation_fraction: float,
    seed: int,
    num_classes: int | None,
    on_bad_image: str,
    threads: int,
    arrays_out: str | Path,
    split_out: str | Path,
) -> dict:
    """Verify the archives, decode and resize every image, split, store uint8 arrays."""
    from ..data.archives import verify_checksums
    from ..data.birds import birds_table, load_birds
    from ..data.splits import format_split_table
    from ..io import save_arrays, write_json

    digests = {}
    for role, path in archives.items():
        sums = checksums.get(role) or {}
        digests[role] = verify_checksums(path, sums.get("md5"), sums.get("sha256"))
        checked = [k for k in ("md5", "sha256") if sums.get(k)]
        log.info("%s (%s): md5 %s%s", path, role, digests[role],
                 f" ({', '.join(checked)} verified)" if checked else "")
    began = time.perf_counter()
    data, skipped = load_birds(
        dataset,
        archives,
        image_size=image_size,
        validation_fraction=validation_fraction,
        seed=seed,
        num_classes=num_classes,
        on_bad_image=on_bad_image,
        threads=threads,
    )
    seconds = time.perf_counter() - began
    if skipped:
        log.warning("%d undecodable image(s) skipped (on_bad_image: skip)", len(skipped))
    table = birds_table(data)
    log.info("images per class and split:\n%s", format_split_table(table))
    log.info("decoded and resized %d images in %.1fs", table["total"]["train"]
             + table["total"]["val"] + table["total"]["test"], seconds)
    save_arrays(arrays_out, data)
    write_json(
        split_out,
        {
            "dataset": dataset,
            "archive_md5": digests,
            "image_size": image_size,
            "num_classes": len(data["class_names"]),
            "validation_fraction": validation_fraction,
            "seed": seed,
            "skipped_images": skipped,
            "class_names": data["class_names"],
            "per_class": table,
        },
    )
    return table


# --------------------------------------------------------------------------- features


def extract_features(
    data_path: str | Path,
    *,
    weights: str | None,
    spatial: bool,
    seed: int,
    threads: int,
    batch_size: int,
    mixed_precision: bool,
    pooled_out: str | Path,
    spatial_out: str | Path | None,
) -> dict:
    """Run the frozen ResNet50 once over train/val/test; cache pooled features
    (float32) and, when a head needs them, the last spatial maps (float16).

    Arrays are allocated once and filled batch by batch.
    """
    from .. import runtime

    runtime.configure(threads, seed, mixed_precision=mixed_precision)
    import numpy as np

    from ..io import load_arrays, save_arrays
    from ..models.heads import FEATURE_DIM
    from ..models.resnet import build_backbone, build_extractor

    data = load_arrays(data_path)
    shape = data["x_train"].shape[1:]
    backbone = build_backbone(weights, shape)
    extractor = build_extractor(backbone, shape, spatial)
    map_shape = tuple(backbone.output.shape[1:])
    log.info("ResNet50 (weights: %s) on %s images -> pooled %d%s", weights, shape, FEATURE_DIM,
             f", maps {map_shape}" if spatial else "")
    pooled = {"class_names": data["class_names"]}
    maps = {"class_names": data["class_names"]} if spatial else None
    timing = {}
    for part in ("train", "val", "test"):
        x = data[f"x_{part}"]
        n = len(x)
        pooled[f"x_{part}"] = np.empty((n, FEATURE_DIM), dtype=np.float32)
        pooled[f"y_{part}"] = data[f"y_{part}"]
        if spatial:
            maps[f"x_{part}"] = np.empty((n, *map_shape), dtype=np.float16)
            maps[f"y_{part}"] = data[f"y_{part}"]
        began = time.perf_counter()
        for start in range(0, n, batch_size):
            out = extractor.predict_on_batch(x[start : start + batch_size])
            if spatial:
                pooled[f"x_{part}"][start : start + batch_size] = np.asarray(out[0])
                maps[f"x_{part}"][start : start + batch_size] = np.asarray(out[1])
            else:
                pooled[f"x_{part}"][start : start + batch_size] = np.asarray(out)
        seconds = time.perf_counter() - began
        timing[part] = {"images": n, "seconds": round(seconds, 2)}
        log.info("%s: %d images in %.1fs (%.1f images/s)", part, n, seconds, n / max(seconds, 1e-9))
    save_arrays(pooled_out, pooled)
    if spatial:
        save_arrays(spatial_out, maps)
    return timing


# --------------------------------------------------------------------------- heads


def train_head(
    features_path: str | Path,
    settings: Mapping,
    *,
    name: str,
    seed: int,
    threads: int,
    training: Mapping,
    model_out: str | Path,
    history_out: str | Path,
    resume_dir: str | Path | None,
) -> list[dict]:
    """Train one head on cached features (the backbone never runs here)."""
    from .. import runtime

    runtime.configure(threads, seed, mixed_precision=training.get("mixed_precision", False))
    from ..io import load_arrays
    from ..models.resnet import build_head
    from ..pipeline import eval_dataset, steps_per_epoch, train_dataset
    from ..training import train_and_save

    data = load_arrays(features_path)
    num_classes = len(data["class_names"])
    x_train, y_train = data["x_train"], data["y_train"]
    model = build_head(settings, x_train.shape[1:], num_classes, name=name)
    batch = settings["batch_size"]
    steps = steps_per_epoch(len(x_train), batch)
    log.info("%s: %d parameters on features %s, %d steps per epoch",
             name, model.count_params(), x_train.shape[1:], steps)
    options = runtime.tf_data_options(threads)
    val = eval_dataset(data["x_val"], data["y_val"], num_classes, options=options)
    return train_and_save(
        model,
        settings,
        lambda epoch: train_dataset(x_train, y_train, num_classes, batch, {}, seed, epoch, options),
        val,
        steps_per_epoch=steps,
        name=name,
        seed=seed,
        training=training,
        run_data=(x_train, y_train),
        model_out=model_out,
        history_out=history_out,
        resume_dir=resume_dir,
    )


# --------------------------------------------------------------------------- fine-tuning


def crop_flip_batch(images, seed, min_crop: float, flip: bool):
    """Random square crops (side in [min_crop, 1] of the image) resized back, and
    random horizontal flips, for a float batch [B, H, W, C]; stateless in ``seed``.

    One ``crop_and_resize`` call: a box whose x coordinates are swapped is a
    mirrored crop.
    """
    import tensorflow as tf

    if min_crop >= 1.0 and not flip:
        return images
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)

    def uniform(s, low, high):
        return tf.random.stateless_uniform([batch], seed=s, minval=low, maxval=high)

    side = uniform(seeds[0], min_crop, 1.0) if min_crop < 1.0 else tf.ones([batch])
    y0 = uniform(seeds[1], 0.0, 1.0) * (1.0 - side)
    x0 = uniform(seeds[2], 0.0, 1.0) * (1.0 - side)
    x1 = x0 + side
    if flip:
        mirror = uniform(seeds[3], 0.0, 1.0) < 0.5
        x0, x1 = tf.where(mirror, x1, x0), tf.where(mirror, x0, x1)
    boxes = tf.stack([y0, x0, y0 + side, x1], axis=1)
    height, width = images.shape[1], images.shape[2]
    return tf.image.crop_and_resize(images, boxes, tf.range(batch), (height, width))


def finetune(
    data_path: str | Path,
    head_path: str | Path,
    settings: Mapping,
    *,
    name: str,
    weights: str | None,
    seed: int,
    threads: int,
    training: Mapping,
    model_out: str | Path,
    history_out: str | Path,
    resume_dir: str | Path | None,
) -> list[dict]:
    """Stage 2 of fine-tuning: ResNet50 + the head trained on its features (stage 1),
    end to end, from stage ``unfreeze`` up, on augmented images."""
    from .. import runtime

    runtime.configure(threads, seed, mixed_precision=training.get("mixed_precision", False))
    import keras
    import tensorflow as tf

    from ..io import load_arrays
    from ..models.resnet import build_backbone, build_finetune_model
    from ..pipeline import eval_dataset, steps_per_epoch, train_dataset
    from ..training import train_and_save

    data = load_arrays(data_path)
    num_classes = len(data["class_names"])
    shape = data["x_train"].shape[1:]
    head = keras.models.load_model(head_path)
    backbone = build_backbone(weights, shape)
    model = build_finetune_model(backbone, head, shape, settings["unfreeze"], name=name)
    batch = settings["batch_size"]
    steps = steps_per_epoch(len(data["x_train"]), batch)
    trainable = sum(int(w.shape.num_elements() or 0) for w in model.trainable_weights)
    log.info("%s: head %s on ResNet50 from %s up: %d of %d parameters trainable, %d steps/epoch",
             name, head_path, settings["unfreeze"], trainable, model.count_params(), steps)
    options = runtime.tf_data_options(threads)
    # One tensor for all epochs (train_dataset would otherwise copy the array each epoch).
    x_train = tf.convert_to_tensor(data["x_train"])
    y_train = data["y_train"]
    aug = settings["augment"]

    def epoch_data(epoch):
        ds = train_dataset(x_train, y_train, num_classes, batch, {}, seed, epoch, options)

        def augment(index, pair):
            x, y = pair
            batch_seed = tf.stack([tf.constant(seed + 17, tf.int64), epoch * 1_000_003 + index])
            return crop_flip_batch(x, batch_seed, aug["min_crop"], aug["horizontal_flip"]), y

        return ds.enumerate().map(augment, deterministic=True).prefetch(1)

    val = eval_dataset(data["x_val"], data["y_val"], num_classes, batch_size=batch, options=options)
    return train_and_save(
        model,
        settings,
        epoch_data,
        val,
        steps_per_epoch=steps,
        name=name,
        seed=seed,
        training=training,
        run_data=(data["x_train"], y_train, *head.get_weights()),
        model_out=model_out,
        history_out=history_out,
        resume_dir=resume_dir,
    )


# --------------------------------------------------------------------------- evaluate


def evaluate(
    model_path: str | Path,
    data_path: str | Path,
    history_path: str | Path,
    *,
    name: str,
    kind: str,
    settings: Mapping,
    threads: int,
    seed: int,
    replicate: int = 0,
    metrics_out: str | Path,
    batch_size: int = 64,
) -> dict:
    """Test metrics of a head (on cached test features) or a fine-tuned model (on images)."""
    from .. import runtime

    runtime.configure(threads, seed)
    import keras

    from ..evaluate import classification_metrics, history_summary
    from ..io import load_arrays, read_history, write_json
    from ..models import resnet  # noqa: F401  (registers CaffePreprocess for loading)
    from ..pipeline import eval_dataset

    data = load_arrays(data_path)
    model = keras.models.load_model(model_path)
    # A loaded model predicts through XLA ("auto"): on a CPU, compiling ResNet50 so
    # took 5x longer and 1.4x the memory of plain graph execution (256 images).
    model.compile(jit_compile=False)
    class_names = data["class_names"]
    ds = eval_dataset(
        data["x_test"], None, len(class_names), batch_size=batch_size,
        options=runtime.tf_data_options(threads),
    )
    probabilities = model.predict(ds, verbose=0)
    test = classification_metrics(probabilities, data["y_test"], class_names)
    history = read_history(history_path)
    metrics = {
        "part": "birds",
        "experiment": name,
        "replicate": replicate,
        "seed": seed,
        "kind": kind,
        "parameters": int(model.count_params()),
        "trainable_parameters": int(sum(int(w.shape.num_elements() or 0)
                                        for w in model.trainable_weights)),
        "test": test,
        **history_summary(history),
        "settings": dict(settings),
        "class_names": class_names,
    }
    if kind == "finetune":
        metrics["head"] = settings["head"]
    write_json(metrics_out, metrics)
    log.info("%s (%s): test accuracy %.4f, top-5 %.4f, loss %.4f",
             name, kind, test["accuracy"], test["top5_accuracy"], test["loss"])
    return metrics
