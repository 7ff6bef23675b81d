"""config/README.md, the catalogue of every setting, written from the schema.

Every setting's description lives once, in ``config/config.schema.yaml``; this
module turns the schema (and the defaults of ``config/config.yaml``) into the
Markdown catalogue, and a test checks that the file in the repository is what
it writes, so the two cannot drift. Regenerate after editing the schema:

    python -m convstudy.configdoc > config/README.md
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from .config import DEFAULT_CONFIG, DEFAULT_SCHEMA, load_schema

HEADER = """\
# Configuration

`config/config.yaml` holds every setting of the workflow, with comments; the
workflow checks it against `config/config.schema.yaml` (and what a schema cannot
check: class counts, weights files, variant bases, architectures) before any
download or job, and stops with one line naming a wrong setting. Override settings
with a file of your own (`snakemake --configfile config/demo.yaml mine.yaml`: files
merge key by key, later ones win) or on the command line for top-level and simple
values (`--config replicates=5`).

This catalogue is written from the schema's descriptions by
`python -m convstudy.configdoc > config/README.md` (a test checks that it is
current). "Default" is the value in `config/config.yaml`, else the schema's default.
"""

#: Sections written for a mapping of named entries (``<name>``), with the $def of an entry.
NAMED = {
    "datasets": "archive_source",
    "cifar.variants": "cifar_variant",
    "birds.heads": "birds_head",
    "birds.finetune": "birds_finetune",
}
#: What the entries of a named mapping are.
NAMED_INTRO = {
    "datasets": "A catalogue of downloads (dataset archives, pretrained weights): one entry per file.",
    "cifar.variants": (
        "A CIFAR variant: `base` names the variant it builds on; every other setting "
        "overrides the base's (mappings merge key by key, lists and values replace). A "
        "variant without `base` must set everything; after merging, every setting must be set."
    ),
    "birds.heads": (
        "A classifier head on the cached ResNet50 features; `base` and merging as for "
        "the CIFAR variants."
    ),
    "birds.finetune": (
        "A fine-tuning variant: ResNet50 with a trained head, end to end from the stage "
        "`unfreeze`; `base` and merging as for the CIFAR variants."
    ),
}


def resolve(schema: Mapping, node: Mapping) -> Mapping:
    """``node`` with its ``$ref`` (one level, into ``$defs``) merged in."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema["$defs"][ref.rsplit("/", 1)[-1]]
    return {**resolve(schema, target), **{k: v for k, v in node.items() if k != "$ref"}}


def _kind(schema: Mapping, node: Mapping) -> str:
    """Allowed values of a setting in a few words."""
    node = resolve(schema, node)
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(_kind(schema, alt) for alt in node.get("oneOf", node.get("anyOf")))
    kind = node.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    kind = {"null": "null", "number": "number", "integer": "integer", "array": "list"}.get(
        kind, kind
    )
    if kind == "list" and "items" in node:
        kind = f"list of {_kind(schema, node['items'])}"
    bounds = []
    for key, sign in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            bounds.append(f"{sign} {node[key]}")
    if "pattern" in node and node.get("type") == "string":
        bounds.append("hex" if "0-9a-fA-F" in node["pattern"] else f"matching `{node['pattern']}`")
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _value(value: Any) -> str:
    if value is None:
        return "`null`"
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    text = text.removesuffix("...").strip()
    return f"`{text}`" if len(text) <= 60 else "(see config.yaml)"


def _description(node: Mapping) -> str:
    return " ".join(str(node.get("description", "")).split())


def _at(config: Mapping | None, key: str):
    return config.get(key, _MISSING) if isinstance(config, Mapping) else _MISSING


_MISSING = object()


def _section(schema, path: str, node: Mapping, config) -> Iterator[tuple[str, str, list]]:
    """(path, intro, rows) of ``node`` and of its nested objects, depth first."""
    node = resolve(schema, node)
    rows, nested = [], []
    for key, prop in node.get("properties", {}).items():
        full = f"{path}.{key}" if path else key
        prop_r = resolve(schema, prop)
        here = _at(config, key)
        if full in NAMED:
            rows.append((key, "mapping of `<name>`: entries (below)", "", _description(prop_r)))
            nested.append((f"{full}.<name>", schema["$defs"][NAMED[full]], None))
            continue
        if "properties" in prop_r and prop_r.get("type") == "object":
            rows.append((key, "mapping (below)", "", _description(prop_r)))
            nested.append((full, prop_r, here if here is not _MISSING else None))
            continue
        default = here if here is not _MISSING else prop_r.get("default", _MISSING)
        rows.append(
            (
                key,
                _kind(schema, prop),
                "" if default is _MISSING else _value(default),
                _description(prop_r),
            )
        )
    yield path, NAMED_INTRO.get(path.removesuffix(".<name>"), _description(node)), rows
    for full, child, child_config in nested:
        yield from _section(schema, full, child, child_config)


def undocumented(schema: Mapping, node: Mapping | None = None, path: str = "") -> list[str]:
    """Settings of the schema without a description (the catalogue would say nothing)."""
    node = resolve(schema, node if node is not None else schema)
    missing = []
    for key, prop in node.get("properties", {}).items():
        full = f"{path}.{key}" if path else key
        prop_r = resolve(schema, prop)
        if not _description(prop_r) and full not in NAMED:
            missing.append(full)
        if full in NAMED:
            missing += undocumented(schema, schema["$defs"][NAMED[full]], f"{full}.<name>")
        elif "properties" in prop_r:
            missing += undocumented(schema, prop_r, full)
    return missing


def catalogue(schema: Mapping | None = None, config: Mapping | None = None) -> str:
    """The Markdown of config/README.md."""
    schema = schema if schema is not None else load_schema(DEFAULT_SCHEMA)
    if config is None:
        with open(DEFAULT_CONFIG) as fh:
            config = yaml.safe_load(fh)
    out = [HEADER]
    for path, intro, rows in _section(schema, "", schema, config):
        title = f"`{path}`" if path else "Top level"
        out.append(f"\n## {title}\n")
        if intro:
            out.append(f"\n{intro}\n")
        out.append("\n| setting | allowed | default | what it does |\n| --- | --- | --- | --- |\n")
        for key, kind, default, text in rows:
            out.append(f"| `{key}` | {kind} | {default} | {text} |\n")
    return "".join(out)


if __name__ == "__main__":
    sys.stdout.write(catalogue())
