"""No compute job touches the network: ImageNet weights are a download of the
workflow (a local rule, verified by checksum), the jobs take the file, and the
demo runs with the network closed (tests/jobhooks)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import harness_env, job_records, snakemake

RESULTS = "results/demo"


def test_the_harness_closes_the_network_and_records_it(tmp_path):
    """The check below cannot pass by accident: a download under the harness fails
    and is recorded."""
    code = (
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('http://example.org/weights.h5', timeout=5)\n"
        "except OSError as exc:\n"
        "    print('refused:', exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**harness_env(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "blocked by the test harness" in proc.stdout, proc.stdout + proc.stderr
    (record,) = job_records(tmp_path)
    assert record["rule"] is None and "example.org" in record["network"][0]


@pytest.mark.slow
def test_no_job_of_the_demo_uses_the_network(demo_jobs):
    assert demo_jobs, "the demo's jobs recorded nothing: is the harness loaded?"
    for job in demo_jobs:
        assert not job["network"], job


def test_keras_is_never_asked_to_download():
    from convstudy.models.resnet import resolve_weights

    with pytest.raises(ValueError, match="no job needs the network"):
        resolve_weights("imagenet")
    assert resolve_weights("none") is None and resolve_weights(None) is None


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    """ResNet50 without its top, random weights, in Keras' weights-file layout."""
    import keras

    path = tmp_path_factory.mktemp("weights") / "resnet50_random.weights.h5"
    keras.applications.ResNet50(weights=None, include_top=False).save_weights(path)
    return path


def test_wrong_weights_files_are_named_with_the_setting(tmp_path, random_weights):
    import h5py

    from convstudy.models.weights import WeightsError, check_resnet50_weights

    assert check_resnet50_weights(random_weights) == random_weights
    text = tmp_path / "weights.h5"
    text.write_text("<html>moved</html>")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["layer_names"] = [b"dense", b"conv1_conv"]
    top = tmp_path / "top.h5"
    with h5py.File(top, "w") as f:
        f.attrs["layer_names"] = [b"conv1_conv", b"conv5_block3_3_conv", b"predictions"]
    cases = {
        tmp_path / "missing.h5": "no such file",
        text: "not an HDF5 file",
        other: "not ResNet50 weights",
        top: "with the top",
    }
    for path, problem in cases.items():
        with pytest.raises(WeightsError, match=problem) as err:
            check_resnet50_weights(path)
        assert str(err.value).startswith(f"birds.weights: {path}: ")


def test_a_wrong_weights_file_stops_the_workflow_before_any_job(workflow, tmp_path):
    bad = tmp_path / "resnet50.h5"
    bad.write_bytes(b"\0" * 2048)
    (workflow / "config" / "bad.yaml").write_text(f"birds:\n  weights: {bad}\n")
    proc = snakemake(
        workflow, "-n", "--configfile", "config/demo.yaml", "config/bad.yaml", check=False
    )
    assert proc.returncode != 0
    assert (
        f"invalid configuration: birds.weights: {bad}: not an HDF5 file"
        in proc.stdout + proc.stderr
    )


@pytest.mark.slow
def test_imagenet_weights_are_downloaded_by_the_workflow_not_by_jobs(done, random_weights):
    """`weights: imagenet` makes the weights a download (here of a local file:// URL
    standing in for Keras' server); feature extraction and fine-tuning run with the
    network closed and take the downloaded file."""
    md5 = hashlib.md5(random_weights.read_bytes()).hexdigest()
    override = {
        "birds": {"weights": "imagenet"},
        "datasets": {
            "resnet50_imagenet": {
                "filename": random_weights.name,
                "urls": [random_weights.as_uri()],
                "md5": md5,
            }
        },
    }
    (done / "config" / "imagenet.yaml").write_text(yaml.safe_dump(override))
    record = done.parent / "jobs"
    target = f"{RESULTS}/birds/finetune_top/rep0/metrics.json"
    args = ("--cores", "2", "--configfile", "config/demo.yaml", "config/imagenet.yaml")
    snakemake(done, target, *args, env=harness_env(record))

    downloaded = done / RESULTS / "downloads" / random_weights.name
    assert hashlib.md5(downloaded.read_bytes()).hexdigest() == md5
    jobs = job_records(record)
    assert {"download_archive", "extract_birds_features", "finetune_birds"} <= {
        j["rule"] for j in jobs
    }
    assert all(not job["network"] for job in jobs), jobs
    log = (done / RESULTS / "logs" / "birds" / "features.log").read_text()
    assert f"ResNet50 (weights: {RESULTS}/downloads/{random_weights.name})" in log
    metrics = json.loads((done / target).read_text())
    assert metrics["kind"] == "finetune"

    # A download is defined by its URLs and checksum, not by code: an edit to the
    # download code fetches nothing again (and so reruns nothing downstream).
    archives = done / "src" / "convstudy" / "data" / "archives.py"
    source = archives.read_text()
    assert source.count("    problems = []\n") == 1
    archives.write_text(source.replace("    problems = []\n", "    problems: list = []\n"))
    plan = snakemake(done, target, "-n", *args[2:])
    assert "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-3000:]
