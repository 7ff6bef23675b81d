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
from .variants import ConfigError, resolve_variants

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


def validate_config(config: dict, schema: Mapping | None = None) -> dict:
    """Validate in place (filling defaults); raise ConfigError naming the first problem."""
    schema = schema if schema is not None else load_schema()
    errors = sorted(
        _validator_with_defaults(schema).iter_errors(config), key=lambda e: list(e.path)
    )
    if errors:
        err = errors[0]
        path = ".".join(str(p) for p in err.path) or "<top level>"
        raise ConfigError(f"config {path}: {err.message}")
    return config


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
