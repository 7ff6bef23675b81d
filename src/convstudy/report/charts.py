"""The report's figures of one part, each from the part's runs: read from their
``metrics.json`` and the files beside it (history, predictions), grouped by
experiment the same way for every kind of figure, and drawn by
:mod:`convstudy.figures`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..files import load_arrays, read_history
from .results import (
    aggregate,
    best_experiment,
    by_experiment,
    ensemble,
    load_metrics,
    mean_per_class,
    measure,
    pooled_confusion,
    predictions,
)

log = logging.getLogger(__name__)

#: Images in the error gallery.
ERRORS_SHOWN = 16


def _best(runs: Mapping[str, Sequence[Mapping]]) -> str:
    best = best_experiment(runs)
    log.info("best by mean final validation accuracy: %s", best)
    return best


def accuracy(runs, title, outputs, *, kinds: Mapping, references: Sequence, **_) -> None:
    from ..figures import accuracy_chart

    accuracy_chart(
        [
            {
                "name": name,
                "kind": kinds.get(name),
                "values": measure(ms, "test_accuracy"),
                "interval": aggregate(ms)["test_accuracy"],
                "ensemble": ensemble(ms),
            }
            for name, ms in runs.items()
        ],
        references,
        title,
        outputs,
    )


def curves(runs, title, outputs, **_) -> None:
    from ..figures import curves_grid

    histories = {
        name: [read_history(Path(m["path"]).with_name("history.csv")) for m in ms]
        for name, ms in runs.items()
    }
    curves_grid(list(histories.items()), title, outputs)


def confusion(runs, title, outputs, **_) -> None:
    from ..figures import confusion_figure

    best = _best(runs)
    confusion_figure(
        pooled_confusion(runs[best]), runs[best][0]["class_names"], f"{title}: {best}", outputs
    )


def per_class(runs, title, outputs, **_) -> None:
    from ..figures import per_class_figure

    best = _best(runs)
    per_class_figure(mean_per_class(runs[best]), f"{title}: {best}", outputs)


def most_wrong(rows: Sequence[Mapping], shown: int = ERRORS_SHOWN) -> list[dict]:
    """The test images the replicates get wrong most often (ties: the lower mean
    probability of the true class first, then the image's index): for each, its index,
    how many replicates got it wrong and the class they predicted most often instead."""
    labels = rows[0]["labels"].astype(int)
    predicted = np.stack([r["predicted"] for r in rows]).astype(int)
    true_probability = np.stack(
        [r["probabilities"][np.arange(len(labels)), labels].astype(np.float64) for r in rows]
    ).mean(axis=0)
    wrong = (predicted != labels).sum(axis=0)
    order = np.lexsort((np.arange(len(labels)), true_probability, -wrong))
    out = []
    for i in order[:shown]:
        if wrong[i] == 0:
            break
        instead = predicted[:, i][predicted[:, i] != labels[i]]
        out.append(
            {
                "index": int(i),
                "wrong": int(wrong[i]),
                "of": len(rows),
                "true": int(labels[i]),
                "predicted": int(np.bincount(instead).argmax()),
            }
        )
    return out


def errors(runs, title, outputs, *, data: str, **_) -> None:
    from ..figures import error_gallery

    best = _best(runs)
    names = runs[best][0]["class_names"]
    found = most_wrong([predictions(m) for m in runs[best]])
    images = load_arrays(data)["x_test"]
    error_gallery(
        images[[e["index"] for e in found]] if found else images[:0],
        [
            f"true: {names[e['true']]}\npredicted: {names[e['predicted']]}"
            + (f" ({e['wrong']}/{e['of']})" if e["of"] > 1 else "")
            for e in found
        ],
        f"{title}: {best}",
        outputs,
    )


#: Each kind of report figure, and what its rule hands it besides the runs.
KINDS = {
    "accuracy": accuracy,
    "curves": curves,
    "confusion": confusion,
    "per_class": per_class,
    "errors": errors,
}


def draw(
    kind: str,
    metrics: Sequence[str | Path],
    names: Sequence[str],
    title: str,
    outputs: Sequence[str | Path],
    **extra,
) -> None:
    """Draw the figure ``kind`` of a part from its runs' ``metrics`` files, experiments
    in the order of ``names`` (the configuration's)."""
    grouped = by_experiment(load_metrics(metrics))
    runs = {name: grouped[name] for name in names}
    KINDS[kind](runs, title, outputs, **extra)
