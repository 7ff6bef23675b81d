"""Each mistake a user can make gets one line naming the setting or file, the problem
and the fix, before any job where the config alone shows it."""

from __future__ import annotations

import zipfile

import pytest

from conftest import snakemake
from convstudy.config import check_config_files, coerce_strings, load_config, load_schema
from convstudy.errors import ConfigError


def test_a_key_given_twice_in_a_config_file_is_named(tmp_path):
    config = tmp_path / "twice.yaml"
    config.write_text("cifar:\n  enabled: false\nseed: 1\ncifar:\n  num_classes: 10\n")
    with pytest.raises(ConfigError) as err:
        check_config_files([config])
    assert str(err.value) == (
        f"{config}, line 4: cifar is given twice in the same mapping (also line 1); "
        "YAML would keep only the last: merge the two"
    )
    # Nested mappings too.
    config.write_text("training:\n  backend: jax\n  backend: tensorflow\n")
    with pytest.raises(ConfigError, match="line 3: backend is given twice"):
        check_config_files([config])


def test_a_key_given_twice_stops_the_workflow_before_any_job(workflow):
    (workflow / "twice.yaml").write_text("replicates: 2\nresults_dir: results/a\nreplicates: 3\n")
    proc = snakemake(workflow, "-n", "--configfile", "config/demo.yaml", "twice.yaml", check=False)
    assert proc.returncode != 0
    first = "\n".join((proc.stdout + proc.stderr).splitlines()[:6])
    assert "invalid configuration: twice.yaml, line 3: replicates is given twice" in first, first
    assert not (workflow / "results").exists()


def test_command_line_values_are_read_as_typed():
    """`--config cifar='{enabled: false}'` hands the workflow strings; they mean what
    they say where the schema takes no string, and stay strings where it does."""
    schema = load_schema()
    given = {
        "cifar": {"enabled": "false", "num_classes": "10", "only": ["basenet"]},
        "birds": {"num_classes": "null", "dataset": "cub200"},
        "datasets": {"cifar10": {"md5": "0123", "filename": "f", "urls": ["u"]}},
    }
    coerced = coerce_strings(given, schema)
    assert coerced["cifar"] == {"enabled": False, "num_classes": 10, "only": ["basenet"]}
    assert coerced["birds"] == {"num_classes": None, "dataset": "cub200"}
    assert coerced["datasets"]["cifar10"]["md5"] == "0123"
    config = load_config(overrides={"cifar": {"enabled": "false"}, "replicates": 3})
    assert config["cifar"]["enabled"] is False


def test_an_empty_only_runs_nothing_of_the_part():
    from convstudy.config import cifar_variants

    config = load_config(overrides={"cifar": {"only": []}})
    assert cifar_variants(config) == {}


def test_a_truncated_model_names_the_file_and_the_fix(tmp_path):
    from convstudy.models import load_model

    bad = tmp_path / "model.keras"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("config.json", "{}" * 1000)
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(ValueError) as err:
        load_model(bad)
    message = str(err.value)
    assert message.startswith(f"{bad}: not a readable Keras model (truncated or damaged: ")
    assert message.endswith("delete it and run the workflow again to remake it")


def test_an_undecodable_image_is_named_not_its_buffer():
    from convstudy.data.birds import BadImageError, decode_image

    with pytest.raises(BadImageError) as err:
        decode_image(b"not a jpeg", (8, 8), "images.tgz:001.Bird/x.jpg")
    message = str(err.value)
    assert message.startswith("images.tgz:001.Bird/x.jpg: cannot decode image (")
    assert "BytesIO" not in message and "0x" not in message, message
