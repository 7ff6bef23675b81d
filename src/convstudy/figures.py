"""The report's figures: one grid of learning curves, one accuracy chart per part, the
confusion matrix and the per-class accuracy of a part's best model.

Every figure is written as PNG (Snakemake's report, Markdown) and PDF (LaTeX) from
one drawing, so the two never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from .plots import draw_learning_curves, plt
from .io import atomic_path
from .report import best_and_worst

#: Colours of experiments by ``kind`` (birds: head on cached features / fine-tuned);
#: parts without kinds use the first.
KIND_COLOURS = ("tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:olive")
REFERENCE_COLOURS = ("tab:red", "tab:orange", "tab:pink", "tab:gray", "tab:cyan")


def save_formats(fig, paths: Sequence[str | Path], dpi: int = 130) -> None:
    """Save one figure in every format of ``paths`` (by extension), atomically."""
    for path in paths:
        path = Path(path)
        fmt = path.suffix.lstrip(".")
        # No creation date in PDFs: the same results give the same bytes.
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        with atomic_path(path, suffix=path.suffix) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt, metadata=metadata)
    plt.close(fig)


def curves_grid(
    histories: Sequence[tuple[str, Sequence[Mapping]]],
    title: str,
    paths: Sequence[str | Path],
    per_row: int = 2,
) -> None:
    """Loss and accuracy (training vs validation) of every experiment, ``per_row`` a row."""
    if not histories:
        raise ValueError("no histories to plot")
    rows = math.ceil(len(histories) / per_row)
    fig, axes = plt.subplots(
        rows, 2 * per_row, figsize=(5.2 * per_row, 2.5 * rows + 0.6), squeeze=False
    )
    for index, (name, history) in enumerate(histories):
        row, col = divmod(index, per_row)
        pair = axes[row, 2 * col : 2 * col + 2]
        draw_learning_curves(pair, history, title=name)
        for ax in pair:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if index:
            pair[1].get_legend().remove()
    for index in range(len(histories), rows * per_row):
        row, col = divmod(index, per_row)
        for ax in axes[row, 2 * col : 2 * col + 2]:
            ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    save_formats(fig, paths)


def _reference_span(accuracy) -> tuple[float, float]:
    if isinstance(accuracy, (list, tuple)):
        low, high = accuracy
        return float(low), float(high)
    return float(accuracy), float(accuracy)


def accuracy_bars(
    experiments: Sequence[Mapping],
    references: Sequence[Mapping],
    title: str,
    paths: Sequence[str | Path],
) -> None:
    """Test accuracy of each experiment in order, with the study's reference points.

    ``experiments``: ``{"name", "accuracy", "kind"}`` (kind may be None);
    ``references``: ``{"label", "accuracy"}`` with a number or a [low, high] range.
    """
    if not experiments:
        raise ValueError("no experiments to plot")
    names = [e["name"] for e in experiments]
    values = [float(e["accuracy"]) for e in experiments]
    kinds = [e.get("kind") for e in experiments]
    kind_order = list(dict.fromkeys(k for k in kinds if k))
    colours = [
        KIND_COLOURS[kind_order.index(k) % len(KIND_COLOURS)] if k else KIND_COLOURS[0]
        for k in kinds
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2.5), 4.2))
    x = np.arange(len(names))
    bars = ax.bar(x, values, color=colours, width=0.65, zorder=3)
    for bar, value in zip(bars, values):
        ax.annotate(
            f"{value:.3f}",
            (bar.get_x() + bar.get_width() / 2, value),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
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
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.set_title(title, fontsize=11)
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    save_formats(fig, paths)


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
        for i, j in zip(*np.nonzero(matrix)):
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
    save_formats(fig, paths)


def per_class_figure(
    per_class: Mapping[str, float | None],
    title: str,
    paths: Sequence[str | Path],
    n: int = 10,
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
        for yi, value in zip(y, values):
            ax.text(min(value + 0.01, 0.9), yi, f"{value:.2f}", va="center", fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_xlabel("test accuracy")
        ax.set_title(label, fontsize=10)
        ax.grid(axis="x", alpha=0.3, zorder=0)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_formats(fig, paths)
