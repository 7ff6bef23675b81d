"""Cumulative variants: each config entry names its base and overrides settings.

The study improves BaseNet step by step, every step kept on top of the last.
The config mirrors that: a variant is a partial mapping plus ``base``; resolving
walks the chain of bases and merges, so a new variant is a config entry, not code.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonschema

from .errors import ConfigError

#: Keys of a variant entry that describe it rather than configure it: changing
#: them must not retrain anything.
META_KEYS = ("base", "description")


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """Merge ``override`` into a copy of ``base``: mappings key by key, anything else replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def lineage(variants: Mapping[str, Mapping], name: str, where: str = "variants") -> list[str]:
    """Names from the root variant down to ``name``; raises on unknown bases and cycles."""
    chain = [name]
    while "base" in variants[chain[-1]]:
        base = variants[chain[-1]]["base"]
        if base not in variants:
            known = ", ".join(variants)
            raise ConfigError(
                f"{where}.{chain[-1]}: base '{base}' is not a variant (known: {known})"
            )
        if base in chain:
            cycle = " -> ".join(chain[chain.index(base) :] + [base])
            raise ConfigError(f"{where}: the bases form a cycle (variant -> its base): {cycle}")
        chain.append(base)
    return list(reversed(chain))


def complete_schema(schema: Mapping) -> dict:
    """A copy of a partial-variant schema in which every declared property is required.

    The same schema therefore checks a config entry (anything may be left to the
    base) and a resolved variant (nothing may be missing).
    """
    strict = copy.deepcopy(dict(schema))
    props = strict.get("properties")
    if props:
        strict["required"] = [k for k in props if k not in META_KEYS]
        strict["properties"] = {k: complete_schema(v) for k, v in props.items()}
    return strict


def resolve_variants(
    variants: Mapping[str, Mapping],
    variant_schema: Mapping | None = None,
    defs: Mapping | None = None,
    where: str = "variants",
) -> dict[str, dict[str, Any]]:
    """Resolve every variant into its full settings, bases first, else in config order.

    Returns ``{name: {"settings": ..., "base": ..., "lineage": [...], "description": ...}}``.
    ``settings`` holds only what training depends on (no ``base``/``description``),
    so it can be handed to Snakemake ``params:`` as is.
    """
    resolved: dict[str, dict[str, Any]] = {}
    validator = None
    if variant_schema is not None:
        strict = complete_schema(variant_schema)
        if defs:
            strict = {**strict, "$defs": _complete_defs(defs)}
        validator = jsonschema.Draft202012Validator(strict)
    chains = {name: lineage(variants, name, where) for name in variants}
    # Bases before the variants built on them, otherwise config order: merged
    # config files (--configfile) do not keep the order of the first file.
    order: list[str] = []
    for name in variants:
        order.extend(step for step in chains[name] if step not in order)
    for name in order:
        chain = chains[name]
        merged: dict = {}
        for step in chain:
            merged = deep_merge(merged, variants[step])
        settings = sorted_keys({k: v for k, v in merged.items() if k not in META_KEYS})
        if validator is not None:
            errors = sorted(validator.iter_errors(settings), key=lambda e: list(e.path))
            if errors:
                err = errors[0]
                path = ".".join(str(p) for p in err.path)
                at = f"{where}.{name}" + (f".{path}" if path else "")
                raise ConfigError(f"{at}: {err.message} (after merging {' -> '.join(chain)})")
        resolved[name] = {
            "settings": settings,
            "base": variants[name].get("base"),
            "lineage": chain,
            "description": variants[name].get("description", ""),
        }
    return resolved


def _complete_defs(defs: Mapping) -> dict:
    return {k: complete_schema(v) for k, v in defs.items()}


def sorted_keys(value):
    """Mappings with sorted keys, recursively.

    Snakemake compares ``params`` including key order, and merging config files
    (--configfile a b) changes the order: without this, a config that merely
    lists the same settings in another order would rerun jobs.
    """
    if isinstance(value, Mapping):
        return {k: sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(v) for v in value]
    return value


def select(resolved: Mapping[str, Mapping], only: list[str] | None, where: str) -> dict[str, dict]:
    """The resolved experiments named in ``only`` (all when None), in config order.

    Every variant is still resolved (a selected one inherits from unselected bases);
    only the selected ones are run and reported.
    """
    if only is None:
        return dict(resolved)
    unknown = [n for n in only if n not in resolved]
    if unknown:
        raise ConfigError(
            f"{where}: {', '.join(unknown)} is not an experiment (known: {', '.join(resolved)})"
        )
    return {n: info for n, info in resolved.items() if n in only}


def descendants(resolved: Mapping[str, Mapping], name: str) -> list[str]:
    """Variants whose lineage passes through ``name`` (``name`` excluded), in config order."""
    return [v for v, info in resolved.items() if name in info["lineage"][:-1]]
