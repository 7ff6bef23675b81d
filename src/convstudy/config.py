"""The workflow configuration: validated, and resolved into what the Snakefile plans.

Everything that can be checked without data is checked here, while the Snakefile
is parsed, so a bad config stops the workflow before the first download or job:
the schema (one short line naming the key), class counts against the dataset, the
experiments of each part (variants resolved through their bases, architectures and
heads that fit), where every archive and the weights come from. Tests and
benchmarks use :func:`load_config`, which applies the same schema with the same
defaults as the Snakefile.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .datasets import DATASETS
from .errors import ConfigError
from .models.spec import check_cnn_architecture, check_head
from .models.weights import WeightsError, check_resnet50_weights
from .runtime import BACKENDS
from .variants import resolve_variants, select, sorted_keys

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
DEFAULT_SCHEMA = REPO / "config" / "config.schema.yaml"

CIFAR_IMAGE_SHAPE = (32, 32, 3)


def load_schema(path: str | Path = DEFAULT_SCHEMA) -> dict:
    """The config's schema, with the backends the workflow runs on (one list of them:
    :data:`convstudy.runtime.BACKENDS`)."""
    with open(path) as fh:
        schema = yaml.safe_load(fh)
    schema["properties"]["training"]["properties"]["backend"]["enum"] = list(BACKENDS)
    return schema


def _validator_with_defaults(schema: Mapping):
    """A validator that fills ``default`` values, as Snakemake's ``validate`` does."""
    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        for prop, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    cls = jsonschema.validators.extend(base, {"properties": set_defaults})
    return cls(schema)


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _numeric_checksums(value, path=()) -> list[str]:
    """Checksum settings that YAML read as numbers (an unquoted all-digit md5)."""
    found = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = (*path, key)
            if (
                str(key).endswith(("md5", "sha256"))
                and isinstance(item, (int, float))
                and not isinstance(item, bool)
            ):
                found.append(_dotted(here))
            else:
                found.extend(_numeric_checksums(item, here))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_numeric_checksums(item, (*path, i)))
    return found


def _expected(schema: Mapping) -> str:
    """What a (sub)schema accepts, in words: "null", "a list of strings"..."""
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {}).get("type")
        return f"a list of {items}s" if items else "a list"
    return {"null": "null", "object": "a mapping"}.get(kind, f"a {kind}" if kind else "a value")


def _schema_message(err: jsonschema.ValidationError) -> str:
    """One line naming the dotted key and the problem."""
    if err.validator in ("oneOf", "anyOf"):
        options = [_expected(sub) for sub in err.validator_value]
        hint = ""
        if isinstance(err.instance, str) and any(o.startswith("a list") for o in options):
            hint = f" (a list is written [{err.instance}])"
        return (
            f"{_dotted(err.absolute_path)}: {err.instance!r} is not " + " or ".join(options) + hint
        )
    if err.validator == "additionalProperties":
        known = ", ".join(sorted(err.schema.get("properties", {})))
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        where = _dotted(err.absolute_path)
        prefix = f"{where}." if err.absolute_path else ""
        keys = ", ".join(f"{prefix}{k}" for k in extra)
        return f"{keys}: unknown setting" + (f" (known here: {known})" if known else "")
    return f"{_dotted(err.absolute_path)}: {err.message}"


def _resolve(schema: Mapping, root: Mapping) -> Mapping:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _takes_string(schema: Mapping, root: Mapping) -> bool:
    schema = _resolve(schema, root)
    if "enum" in schema:
        return any(isinstance(v, str) for v in schema["enum"])
    options = schema.get("oneOf") or schema.get("anyOf")
    if options:
        return any(_takes_string(sub, root) for sub in options)
    kind = schema.get("type")
    return kind is None or kind == "string" or (isinstance(kind, list) and "string" in kind)


def coerce_strings(value, schema: Mapping, root: Mapping | None = None):
    """``value`` with every string that stands where the schema takes no string read
    as YAML: Snakemake's ``--config`` reads nested values as strings
    (``--config cifar='{enabled: false}'`` gives ``"false"``), as typed they mean
    ``false``."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if isinstance(value, str) and not _takes_string(schema, root):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        extra = extra if isinstance(extra, Mapping) else {}
        return {k: coerce_strings(v, props.get(k, extra), root) for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [coerce_strings(v, schema["items"], root) for v in value]
    return value


#: Settings that were renamed: {(section, old key): the new setting, as a user writes it}.
RENAMED = {
    ("cifar", "local_archive"): "cifar.local_archives: {archive: PATH}",
    ("cifar", "local_md5"): "cifar.local_checksums: {archive: {md5: MD5}}",
}


def check_renamed(config: Mapping) -> None:
    """A setting given under its old name: one line with the new one."""
    for (section, key), new in RENAMED.items():
        if (config.get(section) or {}).get(key) is not None:
            raise ConfigError(f"{section}.{key}: renamed; write {new}")


def validate_config(config: dict, schema: Mapping | None = None) -> dict:
    """Validate in place (filling defaults); raise ConfigError naming the problem.

    One short line names the dotted key and what is wrong with it, where a
    schema validator would print the whole schema first. Values given as strings
    on the command line are read as what the schema expects first.
    """
    schema = schema if schema is not None else load_schema()
    check_renamed(config)
    coerced = coerce_strings(config, schema)
    config.clear()
    config.update(coerced)
    numeric = _numeric_checksums(config)
    if numeric:
        raise ConfigError(
            f"{numeric[0]}: the checksum is a number: YAML reads an unquoted all-digit "
            'checksum as a number (and drops leading zeros); quote it, e.g. md5: "0123..."'
        )
    error = jsonschema.exceptions.best_match(_validator_with_defaults(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(_schema_message(error))
    check_class_counts(config)
    return config


def check_class_counts(config: Mapping) -> None:
    """``num_classes`` must not exceed what the chosen dataset (or synthetic stand-in) has:
    caught here, not after a download in the data preparation."""
    for part in ("cifar", "birds"):
        section = config.get(part) or {}
        wanted = section.get("num_classes")
        if not section.get("enabled", True) or wanted is None:
            continue
        dataset = section.get("dataset")
        have, what = DATASETS[dataset].classes if dataset in DATASETS else None, dataset
        if part == "birds" and section.get("source") == "synthetic":
            have = (section.get("synthetic") or {}).get("num_classes", have)
            what = f"the synthetic {dataset} (birds.synthetic.num_classes)"
        if have is not None and wanted > have:
            raise ConfigError(
                f"{part}.num_classes: {wanted} classes asked for, but {what} has {have}"
            )


def _shown(path: str) -> str:
    """A path as the user most likely typed it: relative to here when it lies below."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (plain YAML keeps the last
    and silently drops the first, a whole block of settings at the top level)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"{_shown(self.name)}, line {key_node.start_mark.line + 1}: {key} is given "
                    f"twice in the same mapping (also line {seen[key] + 1}); YAML would keep "
                    "only the last: merge the two"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def check_config_files(paths) -> None:
    """Re-read the config files Snakemake merged, strictly: a key given twice is an error."""
    for path in paths:
        with open(path) as fh:
            yaml.load(fh, Loader=_StrictLoader)


def check_results_dir(results: str) -> None:
    """``results_dir`` must be (or be creatable as) a writable folder: said now, in one
    line, rather than by a traceback while the jobs are planned."""
    path = Path(results).absolute()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"results_dir: {results} is a file, not a folder")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(
            f"results_dir: {results} cannot be created: {existing} is a file, not a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"results_dir: {results} cannot be written: {existing} is read-only")


def load_config(
    path: str | Path = DEFAULT_CONFIG,
    overrides: Mapping | None = None,
    schema_path: str | Path = DEFAULT_SCHEMA,
) -> dict:
    """Read, merge ``overrides`` (as Snakemake's ``--config`` would), validate."""
    from .variants import deep_merge

    with open(path) as fh:
        config = yaml.safe_load(fh)
    if overrides:
        config = deep_merge(config, overrides)
    return validate_config(config, load_schema(schema_path))


# ------------------------------------------------------------------ experiments


def cifar_variants(config: Mapping, schema: Mapping | None = None) -> dict[str, dict[str, Any]]:
    """Resolve ``cifar.variants`` and check each architecture fits the images."""
    schema = schema if schema is not None else load_schema()
    cifar = config["cifar"]
    resolved = resolve_variants(
        cifar["variants"],
        schema["$defs"]["cifar_variant"],
        defs=schema["$defs"],
        where="cifar.variants",
    )
    resolved = select(resolved, cifar.get("only"), "cifar.only")
    for name, info in resolved.items():
        try:
            shape = check_cnn_architecture(
                info["settings"]["architecture"], CIFAR_IMAGE_SHAPE, cifar["num_classes"]
            )
            # Its size: how many threads its jobs ask for and how soon they start.
            info["macs"] = shape["macs"]
        except ValueError as exc:
            raise ConfigError(f"cifar.variants.{name}.architecture: {exc}") from None
    return resolved


def birds_experiments(config: Mapping, schema: Mapping | None = None) -> dict[str, dict[str, Any]]:
    """Heads then fine-tuning variants, resolved: ``{name: {settings, base, lineage,
    description, kind}}`` in report order. Raises ConfigError on anything that
    cannot work (unknown head, name used twice, head that does not fit)."""
    schema = schema if schema is not None else load_schema()
    birds = config["birds"]
    defs = schema["$defs"]
    heads = resolve_variants(birds["heads"], defs["birds_head"], defs=defs, where="birds.heads")
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
    heads_all, finetunes_all = list(heads), list(finetunes)
    heads = select(heads, None if only is None else [n for n in only if n in heads], "birds.only")
    finetunes = select(
        finetunes, None if only is None else [n for n in only if n in finetunes], "birds.only"
    )
    if only is not None:
        unknown = [n for n in only if n not in heads and n not in finetunes]
        if unknown:
            known = ", ".join([*heads_all, *finetunes_all])
            raise ConfigError(
                f"birds.only: {', '.join(unknown)} is not a head or fine-tuning variant "
                f"(known: {known})"
            )
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


def needs_spatial(config: Mapping, schema: Mapping | None = None) -> bool:
    """Whether some configured head trains on the spatial maps (else only pooled features
    are cached). Every configured head counts, selected by ``birds.only`` or not: the
    feature cache depends on the configuration, and selecting experiments must not
    remake it (and retrain every head)."""
    everything = {**config, "birds": {**config["birds"], "only": None}}
    return any(
        e["kind"] == "head" and e["settings"]["features"] == "spatial"
        for e in birds_experiments(everything, schema).values()
    )


# ------------------------------------------------------------------ inputs

#: The catalogue entry of the weights behind ``birds.weights: imagenet``.
IMAGENET_WEIGHTS = "resnet50_imagenet"


def archive_sources(config: Mapping, part: str) -> dict[str, dict[str, Any]]:
    """Where each archive of a part's dataset comes from, by role:
    ``{role: {"source", "filename", "path", "md5", "sha256", "checksum_setting", "urls"}}``.

    ``path`` is the file the workflow reads: the user's (``local``), the one the
    workflow writes (``synthetic``) or downloads (``download``) under ``results_dir``.
    Checksums are those to verify: the catalogue's, the user's own for a local
    archive, none for the workflow's own synthetic archives.
    """
    section = config[part]
    dataset, source = section["dataset"], section["source"]
    results = config["results_dir"].rstrip("/")
    local = section.get("local_archives") or {}
    own_sums = section.get("local_checksums") or {}
    roles = DATASETS[dataset].archives
    out = {}
    for role, key in roles.items():
        if key not in config["datasets"]:
            raise ConfigError(f"datasets.{key}: missing catalogue entry for {dataset} {role}")
        entry = config["datasets"][key]
        filename = entry["filename"]
        sums = {"md5": entry.get("md5"), "sha256": entry.get("sha256")}
        # The key that holds the checksum a file is checked against, named on a mismatch.
        sum_setting = f"datasets.{key}.{'md5' if sums['md5'] else 'sha256'}"
        urls: list[str] = []
        if source == "local":
            if not local.get(role):
                raise ConfigError(
                    f"{part}.source is 'local' but {part}.local_archives.{role} is not set "
                    f"({dataset} needs: {', '.join(roles)})"
                )
            path = local[role]
            sum_setting = f"{part}.local_checksums.{role}"
            if own_sums.get(role):
                sums = {"md5": own_sums[role].get("md5"), "sha256": own_sums[role].get("sha256")}
        elif source == "synthetic":
            path = f"{results}/{part}/synthetic/{filename}"
            sums = {"md5": None, "sha256": None}
            sum_setting = None
        else:
            path = f"{results}/downloads/{filename}"
            urls = list(entry["urls"])
        out[role] = {
            "source": source,
            "filename": filename,
            "path": path,
            "md5": sums["md5"].lower() if sums["md5"] else None,
            "sha256": sums["sha256"].lower() if sums["sha256"] else None,
            "checksum_setting": sum_setting,
            "urls": urls,
        }
    return out


def birds_weights(config: Mapping) -> dict[str, Any]:
    """Where the ResNet50 weights come from: ``{"kind", "path"}``.

    ``imagenet``: the catalogue's file, downloaded by the workflow into
    ``downloads/`` (``path`` is that file); a path: the user's file, checked now;
    ``none``: random weights (``path`` None).
    """
    weights = config["birds"]["weights"]
    if weights in (None, "none"):
        return {"kind": "none", "path": None}
    if weights == "imagenet":
        if IMAGENET_WEIGHTS not in config["datasets"]:
            raise ConfigError(
                f"datasets.{IMAGENET_WEIGHTS}: missing catalogue entry for birds.weights: imagenet"
            )
        filename = config["datasets"][IMAGENET_WEIGHTS]["filename"]
        return {
            "kind": "imagenet",
            "path": f"{config['results_dir'].rstrip('/')}/downloads/{filename}",
        }
    try:
        check_resnet50_weights(weights, "birds.weights")
    except WeightsError as exc:
        raise ConfigError(str(exc)) from None
    return {"kind": "file", "path": weights}
