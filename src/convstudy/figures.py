"""Every figure of the workflow: one experiment's learning curves, and the report's
accuracy chart, curve grid, confusion matrix, per-class accuracy and error gallery.

Each figure is drawn once and saved in every format asked for (PNG for Snakemake's
report and Markdown, PDF for LaTeX) by :func:`save_figure`, so the two never
disagree; PDFs carry no creation date, so the same results give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .files import atomic_path  # noqa: E402
from .report.parts import PER_CLASS_SHOWN  # noqa: E402
from .report.results import best_and_worst  # noqa: E402
from .report.stats import Interval  # noqa: E402

#: Colours of experiments by ``kind`` (birds: head on cached features / fine-tuned);
#: parts without kinds use the first.
KIND_COLOURS = ("tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:olive")
REFERENCE_COLOURS = ("tab:red", "tab:orange", "tab:pink", "tab:gray", "tab:cyan")
TRAIN_COLOUR, VAL_COLOUR = "tab:blue", "tab:orange"


def save_figure(fig, paths: str | Path | Sequence[str | Path], dpi: int = 130) -> None:
    """Save one figure in the format of each path's extension, atomically; close it."""
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        fmt = path.suffix.lstrip(".")
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        with atomic_path(path, suffix=path.suffix) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt, metadata=metadata)
    plt.close(fig)


# --------------------------------------------------------------------------------------
# Learning curves.


def _curve(histories: Sequence[Sequence[Mapping]], key: str) -> tuple[list, np.ndarray]:
    """Epochs and a [replicates, epochs] array of ``key``, cut to the shortest history."""
    length = min(len(h) for h in histories)
    epochs = [row["epoch"] for row in histories[0][:length]]
    return epochs, np.array([[row[key] for row in h[:length]] for h in histories])


def draw_learning_curves(axes, histories: Sequence[Sequence[Mapping]], title: str = "") -> None:
    """Loss and accuracy, training vs validation, on two axes: the mean over the
    replicates' histories, shaded from the lowest to the highest replicate."""
    for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        for prefix, colour, name in (
            ("", TRAIN_COLOUR, "training"),
            ("val_", VAL_COLOUR, "validation"),
        ):
            epochs, values = _curve(histories, prefix + key)
            ax.plot(epochs, values.mean(axis=0), label=name, color=colour)
            if len(values) > 1:
                ax.fill_between(
                    epochs, values.min(axis=0), values.max(axis=0), color=colour, alpha=0.2, lw=0
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if title:
            ax.set_title(f"{title}: {label}", fontsize=9)
    axes[1].set_ylim(0, 1)
    axes[1].legend(loc="lower right", fontsize=8)


def learning_curve_figure(history: Sequence[Mapping], title: str, path: str | Path) -> None:
    """One training run's learning curves (each experiment's curves.png)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    draw_learning_curves(axes, [history])
    fig.suptitle(title, fontsize=11)
    save_figure(fig, path, dpi=120)


def curves_grid(
    experiments: Sequence[tuple[str, Sequence[Sequence[Mapping]]]],
    title: str,
    paths: Sequence[str | Path],
    per_row: int = 2,
) -> None:
    """Learning curves of every experiment (each: its replicates' histories), ``per_row`` a row."""
    if not experiments:
        raise ValueError("no histories to plot")
    rows = math.ceil(len(experiments) / per_row)
    fig, axes = plt.subplots(
        rows, 2 * per_row, figsize=(5.2 * per_row, 2.5 * rows + 0.6), squeeze=False
    )
    for index, (name, histories) in enumerate(experiments):
        row, col = divmod(index, per_row)
        pair = axes[row, 2 * col : 2 * col + 2]
        draw_learning_curves(pair, histories, title=name)
        if index:
            pair[1].get_legend().remove()
    for index in range(len(experiments), rows * per_row):
        row, col = divmod(index, per_row)
        for ax in axes[row, 2 * col : 2 * col + 2]:
            ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    save_figure(fig, paths)


# --------------------------------------------------------------------------------------
# The report's overview and best-model figures.


def _reference_span(accuracy) -> tuple[float, float]:
    if isinstance(accuracy, (list, tuple)):
        low, high = accuracy
        return float(low), float(high)
    return float(accuracy), float(accuracy)


def _offsets(count: int, width: float = 0.4) -> np.ndarray:
    """Fixed horizontal spread of ``count`` replicate dots around a bar's centre."""
    if count == 1:
        return np.zeros(1)
    return np.linspace(-width / 2, width / 2, count)


#: The accuracy chart's vertical range: an interval beyond it is drawn to its edge
#: and marked with an arrowhead there.
ACCURACY_LIMITS = (0.0, 1.05)


def _interval_line(ax, x: float, interval: Interval, limits=ACCURACY_LIMITS) -> None:
    """The interval as an error bar, cut to ``limits``; a cut end gets an arrowhead."""
    low, high = max(interval.low, limits[0]), min(interval.high, limits[1])
    ax.vlines(x, low, high, color="black", lw=1.2, zorder=6)
    for end, cut, marker in (
        (low, interval.low < limits[0], "v"),
        (high, interval.high > limits[1], "^"),
    ):
        if cut:
            ax.plot(x, end, marker=marker, color="black", ms=6, zorder=6)
        else:
            ax.hlines(end, x - 0.08, x + 0.08, color="black", lw=1.2, zorder=6)


def accuracy_chart(
    experiments: Sequence[Mapping],
    references: Sequence[Mapping],
    title: str,
    paths: Sequence[str | Path],
) -> None:
    """Test accuracy of each experiment in order, with the study's reference points.

    ``experiments``: ``{"name", "kind", "values", "interval", "ensemble"}``: one test
    accuracy per replicate, the interval of their mean (an :class:`Interval`; its
    bounds may be None), the accuracy of the replicates' ensemble (None for single
    runs); kind may be None. Bars are means, dots the replicates, black lines the
    intervals, diamonds the ensembles; the legend sits below the axes so that it hides
    no bar.
    """
    if not experiments:
        raise ValueError("no experiments to plot")
    names = [e["name"] for e in experiments]
    kinds = [e.get("kind") for e in experiments]
    kind_order = list(dict.fromkeys(k for k in kinds if k))
    colours = [
        KIND_COLOURS[kind_order.index(k) % len(KIND_COLOURS)] if k else KIND_COLOURS[0]
        for k in kinds
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2.5), 4.8), layout="constrained")
    x = np.arange(len(names))
    means = [float(np.mean(e["values"])) for e in experiments]
    many = any(len(e["values"]) > 1 for e in experiments)
    ax.bar(x, means, color=colours, width=0.65, zorder=3, alpha=0.55 if many else 1.0)
    for xi, e, mean in zip(x, experiments, means, strict=True):
        if len(e["values"]) > 1:
            offsets = _offsets(len(e["values"]))
            ax.scatter(xi + offsets, e["values"], s=12, color="black", zorder=5, lw=0)
        if e.get("interval") is not None and e["interval"].low is not None:
            _interval_line(ax, xi, e["interval"])
        if e.get("ensemble") is not None:
            ax.scatter(
                xi + 0.22,
                e["ensemble"],
                marker="D",
                s=22,
                color="white",
                edgecolor="black",
                zorder=7,
            )
        # On the bar's top, boxed: an interval line may cross it, but the mean stays
        # readable.
        ax.annotate(
            f"{mean:.3f}",
            (xi, mean),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            zorder=8,
            bbox={
                "boxstyle": "round,pad=0.15",
                "facecolor": "white",
                "edgecolor": "none",
                "alpha": 0.85,
            },
        )
    handles = []
    for i, ref in enumerate(references):
        colour = REFERENCE_COLOURS[i % len(REFERENCE_COLOURS)]
        low, high = _reference_span(ref["accuracy"])
        label = ref["label"] + (f" ({low:.2f})" if low == high else f" ({low:.2f}-{high:.2f})")
        if low == high:
            handles.append(ax.axhline(low, color=colour, ls="--", lw=1.4, label=label, zorder=4))
        else:
            handles.append(
                ax.axhspan(low, high, color=colour, alpha=0.18, label=label, zorder=1, lw=0)
            )
    for kind in kind_order:
        colour = KIND_COLOURS[kind_order.index(kind) % len(KIND_COLOURS)]
        handles.append(plt.Rectangle((0, 0), 1, 1, color=colour, label=kind))
    if any(e.get("ensemble") is not None for e in experiments):
        handles.append(
            plt.Line2D(
                [],
                [],
                marker="D",
                ls="",
                color="white",
                markeredgecolor="black",
                label="ensemble of the replicates",
            )
        )
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(*ACCURACY_LIMITS)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.set_title(title, fontsize=11)
    if handles:
        # Below the axes, outside them: it hides no bar, dot or label.
        fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    save_figure(fig, paths)


def confusion_figure(
    confusion: Sequence[Sequence[int]],
    class_names: Sequence[str],
    title: str,
    paths: Sequence[str | Path],
) -> None:
    """Confusion matrix (true rows, predicted columns), coloured by the share of each row.

    Counts are written in the cells when the matrix is small enough to read them.
    """
    matrix = np.asarray(confusion, dtype=np.int64)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {matrix.shape} for {k} class names")
    support = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, support, out=np.zeros(matrix.shape), where=support > 0)
    size = min(14.0, 2.5 + 0.42 * k)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        for i, j in zip(*np.nonzero(matrix), strict=True):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=7 if k <= 15 else 5.5,
                color="white" if shares[i, j] > 0.5 else "black",
            )
    ticks = np.arange(k)
    ax.set_xticks(ticks, class_names, rotation=90, fontsize=8)
    ax.set_yticks(ticks, class_names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    save_figure(fig, paths)


def per_class_figure(
    per_class: Mapping[str, float | None],
    title: str,
    paths: Sequence[str | Path],
    n: int = PER_CLASS_SHOWN,
) -> None:
    """Horizontal bars of the ``n`` best and ``n`` worst classes of one model."""
    best, worst = best_and_worst(per_class, n)
    if not best:
        raise ValueError("no class has test examples")
    rows = max(len(best), len(worst))
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.3 * rows + 1.6), sharex=True)
    for ax, group, label, colour in (
        (axes[0], best, f"{len(best)} best classes", "tab:green"),
        (axes[1], worst, f"{len(worst)} worst classes", "tab:red"),
    ):
        names = [name for name, _ in group]
        values = [acc for _, acc in group]
        y = np.arange(len(group))
        ax.barh(y, values, color=colour, zorder=3)
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        for yi, value in zip(y, values, strict=True):
            ax.text(min(value + 0.01, 0.9), yi, f"{value:.2f}", va="center", fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_xlabel("test accuracy")
        ax.set_title(label, fontsize=10)
        ax.grid(axis="x", alpha=0.3, zorder=0)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, paths)


def error_gallery(
    images: np.ndarray,
    captions: Sequence[str],
    title: str,
    paths: Sequence[str | Path],
    per_row: int = 4,
) -> None:
    """Test images in a grid, each with its caption (true and predicted class)."""
    if len(images) == 0:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no test image is ever wrong", ha="center", va="center")
    else:
        rows = math.ceil(len(images) / per_row)
        fig, axes = plt.subplots(rows, per_row, figsize=(2.6 * per_row, 2.9 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, image, caption in zip(axes.flat, images, captions, strict=False):
            ax.imshow(image, interpolation="nearest" if image.shape[0] < 64 else "antialiased")
            ax.set_title(caption, fontsize=7.5)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, paths)
