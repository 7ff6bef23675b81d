"""A user's first hour: one part by name, switches typed on the command line, results
that record what made them, the workflow used as a Snakemake module, only some
experiments, and the repository's own hygiene (no development paths, live links)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, snakemake

DEMO = ("--configfile", "config/demo.yaml")
RESULTS = "results/demo"


def planned_rules(workdir: Path, *args: str) -> set[str]:
    proc = snakemake(workdir, "-n", *args, *DEMO)
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M))


CIFAR_RULES = {"synthetic_cifar", "prepare_cifar", "train_cifar", "evaluate_cifar"}
BIRDS_RULES = {"synthetic_birds", "prepare_birds", "extract_birds_features", "train_birds_head"}


def test_one_part_by_name(workflow):
    cifar = planned_rules(workflow, "cifar")
    assert cifar >= CIFAR_RULES and not BIRDS_RULES & cifar and "report" not in cifar
    birds = planned_rules(workflow, "birds")
    assert birds >= BIRDS_RULES and not CIFAR_RULES & birds and "report" not in birds


def test_a_part_switched_off_on_the_command_line(workflow):
    rules = planned_rules(workflow, "--config", "cifar={enabled: false}")
    assert rules >= BIRDS_RULES and not CIFAR_RULES & rules and "report" in rules


def test_only_some_experiments(workflow):
    """`cifar.only`: only the named variants run (their bases' settings still apply);
    an unknown name is listed with the known ones."""
    proc = snakemake(workflow, "-n", *DEMO, "--config", "cifar={only: [augmented]}")
    out = proc.stdout + proc.stderr
    trained = set(re.findall(r"rule train_cifar:\n(?:    .*\n)*?    wildcards: variant=(\w+)", out))
    assert trained == {"augmented"}
    bad = snakemake(workflow, "-n", *DEMO, "--config", "birds={only: [nosuch]}", check=False)
    assert bad.returncode != 0
    assert "birds.only: nosuch is not a head or fine-tuning variant (known: linear" in (
        bad.stdout + bad.stderr
    )


@pytest.mark.slow
def test_only_runs_and_reports_just_the_named_experiments(done):
    """A finished demo narrowed to two variants: nothing is trained again, and the
    report, rendered anew, shows those two and says it covers a selection."""
    args = ("--config", "cifar={only: [basenet, normalized]}", "birds={only: [linear, mlp]}")
    rules = planned_rules(done, *args)
    assert rules <= {"report", "report_figure", "report_pdf", "all"}, rules
    snakemake(done, "--cores", "2", *DEMO, *args)
    md = (done / RESULTS / "report" / "report.md").read_text()
    assert "run: 2 variants of 7 (selected with cifar.only)" in md
    assert "run: 2 experiments of 5 (selected with birds.only)" in md
    steps = [line for line in md.splitlines() if line.startswith("| normalized | basenet |")]
    assert len(steps) == 1 and "augmented" not in md.split("## Birds")[0].split("### Results")[1]


@pytest.mark.slow
def test_results_record_what_made_them(demo_run):
    """Every metrics.json names the software, the workflow's commit, the code digest,
    the machine and the times of its training and evaluation jobs; summary.csv gets
    the commit; the report lists them."""
    metrics = json.loads((demo_run / RESULTS / "cifar/basenet/rep0/metrics.json").read_text())
    for job in ("training", "evaluation"):
        found = metrics["provenance"][job]
        for key in ("python", "keras", "tensorflow", "numpy", "commit", "dirty", "code"):
            assert key in found, (job, key)
        for key in ("cpu", "threads", "started", "finished"):
            assert found[key], (job, key)
        assert found["started"] <= found["finished"]
    record = json.loads(
        (demo_run / RESULTS / "records/train_cifar/variant=basenet,rep=0.json").read_text()
    )
    assert metrics["provenance"]["training"]["code"] == record["params"]["code"]
    summary = (demo_run / RESULTS / "report/summary.csv").read_text().splitlines()
    assert summary[0].split(",")[-1] == "commit"
    md = (demo_run / RESULTS / "report/report.md").read_text()
    section = md.split("## Software and hardware", 1)[1]
    assert "- Keras: " in section and "- CPU: " in section and "- Workflow commit: " in section


@pytest.mark.slow
def test_the_workflow_runs_as_a_snakemake_module(tmp_path):
    """Another Snakefile uses the workflow as snakedeploy deploys it (`module` with
    `use rule *`), and runs the demo's CIFAR part."""
    main = tmp_path / "deployed"
    main.mkdir()
    (main / "Snakefile").write_text(
        f'configfile: "{REPO}/config/config.yaml"\n\n\n'
        f'module convstudy:\n    snakefile:\n        "{REPO}/Snakefile"\n'
        "    config:\n        config\n\n\nuse rule * from convstudy\n"
    )
    args = (
        "--configfile",
        str(REPO / "config" / "demo.yaml"),
        "--config",
        "replicates=1",
        "cifar={only: [basenet, normalized]}",
        "report={pdf: never}",
    )
    snakemake(main, "--cores", "2", "cifar", *args)
    out = main / RESULTS / "cifar"
    for name in ("basenet", "normalized"):
        assert json.loads((out / name / "rep0" / "metrics.json").read_text())["epochs"] == 2
    assert (main / RESULTS / "report" / "figures" / "cifar_accuracy.png").is_file()


def test_no_tracked_file_names_the_development_set_up():
    tracked = subprocess.run(
        ["git", "grep", "-l", "../shared", "--", ".", ":!tests"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert tracked == [], tracked


def _markdown_files() -> list[Path]:
    files = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return [REPO / f for f in files]


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    anchors = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            text = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            anchors.add(text)
    return anchors


def test_every_markdown_link_resolves():
    """Links between the repository's Markdown files, and to their headings, lead
    somewhere (web links are not checked: there is no network here)."""
    for path in _markdown_files():
        text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            assert linked.exists(), f"{path.relative_to(REPO)}: {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked), f"{path.relative_to(REPO)}: {target}"


def test_the_catalog_and_citation_files_are_valid():
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert "--cores" in catalog["usage"]["mandatory-flags"]["flags"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] and citation["license"] == "MIT"
    assert "MIT License" in (REPO / "LICENSE").read_text()


@pytest.mark.parametrize("name", ["replicates_cifar10", "cifar10_dev", "birds_dev"])
def test_the_tuning_configs_plan_from_public_sources(workflow, name):
    """Anyone can reproduce the tuning: each config plans from the public datasets (a
    download, checked by its checksum), not from files only its authors had."""
    import shutil

    shutil.copytree(REPO / "tuning", workflow / "tuning", dirs_exist_ok=True)
    proc = snakemake(workflow, "-n", "--configfile", f"tuning/{name}.yaml")
    out = proc.stdout + proc.stderr
    assert "rule download_archive:" in out, out[-2000:]
