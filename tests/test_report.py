"""The final report: tables equal the metrics files, figures, LaTeX, partial runs,
Snakemake's --report, and what reruns when the report's inputs change.

Birds results come from a fixture written by the real metrics code (the birds part
is not needed); CIFAR results from the shared end-to-end demo run.
"""

from __future__ import annotations

import csv
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import copy_workflow, snakemake
from convstudy.evaluate import classification_metrics, history_summary
from convstudy.figures import accuracy_chart
from convstudy.files import read_history, save_arrays, save_predictions, write_history, write_json
from convstudy.report import charts, method, parts, pdf, render, results, stats

HAS_LATEXMK = shutil.which("latexmk") is not None
NO_LATEXMK = "latexmk is not installed (Debian: texlive-latex-base texlive-latex-recommended lmodern latexmk)"

DEMO = ("--configfile", "config/demo.yaml")

# What each results-table header shows, from the metrics JSONs of an experiment's
# replicates, with the largest difference its printed form may have from that value.
TABLE_VALUES = {
    "Parameters": (lambda m: m["parameters"], 0),
    "Epochs": (lambda m: m["epochs"], 0),
    "Training (s)": (lambda m: m["training_seconds"], 0.05 + 1e-9),
    "Test acc.": (lambda m: m["test"]["accuracy"], 0.5e-4 + 1e-9),
    "Test top-5": (lambda m: m["test"]["top5_accuracy"], 0.5e-4 + 1e-9),
    "Test loss": (lambda m: m["test"]["loss"], 0.5e-4 + 1e-9),
    "Best val. acc.": (lambda m: m["best_val_accuracy"], 0.5e-4 + 1e-9),
    "Final val. acc.": (lambda m: m["final_val_accuracy"], 0.5e-4 + 1e-9),
}
#: Shown only for single runs (a best epoch has no mean).
SINGLE_RUN_VALUES = {"Best epoch": (lambda m: m["best_val_epoch"], 0)}


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


def _mean_and_sd(cell: str) -> tuple[float, float | None]:
    """``0.4123 ± 0.0100`` (Markdown) or ``0.4123 $\\pm$ 0.0100`` (LaTeX) or ``0.4123``."""
    parts_ = re.split(r"\s*(?:±|\$\\pm\$)\s*", cell.replace(",", ""))
    return float(parts_[0]), (float(parts_[1]) if len(parts_) > 1 else None)


def assert_table_matches(rows: list[dict], metrics: dict[str, list[dict]]) -> None:
    """Every row's numbers equal the mean (and standard deviation) over its
    experiment's replicates' metrics JSONs, to the printed digits."""
    assert [r["Experiment"] for r in rows] == list(metrics)
    for row in rows:
        runs = metrics[row["Experiment"]]
        values = {**TABLE_VALUES, **(SINGLE_RUN_VALUES if len(runs) == 1 else {})}
        for header, (value_of, tolerance) in values.items():
            shown, sd = _mean_and_sd(row[header])
            numbers = np.array([value_of(m) for m in runs], dtype=float)
            assert abs(shown - numbers.mean()) <= tolerance, (row["Experiment"], header, shown)
            if header in (
                "Test acc.",
                "Test top-5",
                "Test loss",
                "Best val. acc.",
                "Final val. acc.",
            ):
                if len(runs) == 1:
                    assert sd is None, (row["Experiment"], header, row[header])
                else:
                    assert abs(sd - numbers.std(ddof=1)) <= tolerance, (
                        row["Experiment"],
                        header,
                        sd,
                    )
        # Over seeds and test images (a single run: over the test images), from the
        # per-image predictions beside each metrics.json.
        interval = stats.accuracy_interval(results.correct(runs))
        low, high = (float(x) for x in re.findall(r"-?\d+\.\d+", row["95% CI"]))
        assert abs(low - interval.low) <= 0.5e-4 + 1e-9
        assert abs(high - interval.high) <= 0.5e-4 + 1e-9
        if len(runs) > 1:
            ensemble = results.ensemble(runs)
            assert abs(float(row["Ensemble"]) - ensemble) <= 0.5e-4 + 1e-9
        else:
            assert "Ensemble" not in row


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


#: Replicates of the birds fixture: enough for intervals.
BIRD_REPLICATES = 3


def write_bird_results(
    results: Path, seed: int = 0, replicates: int = BIRD_REPLICATES
) -> dict[str, list[dict]]:
    """results/birds/<name>/rep<k>/{metrics.json,history.csv} for BIRD_EXPERIMENTS,
    each replicate with its own made-up predictions."""
    rng = np.random.default_rng(seed)
    names = bird_names()
    labels = np.repeat(np.arange(len(names)), 3)
    written = {}
    for quality, (name, info) in zip((0.3, 0.5, 0.7), BIRD_EXPERIMENTS.items(), strict=True):
        written[name] = []
        for rep in range(replicates):
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
                    "val_accuracy": quality * (0.5 + 0.5 * e / epochs) + 0.01 * rep,
                    "seconds": 1.5 * e,
                    "learning_rate": 0.01,
                }
                for e in range(1, epochs + 1)
            ]
            directory = results / "birds" / name / f"rep{rep}"
            write_history(directory / "history.csv", history)
            metrics = {
                "part": "birds",
                "experiment": name,
                "replicate": rep,
                "seed": 2020 + rep,
                "parameters": 2048 * 200 + 1000 * len(name),
                "test": classification_metrics(probabilities, labels, names),
                **history_summary(read_history(directory / "history.csv")),
                "settings": info["settings"],
                "class_names": names,
            }
            write_json(directory / "metrics.json", metrics)
            save_predictions(directory / "predictions.npz", probabilities, labels)
            written[name].append({**metrics, "path": str(directory / "metrics.json")})
    # The prepared data's test images, for the error gallery.
    images = rng.integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
    save_arrays(
        results / "birds" / "data.npz",
        {"x_test": images, "y_test": labels, "class_names": names},
    )
    return written


def metrics_paths(results: Path, metrics: dict[str, list[dict]]) -> list[Path]:
    return [
        results / "birds" / name / f"rep{m['replicate']}" / "metrics.json"
        for name, runs in metrics.items()
        for m in runs
    ]


def render_birds(tmp_path: Path, replicates: int) -> tuple[Path, dict[str, list[dict]]]:
    """summary tables, report.md, report.tex and figures of a birds-only run (CIFAR off)."""
    results_dir = tmp_path / "results"
    metrics = write_bird_results(results_dir, replicates=replicates)
    config = {
        "cifar": {"enabled": False},
        "birds": {
            "enabled": True,
            "dataset": "cub200",
            "image_size": 224,
            "source": "download",
            "weights": "/data/w.h5",
            "inference_batch_size": 32,
        },
        "report": {
            "references": {
                "birds": [
                    {"label": "frozen ResNet50", "accuracy": [0.40, 0.45]},
                    {"label": "one run", "accuracy": 0.46},
                ]
            }
        },
    }
    report_parts = parts.report_parts(config, {"cifar": {}, "birds": BIRD_EXPERIMENTS})
    out = tmp_path / "report"
    paths = metrics_paths(results_dir, metrics)
    for kind in parts.part_info("birds").figures:
        charts.draw(
            kind,
            paths,
            list(metrics),
            f"Birds: {kind}",
            [out / "figures" / f"birds_{kind}.png", out / "figures" / f"birds_{kind}.pdf"],
            kinds={n: BIRD_EXPERIMENTS[n]["kind"] for n in metrics},
            references=report_parts["birds"]["references"],
            data=results_dir / "birds" / "data.npz",
        )
    render.render_report(
        paths,
        parts=report_parts,
        seed=2020,
        md_out=out / "report.md",
        tex_out=out / "report.tex",
        summary_out=out / "summary.csv",
        aggregates_out=out / "aggregates.csv",
        steps_out=out / "steps.csv",
    )
    return out, metrics


@pytest.fixture
def birds_report(tmp_path):
    """A birds-only report over three replicates."""
    return render_birds(tmp_path, BIRD_REPLICATES)


@pytest.fixture
def birds_single_run(tmp_path):
    """The same with one replicate: single runs, no intervals."""
    return render_birds(tmp_path, 1)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------------
# Unit tests (seconds).


def test_birds_tables_equal_metrics_json(birds_report):
    out, metrics = birds_report
    md, tex = (out / "report.md").read_text(), (out / "report.tex").read_text()
    assert_table_matches(md_table(md, "Experiment"), metrics)
    assert_table_matches(tex_table(tex, "Experiment"), metrics)
    for rows in (md_table(md, "Experiment"), tex_table(tex, "Experiment")):
        assert [r["Kind"] for r in rows] == [BIRD_EXPERIMENTS[n]["kind"] for n in metrics]
        # A fine-tuning variant is compared with its base (here: a head).
        assert [r["Base"] for r in rows] == ["-", "linear", "mlp_dropout"]
    summary = read_csv(out / "summary.csv")
    # One row per experiment and replicate, at the JSON's full precision.
    assert [(r["experiment"], int(r["replicate"])) for r in summary] == [
        (n, k) for n in metrics for k in range(BIRD_REPLICATES)
    ]
    for row in summary:
        m = metrics[row["experiment"]][int(row["replicate"])]
        assert int(row["seed"]) == m["seed"]
        assert float(row["test_accuracy"]) == m["test"]["accuracy"]
        assert float(row["test_loss"]) == m["test"]["loss"]
        assert float(row["best_val_accuracy"]) == m["best_val_accuracy"]
        assert int(row["parameters"]) == m["parameters"]
        assert row["base"] == (BIRD_EXPERIMENTS[row["experiment"]]["base"] or "")


def test_birds_aggregates_equal_mean_and_sd_of_the_replicates(birds_report):
    out, metrics = birds_report
    rows = read_csv(out / "aggregates.csv")
    assert [r["experiment"] for r in rows] == list(metrics)
    for row in rows:
        runs = metrics[row["experiment"]]
        assert int(row["replicates"]) == BIRD_REPLICATES
        for name, value_of in (
            ("test_accuracy", lambda m: m["test"]["accuracy"]),
            ("test_top5_accuracy", lambda m: m["test"]["top5_accuracy"]),
            ("test_loss", lambda m: m["test"]["loss"]),
            ("best_val_accuracy", lambda m: m["best_val_accuracy"]),
            ("final_val_accuracy", lambda m: m["final_val_accuracy"]),
        ):
            values = np.array([value_of(m) for m in runs])
            mean, sd = values.mean(), values.std(ddof=1)
            assert float(row[f"{name}_mean"]) == pytest.approx(mean, abs=1e-12)
            assert float(row[f"{name}_std"]) == pytest.approx(sd, abs=1e-12)
            low, high = float(row[f"{name}_ci_low"]), float(row[f"{name}_ci_high"])
            # Student t, 2 degrees of freedom: t(0.975, 2) = 4.302653.
            half = 4.302653 * sd / np.sqrt(3)
            if name == "test_loss":
                assert (low, high) == pytest.approx((mean - half, mean + half), rel=1e-6)
            elif name == "test_accuracy":
                # Seeds and test images (the crossed variance components), and seeds only.
                found = stats.accuracy_interval(results.correct(runs))
                assert (low, high) == pytest.approx((found.low, found.high), rel=1e-12)
                low, high = (float(row[f"{name}_seed_ci_{e}"]) for e in ("low", "high"))
            if name != "test_loss":
                # On the logit scale: inside (0, 1) whatever the spread.
                logit = np.log(mean / (1 - mean))
                half /= mean * (1 - mean)
                expected = 1 / (1 + np.exp(-(logit + np.array([-half, half]))))
                assert (low, high) == pytest.approx(tuple(expected), rel=1e-6)
                assert 0 < low < mean < high < 1
        assert float(row["ensemble_test_accuracy"]) == results.ensemble(runs)


def test_birds_step_table_pairs_replicates(birds_report):
    out, metrics = birds_report
    rows = read_csv(out / "steps.csv")
    assert [(r["experiment"], r["base"]) for r in rows] == [
        ("mlp_dropout", "linear"),
        ("finetune_all", "mlp_dropout"),
    ]
    for row in rows:
        diffs = [
            a["test"]["accuracy"] - b["test"]["accuracy"]
            for a, b in zip(metrics[row["experiment"]], metrics[row["base"]], strict=True)
        ]
        assert float(row["difference_mean"]) == pytest.approx(np.mean(diffs), abs=1e-12)
        seed_sd = float(row["difference_seed_std"])
        assert seed_sd == pytest.approx(np.std(diffs, ddof=1), abs=1e-12)
        # The interval that counts the test images too, image i against image i.
        found = stats.compare_step(
            results.correct(metrics[row["experiment"]]), results.correct(metrics[row["base"]])
        )
        assert (float(row["difference_ci_low"]), float(row["difference_ci_high"])) == (
            found.low,
            found.high,
        )
        assert float(row["p_improvement"]) == found.p_improvement > 0.5
        assert row["verdict"] == found.verdict
    md = (out / "report.md").read_text()
    steps = md_table(md, "Step")
    assert [r["Step"] for r in steps] == ["mlp_dropout", "finetune_all"]
    assert all(r["Verdict"] for r in steps) and "Of the 2 steps" in md
    # Each better head helps here: the made-up qualities are far apart.
    assert [r["verdict"] for r in rows] == ["helps", "helps"]


def test_step_comparison_on_a_hand_made_case():
    """Paired differences by replicate: a base that varies a lot from seed to seed,
    and a step that adds exactly 0.02 to every replicate, is a clear help; unpaired,
    the spread of the base would hide it."""
    base = [0.40, 0.50, 0.60, 0.45]
    better = [b + 0.02 for b in base]
    difference = stats.paired_difference(better, base)
    assert difference.mean == pytest.approx(0.02) and difference.std == pytest.approx(
        0.0, abs=1e-12
    )
    # Identical differences in every replicate: a zero-width interval carries no verdict.
    assert stats.verdict(difference) is None
    worse = [0.39, 0.52, 0.57, 0.44]  # -0.01, +0.02, -0.03, -0.01
    difference = stats.paired_difference(worse, base)
    assert difference.mean == pytest.approx(-0.0075)
    assert difference.std == pytest.approx(np.std([-0.01, 0.02, -0.03, -0.01], ddof=1))
    # t(0.975, 3) = 3.182446
    half = 3.182446 * difference.std / 2
    assert (difference.low, difference.high) == pytest.approx(
        (-0.0075 - half, -0.0075 + half), rel=1e-6
    )
    assert stats.verdict(difference) == "no difference measurable"
    assert stats.verdict(stats.paired_difference([0.3, 0.31, 0.29], [0.5, 0.52, 0.49])) == "hurts"
    assert stats.verdict(stats.paired_difference([0.3], [0.5])) is None
    with pytest.raises(ValueError, match="paired"):
        stats.paired_difference([0.3, 0.4], [0.5])


def test_t_interval_known_values():
    interval = stats.t_interval([1.0, 2.0, 3.0])
    assert (interval.n, interval.mean, interval.std) == (3, 2.0, 1.0)
    assert interval.half_width == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
    single = stats.t_interval([0.7])
    assert (single.mean, single.std, single.low, single.high) == (0.7, None, None, None)


def test_single_runs_say_so_and_show_no_intervals(birds_single_run):
    out, metrics = birds_single_run
    md, tex = (out / "report.md").read_text(), (out / "report.tex").read_text()
    assert_table_matches(md_table(md, "Experiment"), metrics)
    assert_table_matches(tex_table(tex, "Experiment"), metrics)
    assert "single training run" in md and "±" not in md
    assert r"$\pm$" not in tex
    steps = md_table(md, "Step")
    assert [r["Step"] for r in steps] == ["mlp_dropout", "finetune_all"]
    assert all(r["Verdict"] == "no verdict: single run" for r in steps) and "Single runs" in md
    assert "seeds and test images" not in steps[0]
    aggregates = read_csv(out / "aggregates.csv")
    # No spread over seeds; the test images still give the Wilson interval.
    assert all(r["test_accuracy_std"] == "" and r["test_accuracy_ci_low"] for r in aggregates)
    assert all(r["test_accuracy_seed_ci_low"] == "" for r in aggregates)


def test_birds_best_and_worst_classes_of_best_model(birds_report):
    out, metrics = birds_report
    best = max(metrics, key=lambda n: np.mean([m["final_val_accuracy"] for m in metrics[n]]))
    assert best == "finetune_all"
    per_class = results.mean_per_class(metrics[best])
    ranked = sorted(
        ((n, a) for n, a in per_class.items() if a is not None),
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
        for (_, shown), (_, true) in zip(
            shown_best + shown_worst, ranked[:10] + ranked[-10:], strict=True
        ):
            assert abs(shown - true) <= 0.5e-4 + 1e-9
    # The name with LaTeX specials is among the best and reaches the .tex escaped.
    assert any(name.endswith(BIRD_SPECIAL) for name, _ in ranked[:10])
    assert BIRD_SPECIAL not in tex
    assert render.escape_tex(BIRD_SPECIAL) in tex


def test_birds_figures_and_partial_run_text(birds_report):
    out, _ = birds_report
    for kind in ("accuracy", "curves", "per_class", "errors"):
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
    # The data settings are whole sentences (no setting cut short, no speed setting,
    # a weights file by what it is, not where it lies).
    assert "Caltech-UCSD Birds-200 (2010), every species" in md and "224×224" in md
    assert "ResNet50 starts from a weights file" in md
    assert "…" not in md and "inference" not in md and "/data/w.h5" not in md
    assert "Every experiment was trained 3 times, with seeds 2020, 2021, 2022" in md
    # The study's reference points apply to a run on its dataset, and are listed.
    assert "frozen ResNet50: 0.40-0.45; \none run: 0.46." in md


@pytest.mark.skipif(not HAS_LATEXMK, reason=NO_LATEXMK)
def test_birds_latex_compiles(birds_report, tmp_path):
    out, _ = birds_report
    pdf.build_pdf(out / "report.tex", out / "report.pdf")
    first = (out / "report.pdf").read_bytes()
    assert first.startswith(b"%PDF")
    pdf.build_pdf(out / "report.tex", out / "report.pdf")
    assert (out / "report.pdf").read_bytes() == first, "same .tex, different PDF"
    assert sorted(p.name for p in out.iterdir()) == [
        "aggregates.csv",
        "figures",
        "report.md",
        "report.pdf",
        "report.tex",
        "steps.csv",
        "summary.csv",
    ], "scratch files left behind"


def test_figures_are_reproducible(tmp_path):
    bars = [
        {"name": "a_b", "values": [0.4, 0.42], "kind": None},
        {"name": "c", "values": [0.6, 0.5], "kind": None},
    ]
    refs = [{"label": "study", "accuracy": 0.5}]
    for run in ("one", "two"):
        accuracy_chart(bars, refs, "t", [tmp_path / run / "f.png", tmp_path / run / "f.pdf"])
    for ext in ("png", "pdf"):
        assert (tmp_path / "one" / f"f.{ext}").read_bytes() == (
            tmp_path / "two" / f"f.{ext}"
        ).read_bytes()


def test_accuracy_chart_legend_hides_no_bar(tmp_path):
    """The legend sits outside the axes and their labels: no bar, dot or value under it."""
    import matplotlib.pyplot as plt

    import convstudy.figures as figures

    drawn = {}
    original = figures.save_figure

    def keep(fig, paths, dpi=130):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        drawn["legend"] = fig.legends[0].get_window_extent(renderer)
        drawn["axes"] = fig.axes[0].get_tightbbox(renderer)
        original(fig, paths, dpi)

    figures.save_figure = keep
    try:
        accuracy_chart(
            [{"name": f"experiment_{i}", "values": [0.95, 0.97], "kind": "head"} for i in range(3)],
            [{"label": "a reference with a long label", "accuracy": [0.4, 0.45]}],
            "t",
            [tmp_path / "f.png"],
        )
    finally:
        figures.save_figure = original
    legend, axes = drawn["legend"], drawn["axes"]
    assert legend.y1 <= axes.y0 or legend.x0 >= axes.x1, (legend, axes)
    plt.close("all")


def test_build_pdf_without_latexmk_names_the_fix(tmp_path):
    tex = tmp_path / "report.tex"
    tex.write_text("\\documentclass{article}\\begin{document}x\\end{document}\n")
    with pytest.raises(FileNotFoundError, match="apt-get install .*latexmk"):
        pdf.build_pdf(tex, tmp_path / "report.pdf", latexmk="no-such-latexmk")
    assert not (tmp_path / "report.pdf").exists()


def test_escape_tex_and_md():
    assert render.escape_tex("aquarium_fish") == r"aquarium\_fish"
    assert render.escape_tex("a&b%c$d#e{f}g~h^i\\j") == (
        r"a\&b\%c\$d\#e\{f\}g\textasciitilde{}h\textasciicircum{}i\textbackslash{}j"
    )
    assert render.escape_md("a_b|c*d") == r"a\_b\|c\*d"


def test_method_text_from_config(repo):
    from convstudy.config import cifar_variants, load_config

    config = load_config(repo / "config" / "config.yaml")
    variants = cifar_variants(config)
    basenet = dict(method.describe_settings(variants["basenet"]["settings"], 25))
    assert basenet["Architecture"].startswith("Conv 6@5×5 → max-pool 2 → Conv 16@5×5")
    assert "Dense 25 (softmax)" in basenet["Architecture"]
    assert basenet["Optimizer"].startswith("SGD (learning rate 0.01)")
    assert "augmentation: none" in basenet["Input"]
    resnet = dict(method.describe_settings(variants["resnet"]["settings"], 25))
    assert "Nesterov" in resnet["Optimizer"] and "cosine" in resnet["Optimizer"]
    assert "translations up to 12.5%" in resnet["Input"]
    assert "residual" in resnet["Architecture"]
    assert method.settings_changes(
        variants["normalized"]["settings"], variants["basenet"]["settings"]
    ) == ["epochs: 35", "normalize: yes"]  # settings are key-sorted (convstudy.variants)


def test_part_statuses():
    experiments = {"cifar": {"a": {}}}
    statuses = parts.part_statuses({"cifar": {"enabled": True}}, experiments)
    assert statuses["cifar"]["status"] == "run"
    assert statuses["birds"]["status"] == "absent"
    statuses = parts.part_statuses(
        {"cifar": {"enabled": False}, "birds": {"enabled": False}}, {"cifar": {}, "birds": {}}
    )
    assert statuses["cifar"]["status"] == statuses["birds"]["status"] == "disabled"
    assert "birds.enabled: false" in statuses["birds"]["reason"]


def test_reference_range_must_run_low_to_high():
    parts.check_references({"birds": [{"label": "x", "accuracy": [0.4, 0.48]}]})
    with pytest.raises(ValueError, match=r"report.references.birds\[0\]"):
        parts.check_references({"birds": [{"label": "x", "accuracy": [0.48, 0.4]}]})


def test_missing_metrics_is_an_error(tmp_path):
    metrics = write_bird_results(tmp_path, replicates=2)
    report_parts = parts.report_parts({}, {"birds": BIRD_EXPERIMENTS})
    with pytest.raises(ValueError, match="no metrics for birds experiment"):
        results.group_metrics(metrics["linear"], report_parts)
    every = [
        m
        for runs in metrics.values()
        for m in runs
        if (m["experiment"], m["replicate"]) != ("linear", 1)
    ]
    with pytest.raises(ValueError, match=r"linear \(replicate 1\)"):
        results.group_metrics(every, report_parts)


# ---------------------------------------------------------------------------------
# On the end-to-end demo run (shared; minutes once per session).


def demo_config(demo_run: Path) -> dict:
    from convstudy.config import load_config

    return load_config(
        demo_run / "config" / "config.yaml",
        overrides=yaml.safe_load((demo_run / "config" / "demo.yaml").read_text()),
    )


def demo_metrics(demo_run: Path, part: str = "cifar") -> dict[str, list[dict]]:
    """Metrics JSONs of one part of the demo run by experiment (report order), replicate 0 first."""
    from convstudy.config import birds_experiments, cifar_variants, load_schema

    config = demo_config(demo_run)
    names = cifar_variants(config) if part == "cifar" else birds_experiments(config, load_schema())
    return {
        name: [
            results.load_metrics(
                [demo_run / f"results/demo/{part}" / name / f"rep{k}" / "metrics.json"]
            )[0]
            for k in range(config["replicates"])
        ]
        for name in names
    }


@pytest.mark.slow
def test_demo_report_tables_equal_metrics_json(demo_run):
    out = demo_run / "results/demo/report"
    md, tex = (out / "report.md").read_text(), (out / "report.tex").read_text()
    summary = read_csv(out / "summary.csv")
    aggregates = read_csv(out / "aggregates.csv")
    replicates = demo_config(demo_run)["replicates"]
    assert replicates >= 2, "the demo shows replicates"
    all_parts = {part: demo_metrics(demo_run, part) for part in ("cifar", "birds")}
    for nth, (part, part_metrics) in enumerate(all_parts.items()):
        assert_table_matches(md_table(md, "Experiment", nth), part_metrics)
        assert_table_matches(tex_table(tex, "Experiment", nth), part_metrics)
        rows = [r for r in summary if r["part"] == part]
        assert [(r["experiment"], int(r["replicate"])) for r in rows] == [
            (n, k) for n in part_metrics for k in range(replicates)
        ]
        for row in rows:
            m = part_metrics[row["experiment"]][int(row["replicate"])]
            assert int(row["seed"]) == m["seed"] == 2020 + m["replicate"]
            assert float(row["test_accuracy"]) == m["test"]["accuracy"]
            assert float(row["test_top5_accuracy"]) == m["test"]["top5_accuracy"]
        for row in (r for r in aggregates if r["part"] == part):
            values = [m["test"]["accuracy"] for m in part_metrics[row["experiment"]]]
            assert float(row["test_accuracy_mean"]) == pytest.approx(np.mean(values), abs=1e-12)
            assert float(row["test_accuracy_std"]) == pytest.approx(
                np.std(values, ddof=1), abs=1e-12
            )
    # Every step of the study against its base, in both parts.
    steps = read_csv(out / "steps.csv")
    assert ("cifar", "normalized", "basenet") in {
        (r["part"], r["experiment"], r["base"]) for r in steps
    }
    assert ("birds", "finetune_top", "conv") in {
        (r["part"], r["experiment"], r["base"]) for r in steps
    }
    assert len(md_table(md, "Step", 0)) == len(all_parts["cifar"]) - 1
    # Two replicates: every interval is shown, no step is judged, and the report says why.
    assert all(r["verdict"] == "" for r in steps)
    assert {r["no_verdict_because"] for r in steps} == {
        "2 replicates: at least 3 are needed for a verdict"
    }
    assert all(r["difference_ci_low"] and r["p_improvement"] for r in steps)
    assert md.count("no verdict: 2 replicates: at least 3 are needed for a verdict") == len(steps)
    assert "With 2 replicates the intervals are shown but no step is judged" in md
    for nth in (0, 1):
        assert {r["Verdict"] for r in md_table(md, "Step", nth)} == {
            "no verdict: 2 replicates: at least 3 are needed for a verdict"
        }
    metrics = all_parts["cifar"]
    # Class names with LaTeX specials (the synthetic archive uses CIFAR's names).
    best = max(metrics, key=lambda n: np.mean([m["final_val_accuracy"] for m in metrics[n]]))
    per_class = tex_table(tex, "Class")
    assert {r["Class"] for r in per_class} == set(metrics[best][0]["class_names"])
    assert "aquarium_fish" in metrics[best][0]["class_names"] and r"aquarium\_fish" in tex
    assert "## Not run" not in md
    for part, kinds in (
        ("cifar", ("accuracy", "curves", "confusion", "errors")),
        ("birds", ("accuracy", "curves", "per_class", "errors")),
    ):
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
    figures += sorted((demo_run / "results/demo/cifar").glob("*/rep*/curves.png"))
    figures += sorted((demo_run / "results/demo/birds").glob("*/rep*/curves.png"))
    runs = sum(len(r) for part in ("cifar", "birds") for r in demo_metrics(demo_run, part).values())
    assert len(figures) == 4 + 4 + runs
    for figure in figures:
        assert figure.read_bytes() in stored, f"{figure} is not in the report"
    for table in ("summary.csv", "aggregates.csv", "steps.csv"):
        assert any(n.endswith(table) for n in names), table
    # Categories per part, captions rendered (the demo's synthetic data: the study's
    # reference points do not apply).
    assert '"CIFAR"' in html and '"Birds"' in html and "Summary" in html
    assert "none applies to this run" in html and "BaseNet in the study" not in html


@pytest.mark.slow
def test_report_reruns_only_what_changed(done):
    assert planned_jobs(done, *DEMO) == [], "a finished run plans nothing"

    # A template: only the text is rendered again (and the PDF built from it).
    template = done / "src" / "convstudy" / "report" / "templates" / "report.md.j2"
    template.write_text(template.read_text().replace("### Results", "### Results of this run"))
    rules = {rule for rule, _ in planned_jobs(done, *DEMO)}
    assert "report" in rules and rules <= {"report", "report_pdf", "all"}, rules
    (done / "results/demo/report/report.md").touch()  # as if rendered again

    # One variant's setting: that variant, the part's figures and the report.
    (done / "config" / "change.yaml").write_text(
        "cifar:\n  variants:\n    resnet:\n      label_smoothing: 0.2\n"
    )
    jobs = planned_jobs(done, *DEMO, "config/change.yaml")
    variant_jobs = {(r, w) for r, w in jobs if r.endswith("_cifar") or r == "plot_cifar_curves"}
    assert variant_jobs == {
        (rule, f"variant=resnet, rep={k}")
        for rule in ("train_cifar", "evaluate_cifar", "plot_cifar_curves")
        for k in range(demo_config(done)["replicates"])
    }
    report_jobs = set(jobs) - variant_jobs
    figures = {
        ("report_figure", f"part=cifar, figure={kind}") for kind in parts.part_info("cifar").figures
    }
    assert figures | {("report", ""), ("all", "")} <= report_jobs
    assert report_jobs <= figures | {("report", ""), ("report_pdf", ""), ("all", "")}

    # A description (what the report says about a variant): the report only.
    (done / "config" / "change.yaml").write_text(
        "cifar:\n  variants:\n    resnet:\n      description: ours, described anew\n"
    )
    rules = {rule for rule, _ in planned_jobs(done, *DEMO, "config/change.yaml")}
    assert "report" in rules and rules <= {"report", "report_pdf", "all"}, rules


@pytest.mark.slow
def test_report_of_a_run_with_every_part_off(tmp_path):
    """No part enabled, no latexmk: the report rule succeeds and says what was not run
    and how to build the PDF."""
    workdir = copy_workflow(tmp_path / "workflow")
    (workdir / "config" / "off.yaml").write_text(
        "cifar:\n  enabled: false\nbirds:\n  enabled: false\nreport:\n  latexmk: no-such-latexmk\n"
    )
    snakemake(workdir, "--cores", "1", *DEMO, "config/off.yaml")
    out = workdir / "results/demo/report"
    md = (out / "report.md").read_text()
    assert "Nothing was run" in md and "cifar.enabled: false" in md
    assert (out / "report.tex").exists() and not (out / "report.pdf").exists()
    for table in ("summary.csv", "aggregates.csv", "steps.csv"):
        assert read_csv(out / table) == []
    assert not (out / "figures").exists()
    log = (workdir / "results/demo/logs/report/report.log").read_text()
    assert "no-such-latexmk not found" in log and "latexmk -pdf report.tex" in log
    if HAS_LATEXMK:
        pdf.build_pdf(out / "report.tex", out / "report.pdf")
        assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_best_is_chosen_on_validation_not_test():
    def run(final_val, test):
        return {"final_val_accuracy": final_val, "test": {"accuracy": test}}

    experiments = {
        "a": [run(0.5, 0.9), run(0.5, 0.9)],
        "b": [run(0.7, 0.1), run(0.5, 0.1)],  # mean 0.6
        "c": [run(0.6, 0.2), run(0.6, 0.2)],  # mean 0.6: b comes first
        "d": [run(0.9, 0.9), run(0.1, 0.9)],  # one great replicate, mean 0.5
    }
    assert results.best_experiment(experiments) == "b"


@pytest.mark.slow
def test_report_pdf_never_and_always(done):
    """`never` plans no PDF even where latexmk is installed; `always` plans it even
    where it is not, and then the job fails naming the fix."""
    never = planned_jobs(done, *DEMO, "--config", "report={pdf: never}", "--forcerun", "report")
    assert "report_pdf" not in {rule for rule, _ in never}
    always = ("--config", "report={pdf: always, latexmk: no-such-latexmk}")
    assert "report_pdf" in {rule for rule, _ in planned_jobs(done, *DEMO, *always)}
    proc = snakemake(done, "--cores", "1", *DEMO, *always, check=False)
    assert proc.returncode != 0
    log = (done / "results/demo/logs/report/report_pdf.log").read_text()
    assert "no-such-latexmk not found on PATH" in log and "apt-get install" in log


def test_descriptions_carry_no_number(repo):
    """A description says what a step is for; every number of the method text comes
    from the settings, so the two can never disagree."""
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    entries = {
        **config["cifar"]["variants"],
        **config["birds"]["heads"],
        **config["birds"]["finetune"],
    }
    for name, entry in entries.items():
        text = entry.get("description", "")
        assert not re.search(r"(?<![A-Za-z_\d])\d", text), (name, text)


@pytest.mark.slow
def test_demo_method_text_agrees_with_the_resolved_settings(demo_run):
    from convstudy.config import birds_experiments, cifar_variants, load_schema

    config = demo_config(demo_run)
    md = re.sub(r"\\(.)", r"\1", (demo_run / "results/demo/report/report.md").read_text())
    resolved = {**cifar_variants(config), **birds_experiments(config, load_schema())}
    for name, info in resolved.items():
        block = md.split(f"- **{name}**", 1)[1].split("\n- **", 1)[0]
        settings = info["settings"]
        training = re.search(r"^  - Training: batch (\d+), (\d+) epochs", block, re.M)
        assert training, (name, block)
        assert (int(training[1]), int(training[2])) == (settings["batch_size"], settings["epochs"])
    # Titles name the dataset that ran; the study's reference points, which describe
    # the real datasets, are not drawn for synthetic data, and the report says why.
    assert "## CIFAR: BaseNet and its cumulative improvements on CIFAR-100" in md
    assert "the first 10 fine classes (labels 0 to 9)" in md
    assert md.count("The study's reference points are not drawn: this run uses synthetic") == 2
    assert "BaseNet in the study" not in md
