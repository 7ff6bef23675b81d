"""Loading, validating and resolving the workflow configuration.

The Snakefile validates with Snakemake's own ``validate``; tests and benchmarks
use :func:`load_config`, which applies the same schema with the same defaults.
Everything that can be checked without data is checked here, so a bad config
stops the workflow before the first job.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .models.spec import check_cnn_architecture
from .variants import ConfigError, resolve_variants, select

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
DEFAULT_SCHEMA = REPO / "config" / "config.schema.yaml"

CIFAR_IMAGE_SHAPE = (32, 32, 3)


def load_schema(path: str | Path = DEFAULT_SCHEMA) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


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


#: Classes of each dataset: ``num_classes`` may not ask for more.
DATASET_CLASSES = {"cifar10": 10, "cifar100": 100, "cub200": 200, "cub200_2011": 200}


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _numeric_checksums(value, path=()) -> list[str]:
    """Checksum settings that YAML read as numbers (an unquoted all-digit md5)."""
    found = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = (*path, key)
            if str(key).endswith(("md5", "sha256")) and isinstance(item, (int, float)) and not isinstance(item, bool):
                found.append(_dotted(here))
            else:
                found.extend(_numeric_checksums(item, here))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_numeric_checksums(item, (*path, i)))
    return found


def _schema_message(err: jsonschema.ValidationError) -> str:
    """One line naming the dotted key and the problem."""
    if err.validator == "additionalProperties":
        known = ", ".join(sorted(err.schema.get("properties", {})))
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        where = _dotted(err.absolute_path)
        prefix = f"{where}." if err.absolute_path else ""
        keys = ", ".join(f"{prefix}{k}" for k in extra)
        return f"{keys}: unknown setting" + (f" (known here: {known})" if known else "")
    return f"{_dotted(err.absolute_path)}: {err.message}"


def validate_config(config: dict, schema: Mapping | None = None) -> dict:
    """Validate in place (filling defaults); raise ConfigError naming the problem.

    One short line names the dotted key and what is wrong with it, where a
    schema validator would print the whole schema first.
    """
    schema = schema if schema is not None else load_schema()
    numeric = _numeric_checksums(config)
    if numeric:
        raise ConfigError(
            f"{numeric[0]}: the checksum is a number: YAML reads an unquoted all-digit "
            "checksum as a number (and drops leading zeros); quote it, e.g. md5: \"0123...\""
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
        have, what = DATASET_CLASSES.get(dataset), dataset
        if part == "birds" and section.get("source") == "synthetic":
            have = (section.get("synthetic") or {}).get("num_classes", have)
            what = f"the synthetic {dataset} (birds.synthetic.num_classes)"
        if have is not None and wanted > have:
            raise ConfigError(f"{part}.num_classes: {wanted} classes asked for, but {what} has {have}")


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
            check_cnn_architecture(
                info["settings"]["architecture"], CIFAR_IMAGE_SHAPE, cifar["num_classes"]
            )
        except ValueError as exc:
            raise ConfigError(f"cifar.variants.{name}.architecture: {exc}") from None
    return resolved


def cifar_archive_source(config: Mapping) -> dict[str, Any]:
    """Where the CIFAR archive comes from: ``{"source", "filename", "path", "md5", "urls"}``."""
    cifar = config["cifar"]
    entry = config["datasets"][cifar["dataset"]]
    source = cifar["source"]
    if source == "local":
        if not cifar.get("local_archive"):
            raise ConfigError("cifar.source is 'local' but cifar.local_archive is not set")
        return {
            "source": source,
            "filename": entry["filename"],
            "path": cifar["local_archive"],
            "md5": (cifar.get("local_md5") or entry["md5"]).lower(),
            "urls": [],
        }
    return {
        "source": source,
        "filename": entry["filename"],
        "path": None,
        # A synthetic archive is made by the workflow itself: nothing to check it against.
        "md5": entry["md5"].lower() if source == "download" else None,
        "urls": list(entry["urls"]) if source == "download" else [],
    }
