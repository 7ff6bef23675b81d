"""config/README.md is the catalogue the schema writes: every setting, described once."""

from __future__ import annotations

import copy

from conftest import REPO
from convstudy import configdoc
from convstudy.config import load_schema


def test_config_readme_is_current():
    """Regenerate with `python -m convstudy.configdoc > config/README.md`."""
    assert (REPO / "config" / "README.md").read_text() == configdoc.catalogue()


def test_every_setting_is_described():
    assert configdoc.undocumented(load_schema()) == []


def test_the_catalogue_follows_the_schema():
    schema = copy.deepcopy(load_schema())
    prop = schema["properties"]["training"]["properties"]["jit_compile"]
    del prop["description"]
    assert configdoc.undocumented(schema) == ["training.jit_compile"]
    prop["description"] = "A new sentence."
    schema["$defs"]["optimizer"]["properties"]["nesterov"]["description"] = "Look ahead."
    text = configdoc.catalogue(schema)
    assert "| `jit_compile` | boolean | `false` | A new sentence. |" in text
    # A shared definition shows up wherever it is used.
    assert text.count("| `nesterov` | boolean |  | Look ahead. |") == 3
