"""The final report: tables equal the metrics files, figures, LaTeX, partial runs,
Snakemake's --report, and what reruns when the report's inputs change.

Birds results come from a fixture written by the real metrics code (the birds part
is not needed); CIFAR results from the shared end-to-end demo run.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import copy_workflow, snakemake
from convstudy import report
from convstudy.evaluate import classification_metrics, history_summary
from convstudy.figures import accuracy_bars, curves_grid, per_class_figure
from convstudy.io import read_history, write_history, write_json

HAS_LATEXMK = shutil.which("latexmk") is not None
NO_LATEXMK = "latexmk is not installed (Debian: texlive-latex-base texlive-latex-recommended lmodern latexmk)"

DEMO = ("--configfile", "config/demo.yaml")

# What each results-table header shows, read straight from a metrics JSON, with the
# largest difference its printed form may have from the JSON value.
TABLE_VALUES = {
    "Parameters": (lambda m: m["parameters"], 0),
    "Epochs": (lambda m: m["epochs"], 0),
    "Training (s)": (lambda m: m["training_seconds"], 0.05 + 1e-9),
    "Test acc.": (lambda m: m["test"]["accuracy"], 0.5e-4 + 1e-9),
    "Test top-5": (lambda m: m["test"]["top5_accuracy"], 0.5e-4 + 1e-9),
    "Test loss": (lambda m: m["test"]["loss"], 0.5e-4 + 1e-9),
    "Best val. acc.": (lambda m: m["best_val_accuracy"], 0.5e-4 + 1e-9),
    "Best epoch": (lambda m: m["best_val_epoch"], 0),
}


# ---------------------------------------------------------------------------------
# Reading the tables back out of report.md and report.tex.

_TEX_UNESCAPE = [
    (r"\textbackslash{}", "\\"),
    (r"\textasciitilde{}", "~"),
    (r"\textasciicircum{}", "^"),
    (r"\textless{}", "<"),
    (r"\textgreater{}", ">"),
    (r"\textbar{}", "|"),
    (r"\&", "&"),
    (r"\%", "%"),
    (r"\$", "$"),
    (r"\#", "#"),
    (r"\_", "_"),
    (r"\{", "{"),
    (r"\}", "}"),
]


def tex_unescape(text: str) -> str:
    text = re.sub(r"^\\textbf\{(.*)\}$", r"\1", text.strip())
    for escaped, char in _TEX_UNESCAPE:
        text = text.replace(escaped, char)
    return text


def md_unescape(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^\*\*(.*)\*\*$", r"\1", text)
    return re.sub(r"\\(.)", r"\1", text)


def md_table(text: str, first_header: str, nth: int = 0) -> list[dict]:
    """Rows of the ``nth`` Markdown table whose first header is ``first_header``."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |")]
    start = starts[nth]
    split = lambda line: [md_unescape(c) for c in re.split(r"(?<!\\)\|", line)[1:-1]]
    headers = split(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(headers, split(line), strict=True)))
    return rows


def tex_table(text: str, first_header: str, nth: int = 0) -> list[dict]:
    """Rows of the ``nth`` LaTeX table whose header row starts with ``first_header``."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"{first_header} &")]
    start = starts[nth]
    split = lambda line: [
        tex_unescape(c) for c in re.split(r"(?<!\\)&", line.strip().removesuffix(r"\\"))
    ]
    headers = split(lines[start])
    assert lines[start + 1] == r"\midrule"
    rows = []
    for line in lines[start + 2 :]:
        if line.startswith("\\bottomrule") or line.startswith("\\midrule"):
            break
        rows.append(dict(zip(headers, split(line), strict=True)))
    return rows


def assert_table_matches(rows: list[dict], metrics: dict[str, dict]) -> None:
    """Every row's numbers equal its experiment's metrics JSON (to the printed digits)."""
    assert [r["Experiment"] for r in rows] == list(metrics)
    for row in rows:
        m = metrics[row["Experiment"]]
        for header, (value_of, tolerance) in TABLE_VALUES.items():
            shown = float(row[header].replace(",", ""))
            assert abs(shown - value_of(m)) <= tolerance, (row["Experiment"], header, shown)


def planned_jobs(workdir: Path, *args: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job ``snakemake -n`` plans."""
    proc = snakemake(workdir, "-n", *args)
    out = proc.stdout + proc.stderr
    jobs = []
    for match in re.finditer(r"^(?:local)?rule (\w+):\n((?:    .*\n)*)", out, re.M):
        wildcards = re.search(r"^    wildcards: (.*)$", match.group(2), re.M)
        jobs.append((match.group(1), wildcards.group(1) if wildcards else ""))
    return jobs


# ---------------------------------------------------------------------------------
# A birds part written by the real metrics code, on made-up predictions.

BIRD_SPECIAL = "Weird & Co_50%_$#{x}~^"


def bird_names(count: int = 200) -> list[str]:
    names = [f"{i + 1:03d}.Bird_species_{i + 1}" for i in range(count)]
    names[4] = "005.Chuck_will_Widow"
    names[7] = f"008.{BIRD_SPECIAL}"
    return names


BIRD_EXPERIMENTS = {
    "linear": {
        "settings": {
            "head": {"dense": [], "dropout": 0.0},
            "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
            "batch_size": 64,
            "epochs": 4,
        },
        "base": None,
        "lineage": ["linear"],
        "description": "linear softmax on pooled ResNet50 features",
        "kind": "head",
    },
    "mlp_dropout": {
        "settings": {
            "head": {"dense": [1024], "dropout": 0.2},
            "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
            "batch_size": 64,
            "epochs": 4,
        },
        "base": "linear",
        "lineage": ["linear", "mlp_dropout"],
        "description": "Dense 1024 with dropout 0.2 (the study's best head)",
        "kind": "head",
    },
    "finetune_all": {
        "settings": {
            "head": {"dense": [1024], "dropout": 0.2},
            "optimizer": {"name": "sgd", "learning_rate": 0.001, "momentum": 0.9},
            "augment": {"horizontal_flip": True, "crop": 0.1},
            "stages": [
                {"epochs": 2, "trainable": "head", "learning_rate": 0.01},
                {"epochs": 3, "trainable": "all", "learning_rate": 0.001},
            ],
            "batch_size": 32,
            "epochs": 5,
        },
        "base": "mlp_dropout",
        "lineage": ["linear", "mlp_dropout", "finetune_all"],
        "description": "ResNet50 fine-tuned end to end, head first",
        "kind": "finetune",
    },
}


def write_bird_results(results: Path, seed: int = 0) -> dict[str, dict]:
    """results/birds/<name>/{metrics.json,history.csv} for BIRD_EXPERIMENTS."""
    rng = np.random.default_rng(seed)
    names = bird_names()
    labels = np.repeat(np.arange(len(names)), 3)
    written = {}
    for quality, (name, info) in zip((0.3, 0.5, 0.7), BIRD_EXPERIMENTS.items()):
        logits = rng.normal(size=(len(labels), len(names)))
        logits[np.arange(len(labels)), labels] += 4 * quality + rng.normal(size=len(labels))
        logits[labels == 7, 7] += 50  # the class with LaTeX specials is always right
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        epochs = info["settings"]["epochs"]
        history = [
            {
                "epoch": e,
                "loss": 3.0 / e,
                "accuracy": quality * e / epochs,
                "val_loss": 3.2 / e,
                "val_accuracy": quality * (0.5 + 0.5 * e / epochs),
                "seconds": 1.5 * e,
                "learning_rate": 0.01,
            }
            for e in range(1, epochs + 1)
        ]
        directory = results / "birds" / name
        write_history(directory / "history.csv", history)
        metrics = {
            "part": "birds",
            "experiment": name,
            "parameters": 2048 * 200 + 1000 * len(name),
            "test": classification_metrics(probabilities, labels, names),
            **history_summary(read_history(directory / "history.csv")),
            "settings": info["settings"],
            "class_names": names,
        }
        write_json(directory / "metrics.json", metrics)
        written[name] = metrics
    return written


@pytest.fixture
def birds_report(tmp_path):
    """summary.csv, report.md, report.tex and figures of a birds-only run (CIFAR off)."""
    results = tmp_path / "results"
    metrics = write_bird_results(results)
    config = {
        "cifar": {"enabled": False},
        "birds": {"enabled": True, "dataset": "cub200_2010", "image_size": 224, "source": "synthetic"},
    }
    parts = report.report_parts(config, {"cifar": {}, "birds": BIRD_EXPERIMENTS})
    out = tmp_path / "report"
    figures = out / "figures"
    stem = lambda kind: [figures / f"birds_{kind}.png", figures / f"birds_{kind}.pdf"]
    references = [{"label": "frozen ResNet50", "accuracy": [0.40, 0.45]}, {"label": "one run", "accuracy": 0.46}]
    accuracy_bars(
        [{"name": n, "accuracy": m["test"]["accuracy"], "kind": BIRD_EXPERIMENTS[n]["kind"]} for n, m in metrics.items()],
        references,
        "Birds: test accuracy",
        stem("accuracy"),
    )
    curves_grid(
        [(n, read_history(results / "birds" / n / "history.csv")) for n in metrics],
        "Birds: learning curves",
        stem("curves"),
    )
    best = report.best_experiment(list(metrics.values()))
    per_class_figure(best["test"]["per_class_accuracy"], "Birds: per class", stem("per_class"))
    report.render_report(
        [results / "birds" / n / "metrics.json" for n in metrics],
        parts=parts,
        references={"birds": references},
        seed=2020,
        md_template=Path(report.__file__).parents[2] / "report" / "report.md.j2",
        tex_template=Path(report.__file__).parents[2] / "report" / "report.tex.j2",
        md_out=out / "report.md",
        tex_out=out / "report.tex",
        summary_out=out / "summary.csv",
    )
    return out, metrics


# ---------------------------------------------------------------------------------
# Unit tests (seconds).


def test_birds_tables_equal_metrics_json(birds_report):
    out, metrics = birds_report
    md, tex = (out / "report.md").read_text(), (out / "report.tex").read_text()
    assert_table_matches(md_table(md, "Experiment"), metrics)
    assert_table_matches(tex_table(tex, "Experiment"), metrics)
    for rows in (md_table(md, "Experiment"), tex_table(tex, "Experiment")):
        assert [r["Kind"] for r in rows] == [BIRD_EXPERIMENTS[n]["kind"] for n in metrics]
    with open(out / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    assert [r["experiment"] for r in summary] == list(metrics)
    for row in summary:
        m = metrics[row["experiment"]]
        # The CSV keeps the JSON's full precision.
        assert float(row["test_accuracy"]) == m["test"]["accuracy"]
        assert float(row["test_loss"]) == m["test"]["loss"]
        assert float(row["best_val_accuracy"]) == m["best_val_accuracy"]
        assert int(row["parameters"]) == m["parameters"]
        assert row["base"] == (BIRD_EXPERIMENTS[row["experiment"]]["base"] or "")


def test_birds_best_and_worst_classes_of_best_model(birds_report):
    out, metrics = birds_report
    best = max(metrics.values(), key=lambda m: m["final_val_accuracy"])
    assert best["experiment"] == "finetune_all"
    ranked = sorted(
        ((n, a) for n, a in best["test"]["per_class_accuracy"].items() if a is not None),
        key=lambda item: (-item[1], item[0]),
    )
    md, tex = (out / "report.md").read_text(), (out / "report.tex").read_text()
    for rows_best, rows_worst in (
        (md_table(md, "Best classes"), md_table(md, "Worst classes")),
        (tex_table(tex, "Best classes"), tex_table(tex, "Worst classes")),
    ):
        shown_best = [(r["Best classes"], float(r["Test accuracy"])) for r in rows_best]
        shown_worst = [(r["Worst classes"], float(r["Test accuracy"])) for r in rows_worst]
        assert [n for n, _ in shown_best] == [n for n, _ in ranked[:10]]
        assert [n for n, _ in shown_worst] == [n for n, _ in ranked[-10:]]
        for (_, shown), (_, true) in zip(shown_best + shown_worst, ranked[:10] + ranked[-10:]):
            assert abs(shown - true) <= 0.5e-4 + 1e-9
    # The name with LaTeX specials is among the best and reaches the .tex escaped.
    assert any(name.endswith(BIRD_SPECIAL) for name, _ in ranked[:10])
    assert BIRD_SPECIAL not in tex
    assert report.escape_tex(BIRD_SPECIAL) in tex


def test_birds_figures_and_partial_run_text(birds_report):
    out, _ = birds_report
    for kind in ("accuracy", "curves", "per_class"):
        with Image.open(out / "figures" / f"birds_{kind}.png") as image:
            assert image.width > 300 and image.height > 200
        assert (out / "figures" / f"birds_{kind}.pdf").read_bytes().startswith(b"%PDF")
    md = re.sub(r"\\(.)", r"\1", (out / "report.md").read_text())
    # CIFAR was switched off: the report says so, and has no CIFAR section.
    assert "cifar.enabled: false" in md and "## Not run" in md
    assert "## CIFAR" not in md and "## Birds" in md
    # Method text comes from the settings, including ones the report has no prose for.
    assert "(head)" in md and "(finetune)" in md
    assert "Head: dense [1024], dropout 0.2" in md
    assert "Stages: (1) epochs 2, trainable head, learning rate 0.01; (2) epochs 3" in md


@pytest.mark.skipif(not HAS_LATEXMK, reason=NO_LATEXMK)
def test_birds_latex_compiles(birds_report, tmp_path):
    out, _ = birds_report
    report.build_pdf(out / "report.tex", out / "report.pdf")
    first = (out / "report.pdf").read_bytes()
    assert first.startswith(b"%PDF")
    report.build_pdf(out / "report.tex", out / "report.pdf")
    assert (out / "report.pdf").read_bytes() == first, "same .tex, different PDF"
    assert sorted(p.name for p in out.iterdir()) == [
        "figures", "report.md", "report.pdf", "report.tex", "summary.csv"
    ], "scratch files left behind"


def test_figures_are_reproducible(tmp_path):
    bars = [{"name": "a_b", "accuracy": 0.4, "kind": None}, {"name": "c", "accuracy": 0.6, "kind": None}]
    refs = [{"label": "study", "accuracy": 0.5}]
    for run in ("one", "two"):
        accuracy_bars(bars, refs, "t", [tmp_path / run / "f.png", tmp_path / run / "f.pdf"])
    for ext in ("png", "pdf"):
        assert (tmp_path / "one" / f"f.{ext}").read_bytes() == (tmp_path / "two" / f"f.{ext}").read_bytes()


def test_build_pdf_without_latexmk_names_the_fix(tmp_path):
    tex = tmp_path / "report.tex"
    tex.write_text("\\documentclass{article}\\begin{document}x\\end{document}\n")
    with pytest.raises(FileNotFoundError, match="apt-get install .*latexmk"):
        report.build_pdf(tex, tmp_path / "report.pdf", latexmk="no-such-latexmk")
    assert not (tmp_path / "report.pdf").exists()


def test_escape_tex_and_md():
    assert report.escape_tex("aquarium_fish") == r"aquarium\_fish"
    assert report.escape_tex("a&b%c$d#e{f}g~h^i\\j") == (
        r"a\&b\%c\$d\#e\{f\}g\textasciitilde{}h\textasciicircum{}i\textbackslash{}j"
    )
    assert report.escape_md("a_b|c*d") == r"a\_b\|c\*d"


def test_method_text_from_config(repo):
    from convstudy.config import cifar_variants, load_config

    config = load_config(repo / "config" / "config.yaml")
    variants = cifar_variants(config)
    basenet = dict(report.describe_settings(variants["basenet"]["settings"], 25))
    assert basenet["Architecture"].startswith("Conv 6@5×5 → max-pool 2 → Conv 16@5×5")
    assert "Dense 25 (softmax)" in basenet["Architecture"]
    assert basenet["Optimizer"].startswith("SGD (learning rate 0.01)")
    assert "augmentation: none" in basenet["Input"]
    resnet = dict(report.describe_settings(variants["resnet"]["settings"], 25))
    assert "Nesterov" in resnet["Optimizer"] and "cosine" in resnet["Optimizer"]
    assert "translations up to 12.5%" in resnet["Input"]
    assert "residual" in resnet["Architecture"]
    assert report.settings_changes(
        variants["normalized"]["settings"], variants["basenet"]["settings"]
    ) == ["epochs: 35", "normalize: yes"]  # settings are key-sorted (convstudy.variants)


def test_part_statuses():
    experiments = {"cifar": {"a": {}}}
    statuses = report.part_statuses({"cifar": {"enabled": True}}, experiments)
    assert statuses["cifar"]["status"] == "run"
    assert statuses["birds"]["status"] == "absent"
    statuses = report.part_statuses(
        {"cifar": {"enabled": False}, "birds": {"enabled": False}}, {"cifar": {}, "birds": {}}
    )
    assert statuses["cifar"]["status"] == statuses["birds"]["status"] == "disabled"
    assert "birds.enabled: false" in statuses["birds"]["reason"]


def test_reference_range_must_run_low_to_high():
    report.check_references({"birds": [{"label": "x", "accuracy": [0.4, 0.48]}]})
    with pytest.raises(ValueError, match=r"report.references.birds\[0\]"):
        report.check_references({"birds": [{"label": "x", "accuracy": [0.48, 0.4]}]})


def test_missing_metrics_is_an_error(tmp_path):
    metrics = write_bird_results(tmp_path)
    parts = report.report_parts({}, {"birds": BIRD_EXPERIMENTS})
    with pytest.raises(ValueError, match="no metrics for birds experiment"):
        report.group_metrics([metrics["linear"]], parts)


# ---------------------------------------------------------------------------------
# On the end-to-end demo run (shared; minutes once per session).


def demo_metrics(demo_run: Path, part: str = "cifar") -> dict[str, dict]:
    """Metrics JSONs of one part of the demo run, in report order."""
    from convstudy.config import cifar_variants, load_config, load_schema
    from convstudy.experiments.birds import birds_experiments

    config = load_config(
        demo_run / "config" / "config.yaml",
        overrides=yaml.safe_load((demo_run / "config" / "demo.yaml").read_text()),
    )
    names = cifar_variants(config) if part == "cifar" else birds_experiments(config, load_schema())
    return {
        name: json.loads((demo_run / f"results/demo/{part}" / name / "metrics.json").read_text())
        for name in names
    }


@pytest.mark.slow
def test_demo_report_tables_equal_metrics_json(demo_run):
    out = demo_run / "results/demo/report"
    md, tex = (out / "report.md").read_text(), (out / "report.tex").read_text()
    with open(out / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    parts = {part: demo_metrics(demo_run, part) for part in ("cifar", "birds")}
    for nth, (part, part_metrics) in enumerate(parts.items()):
        assert_table_matches(md_table(md, "Experiment", nth), part_metrics)
        assert_table_matches(tex_table(tex, "Experiment", nth), part_metrics)
        rows = [r for r in summary if r["part"] == part]
        assert [r["experiment"] for r in rows] == list(part_metrics)
        for row in rows:
            m = part_metrics[row["experiment"]]
            assert float(row["test_accuracy"]) == m["test"]["accuracy"]
            assert float(row["test_top5_accuracy"]) == m["test"]["top5_accuracy"]
    metrics = parts["cifar"]
    # Class names with LaTeX specials (the synthetic archive uses CIFAR's names).
    best = max(metrics.values(), key=lambda m: m["final_val_accuracy"])
    per_class = tex_table(tex, "Class")
    assert {r["Class"] for r in per_class} == set(best["class_names"])
    assert "aquarium_fish" in best["class_names"] and r"aquarium\_fish" in tex
    assert "## Not run" not in md
    for part, kinds in (("cifar", ("accuracy", "curves", "confusion")),
                        ("birds", ("accuracy", "curves", "per_class"))):
        for kind in kinds:
            for ext in ("png", "pdf"):
                assert (out / "figures" / f"{part}_{kind}.{ext}").stat().st_size > 1000
            assert f"figures/{part}_{kind}.png" in md and f"figures/{part}_{kind}.pdf" in tex


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LATEXMK, reason=NO_LATEXMK)
def test_demo_report_pdf_built(demo_run):
    pdf = demo_run / "results/demo/report/report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert "wrote" in (demo_run / "results/demo/logs/report/report_pdf.log").read_text()


@pytest.mark.slow
def test_snakemake_report_zip_has_every_figure(demo_run, tmp_path):
    zip_path = tmp_path / "report.zip"
    snakemake(demo_run, "--report", str(zip_path), *DEMO)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        html = archive.read(next(n for n in names if n.endswith("report.html"))).decode()
        stored = {archive.read(n) for n in names if n.endswith(".png")}
    figures = sorted((demo_run / "results/demo/report/figures").glob("*.png"))
    figures += sorted((demo_run / "results/demo/cifar").glob("*/curves.png"))
    figures += sorted((demo_run / "results/demo/birds").glob("*/curves.png"))
    experiments = len(demo_metrics(demo_run, "cifar")) + len(demo_metrics(demo_run, "birds"))
    assert len(figures) == 3 + 3 + experiments
    for figure in figures:
        assert figure.read_bytes() in stored, f"{figure} is not in the report"
    assert any(n.endswith("summary.csv") for n in names)
    # Categories per part, captions rendered with the reference points.
    assert '"CIFAR"' in html and '"Birds"' in html and "Summary" in html
    assert "BaseNet in the study: 0.4" in html


@pytest.fixture
def demo_copy(demo_run, tmp_path):
    """A private copy of the finished demo run (outputs and Snakemake's records)."""
    return Path(shutil.copytree(demo_run, tmp_path / "workflow", symlinks=True))


@pytest.mark.slow
def test_report_reruns_only_what_changed(demo_copy):
    assert planned_jobs(demo_copy, *DEMO) == [], "a finished run plans nothing"

    # A template: only the text is rendered again (and the PDF built from it).
    template = demo_copy / "report" / "report.md.j2"
    template.write_text(template.read_text().replace("### Results", "### Results of this run"))
    rules = {rule for rule, _ in planned_jobs(demo_copy, *DEMO)}
    assert "report" in rules and rules <= {"report", "report_pdf", "all"}, rules
    (demo_copy / "results/demo/report/report.md").touch()  # as if rendered again

    # One variant's setting: that variant, the part's figures and the report.
    (demo_copy / "config" / "change.yaml").write_text(
        "cifar:\n  variants:\n    resnet:\n      label_smoothing: 0.2\n"
    )
    jobs = planned_jobs(demo_copy, *DEMO, "config/change.yaml")
    variant_jobs = {(r, w) for r, w in jobs if r.endswith("_cifar") or r == "plot_cifar_curves"}
    assert variant_jobs == {
        ("train_cifar", "variant=resnet"),
        ("evaluate_cifar", "variant=resnet"),
        ("plot_cifar_curves", "variant=resnet"),
    }
    report_jobs = {r for r, _ in jobs} - {r for r, _ in variant_jobs}
    assert {"report_accuracy", "report_curves", "report_confusion", "report"} <= report_jobs
    assert report_jobs <= {"report_accuracy", "report_curves", "report_confusion", "report", "report_pdf", "all"}

    # A description (what the report says about a variant): the report only.
    (demo_copy / "config" / "change.yaml").write_text(
        "cifar:\n  variants:\n    resnet:\n      description: ours, described anew\n"
    )
    rules = {rule for rule, _ in planned_jobs(demo_copy, *DEMO, "config/change.yaml")}
    assert "report" in rules and rules <= {"report", "report_pdf", "all"}, rules


@pytest.mark.slow
def test_report_of_a_run_with_every_part_off(tmp_path):
    """No part enabled, no latexmk: the report rule succeeds and says what was not run
    and how to build the PDF."""
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "config" / "off.yaml").write_text(
        "cifar:\n  enabled: false\nbirds:\n  enabled: false\n"
        "report:\n  latexmk: no-such-latexmk\n"
    )
    snakemake(workdir, "--cores", "1", *DEMO, "config/off.yaml")
    out = workdir / "results/demo/report"
    md = (out / "report.md").read_text()
    assert "Nothing was run" in md and "cifar.enabled: false" in md
    assert (out / "report.tex").exists() and not (out / "report.pdf").exists()
    with open(out / "summary.csv", newline="") as fh:
        assert list(csv.DictReader(fh)) == []
    assert not (out / "figures").exists()
    log = (workdir / "results/demo/logs/report/report.log").read_text()
    assert "no-such-latexmk not found" in log and "latexmk -pdf report.tex" in log
    if HAS_LATEXMK:
        report.build_pdf(out / "report.tex", out / "report.pdf")
        assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_best_is_chosen_on_validation_not_test():
    a = {"experiment": "a", "final_val_accuracy": 0.5, "test": {"accuracy": 0.9}}
    b = {"experiment": "b", "final_val_accuracy": 0.6, "test": {"accuracy": 0.1}}
    c = {"experiment": "c", "final_val_accuracy": 0.6, "test": {"accuracy": 0.2}}
    assert report.best_experiment([a, b, c])["experiment"] == "b"
