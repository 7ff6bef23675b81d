"""Figures: learning curves of one experiment (the report adds grids and charts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_path  # noqa: E402


def draw_learning_curves(axes, history: Sequence[Mapping], title: str = "") -> None:
    """Loss and accuracy, training vs validation, on two axes."""
    epochs = [row["epoch"] for row in history]
    for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, [row[key] for row in history], label="training", color="tab:blue")
        ax.plot(
            epochs, [row[f"val_{key}"] for row in history], label="validation", color="tab:orange"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if title:
            ax.set_title(f"{title}: {label}", fontsize=9)
    axes[1].set_ylim(0, 1)
    axes[1].legend(loc="lower right", fontsize=8)


def save_figure(fig, path: str | Path, dpi: int = 120) -> None:
    """Save atomically, in the format of the file's extension."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip("."))
    plt.close(fig)


def learning_curve_figure(history: Sequence[Mapping], title: str, path: str | Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    draw_learning_curves(axes, history)
    fig.suptitle(title, fontsize=11)
    save_figure(fig, path)
