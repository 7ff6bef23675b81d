# Settings and input functions of the birds rules (rules/birds.smk).

BIRDS = f"{RESULTS}/birds"
BIRDS_CFG = config["birds"]
BIRDS_HEADS = [n for n, e in BIRDS_EXPERIMENTS.items() if e["kind"] == "head"]
BIRDS_FINETUNES = [n for n, e in BIRDS_EXPERIMENTS.items() if e["kind"] == "finetune"]
BIRDS_SPATIAL = needs_spatial(BIRDS_EXPERIMENTS)


def birds_weights_input():
    """``{"weights": file}`` for the jobs that run ResNet50, or nothing for random
    weights. ImageNet weights come from the download rule, so no job (on a compute
    node, often without internet) downloads anything; replacing the file reruns them."""
    if BIRDS_WEIGHTS["kind"] == "none":
        return {}
    if BIRDS_WEIGHTS["kind"] == "imagenet":
        return {"weights": f"{RESULTS}/downloads/{BIRDS_WEIGHTS['path']}"}
    return {"weights": BIRDS_WEIGHTS["path"]}


def _alternatives(names):
    # An empty alternation would match the empty name: match nothing instead.
    return "|".join(map(re.escape, names)) or "(?!x)x"


def birds_archive_inputs():
    """The dataset's archives by role: local files, generated ones, or downloads."""
    paths = {}
    for role, info in BIRDS_ARCHIVES.items():
        if info["source"] == "local":
            paths[role] = info["path"]
        elif info["source"] == "synthetic":
            paths[role] = f"{BIRDS}/synthetic/{info['filename']}"
        else:
            paths[role] = f"{RESULTS}/downloads/{info['filename']}"
    return paths


def birds_targets():
    if not BIRDS_ENABLED:
        return []
    return expand(
        f"{BIRDS}/{{experiment}}/rep{{rep}}/{{file}}",
        experiment=BIRDS_EXPERIMENTS,
        rep=REPLICATES,
        file=["model.keras", "history.csv", "metrics.json", "curves.png"],
    )


def birds_settings(wildcards):
    name = getattr(wildcards, "birds_head", None) or getattr(
        wildcards, "birds_finetune", None
    )
    return BIRDS_EXPERIMENTS[name or wildcards.birds_experiment]["settings"]


def birds_finetune_head(wildcards):
    """Replicate k of a fine-tuning variant starts from replicate k of its head."""
    head = BIRDS_EXPERIMENTS[wildcards.birds_finetune]["settings"]["head"]
    return f"{BIRDS}/{head}/rep{wildcards.rep}/model.keras"


def birds_head_features(wildcards):
    kind = BIRDS_EXPERIMENTS[wildcards.birds_head]["settings"]["features"]
    return f"{BIRDS}/features/{kind}.npz"


def birds_eval_data(wildcards):
    """Heads are tested on cached test features, fine-tuned models on test images."""
    info = BIRDS_EXPERIMENTS[wildcards.birds_experiment]
    if info["kind"] == "head":
        return f"{BIRDS}/features/{info['settings']['features']}.npz"
    return f"{BIRDS}/data.npz"


def birds_image_mb():
    """Memory of the decoded image arrays, from the configured size and dataset."""
    images = 11788 if BIRDS_CFG["dataset"] == "cub200_2011" else 6033
    if BIRDS_CFG["source"] == "synthetic":
        syn = BIRDS_CFG["synthetic"]
        images = syn["num_classes"] * (syn["train_per_class"] + syn["test_per_class"])
    return int(images * BIRDS_CFG["image_size"] ** 2 * 3 / 1e6)
