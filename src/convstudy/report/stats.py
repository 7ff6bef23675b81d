"""Statistics over replicates: means with Student-t intervals, paired differences, verdicts.

Replicate ``k`` of every experiment trains with seed ``seed + k`` on the same data
split, so two experiments' replicate ``k`` share initialisation seed, batch order
and augmentation seed: their difference is paired, and pairing removes the part
of the run-to-run spread that both share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Confidence of every interval in the report.
CONFIDENCE = 0.95

HELPS, HURTS, NO_DIFFERENCE = "helps", "hurts", "no difference measurable"


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with its standard deviation and confidence interval.

    ``std`` (sample standard deviation, n - 1) and the interval are None for a
    single value: one run says nothing about the spread.
    """

    n: int
    mean: float
    std: float | None
    low: float | None
    high: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.low is None else (self.high - self.low) / 2


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and two-sided Student-t confidence interval (n - 1 degrees of freedom)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("need one or more values")
    mean = float(x.mean())
    if len(x) == 1:
        return Interval(1, mean, None, None, None)
    # SciPy takes a second to import: only the jobs that draw intervals pay for it.
    from scipy import stats

    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df=len(x) - 1)) * std / math.sqrt(len(x))
    return Interval(len(x), mean, std, mean - half, mean + half)


def paired_difference(
    values: Sequence[float], base: Sequence[float], confidence: float = CONFIDENCE
) -> Interval:
    """Interval of the mean of ``values[k] - base[k]`` (replicate k against replicate k)."""
    if len(values) != len(base):
        raise ValueError(f"{len(values)} values paired with {len(base)} of the base")
    return t_interval(np.subtract(values, base), confidence)


def verdict(difference: Interval) -> str | None:
    """``helps`` when the interval of a difference lies above 0, ``hurts`` below, else
    no difference measurable (at this number of replicates); None for a single run."""
    if difference.low is None:
        return None
    if difference.low > 0:
        return HELPS
    if difference.high < 0:
        return HURTS
    return NO_DIFFERENCE
