"""Test metrics of a trained classifier, as written to each experiment's metrics JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def classification_metrics(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> dict:
    """Accuracy, top-5 accuracy, cross-entropy, per-class accuracy and confusion matrix.

    ``probabilities`` is [n, classes] (softmax outputs); the confusion matrix has
    true classes as rows and predicted classes as columns.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n, k = probabilities.shape
    predicted = probabilities.argmax(axis=1)
    top = min(5, k)
    # Ties at the boundary count against the model: rank by strictly-greater scores.
    true_score = probabilities[np.arange(n), labels]
    rank = (probabilities > true_score[:, None]).sum(axis=1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    support = confusion.sum(axis=1)
    per_class = np.divide(np.diag(confusion), support, out=np.full(k, np.nan), where=support > 0)
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "top5_accuracy": float(np.mean(rank < top)),
        "loss": float(-np.mean(np.log(np.clip(true_score, 1e-12, 1.0)))),
        "examples": int(n),
        "per_class_accuracy": {
            name: (None if np.isnan(acc) else float(acc))
            for name, acc in zip(class_names, per_class, strict=True)
        },
        "confusion_matrix": confusion.tolist(),
    }


def history_summary(history: Sequence[Mapping]) -> dict:
    """Best validation accuracy and its epoch, epochs run and total training time."""
    best = max(history, key=lambda row: row["val_accuracy"])
    return {
        "epochs": len(history),
        "training_seconds": round(float(sum(row["seconds"] for row in history)), 2),
        "best_val_accuracy": float(best["val_accuracy"]),
        "best_val_epoch": int(best["epoch"]),
        "final_val_accuracy": float(history[-1]["val_accuracy"]),
    }
