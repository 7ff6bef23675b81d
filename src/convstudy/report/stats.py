"""Statistics over replicates: means with Student-t intervals, paired differences, verdicts.

Replicate ``k`` of every experiment trains with seed ``seed + k`` on the same data
split, so two experiments' replicate ``k`` share initialisation seed, batch order
and augmentation seed: their difference is paired, and pairing removes the part
of the run-to-run spread that both share.

Every replicate is also evaluated on the same fixed test set, itself a sample of the
task's images. With per-image correctness kept, ``accuracy_interval`` and
``compare_step`` count both sources of variance (Bouthillier et al., "Accounting for
Variance in Machine Learning Benchmarks", MLSys 2021): a crossed seeds x images
random-effects model, a Student t with Satterthwaite degrees of freedom, and P(A > B)
for a fresh paired run. ``t_interval`` and ``paired_difference`` treat the test set as
fixed; they remain for measures without per-image data. ``convstudy.report.calibration``
simulates the error rates of both.
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


def t_interval(
    values: Sequence[float], confidence: float = CONFIDENCE, bounded: bool = False
) -> Interval:
    """Mean and two-sided Student-t confidence interval (n - 1 degrees of freedom).

    ``bounded``: the values are shares in [0, 1] (accuracies); the interval is then
    built on the logit scale and transformed back, as :func:`accuracy_interval` does,
    so that it stays inside (0, 1); at a mean of exactly 0 or 1 there is none.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("need one or more values")
    mean = float(x.mean())
    if len(x) == 1:
        return Interval(1, mean, None, None, None)
    # SciPy takes a second to import: only the jobs that draw intervals pay for it.
    from scipy import special, stats

    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df=len(x) - 1)) * std / math.sqrt(len(x))
    if not bounded:
        return Interval(len(x), mean, std, mean - half, mean + half)
    if not 0 < mean < 1:
        return Interval(len(x), mean, std, None, None)
    half /= mean * (1 - mean)
    low, high = special.expit(special.logit(mean) + np.array([-half, half]))
    return Interval(len(x), mean, std, float(low), float(high))


def paired_difference(
    values: Sequence[float], base: Sequence[float], confidence: float = CONFIDENCE
) -> Interval:
    """Interval of the mean of ``values[k] - base[k]`` (replicate k against replicate k)."""
    if len(values) != len(base):
        raise ValueError(f"{len(values)} values paired with {len(base)} of the base")
    return t_interval(np.subtract(values, base), confidence)


def verdict(difference: Interval) -> str | None:
    """``helps`` when the interval of a difference lies above 0, ``hurts`` below, else
    no difference measurable (at this number of replicates); None for a single run and
    for an interval of zero width (replicates that happened to agree show no spread:
    they cannot carry a verdict)."""
    if difference.low is None or difference.high - difference.low <= 1e-12:
        return None
    if difference.low > 0:
        return HELPS
    if difference.high < 0:
        return HURTS
    return NO_DIFFERENCE


#: Fewest replicates that can give a helps/hurts verdict: with 2, the seed component of
#: the spread rests on one degree of freedom and the interval is shown but not judged.
MIN_REPLICATES = 3

#: Bouthillier et al. (MLSys 2021) call an improvement meaningful when a fresh run of the
#: step beats a fresh run of its base with probability above 0.75.
MEANINGFUL_P = 0.75


@dataclass(frozen=True)
class CrossedEstimate:
    """Crossed two-way random-effects estimate (seeds x test images, one value per cell).

    Model: ``y[k, i] = mu + s_k + m_i + e_ki`` with seed effects ``s``, image effects
    ``m`` and a residual (the seed x image interaction) independent and centred. The
    test images are a sample from the task like the seeds are a sample of trainings,
    so the grand mean varies with both. Every field is an array over the leading
    (batch) dimensions of the input, so simulations estimate thousands of studies at
    once with the very code the report uses.
    """

    replicates: int
    images: int
    mean: np.ndarray
    seed: np.ndarray  # sigma_s^2, truncated at 0
    image: np.ndarray  # sigma_i^2, truncated at 0
    residual: np.ndarray  # sigma_e^2 = MS_resid
    variance: np.ndarray  # Var(grand mean) = seed/K + image/N + residual/(K N)
    df: np.ndarray  # Satterthwaite degrees of freedom; nan where the variance is 0

    def half_width(self, confidence: float = CONFIDENCE) -> np.ndarray:
        """Student-t half width of the interval of the mean (nan where variance is 0)."""
        from scipy import stats

        with np.errstate(invalid="ignore"):
            quantile = stats.t.ppf(0.5 + confidence / 2, self.df)
        return quantile * np.sqrt(self.variance)

    @property
    def run_variance(self) -> np.ndarray:
        """Variance of one fresh run's mean: a new seed, a new test set of N images."""
        return self.seed + (self.image + self.residual) / self.images


def crossed_estimate(y: np.ndarray) -> CrossedEstimate:
    """Variance components of integer values ``y[..., K, N]`` (K >= 2 seeds, N >= 2 images).

    The sums of squares are computed in integers, scaled by K N, so that values that do
    not vary give components of exactly 0, not rounding noise that would pass for a
    spread. The variance of the mean uses the components truncated at 0; its
    Satterthwaite degrees of freedom count the seed-level term with the K - 1 of the
    seeds, whichever mean square estimates it.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "biu":
        raise TypeError(f"need integer or bool values, got {y.dtype}")
    k, n = y.shape[-2:]
    if k < 2 or n < 2:
        raise ValueError(f"need at least 2 replicates and 2 images, got {k} x {n}")
    total = y.sum(axis=(-2, -1), dtype=np.int64)
    rows = y.sum(axis=-1, dtype=np.int64)
    columns = y.sum(axis=-2, dtype=np.int64)
    squares = np.square(y, dtype=np.int64).sum(axis=(-2, -1))
    # K N times each sum of squares, exact in int64.
    ss_seed = k * (rows**2).sum(axis=-1) - total**2
    ss_image = n * (columns**2).sum(axis=-1) - total**2
    ss_resid = k * n * squares - total**2 - ss_seed - ss_image
    ms_seed = ss_seed / (k * n * (k - 1))
    ms_image = ss_image / (k * n * (n - 1))
    ms_resid = ss_resid / (k * n * (k - 1) * (n - 1))
    uses_seed = ms_seed > ms_resid
    uses_image = ms_image > ms_resid
    seed = np.where(uses_seed, (ms_seed - ms_resid) / n, 0.0)
    image = np.where(uses_image, (ms_image - ms_resid) / k, 0.0)
    variance = seed / k + image / n + ms_resid / (k * n)
    # K N Var(mean) = S + a_i (MS_image - MS_resid), where S = max(MS_seed, MS_resid)
    # estimates K N Var(replicate means) = N sigma_s^2 + sigma_e^2. S is a seed-level
    # quantity: it keeps the K - 1 degrees of freedom of MS_seed even where MS_resid
    # stands in for it (a seed spread estimated at 0 from 3 replicates is not known
    # with the residual's (K-1)(N-1) degrees of freedom; counting those made the
    # interval too narrow at K = 3, see convstudy.report.calibration).
    seed_level = np.maximum(ms_seed, ms_resid)
    a_image = uses_image.astype(float)
    denominator = (
        seed_level**2 / (k - 1)
        + a_image * ms_image**2 / (n - 1)
        + a_image * ms_resid**2 / ((k - 1) * (n - 1))
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(variance > 0, (k * n * variance) ** 2 / denominator, np.nan)
    return CrossedEstimate(k, n, total / (k * n), seed, image, ms_resid, variance, df)


def _zero_one(correct: np.ndarray, name: str) -> np.ndarray:
    """``correct`` as an int8 [K, N] array of 0 and 1; anything else is refused."""
    x = np.asarray(correct)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 2:
        raise ValueError(f"{name}: need a [replicates, images] array, got shape {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise ValueError(f"{name}: per-image correctness must be 0/1 or bool")
    return x.astype(np.int8)


def accuracy_interval(correct: np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """Mean accuracy of ``correct[k, i]`` (replicate k right on test image i), with an
    interval that counts both the training seeds and the sampling of the test images.

    One replicate: the Wilson interval of the binomial (only the images vary).
    Several: the crossed seeds x images variance components (``crossed_estimate``) and a
    Student t with Satterthwaite degrees of freedom, applied on the logit scale (delta
    method: se_logit = se / (p (1 - p))) and transformed back with the logistic
    function, which maps the whole real line into (0, 1): the interval stays inside
    (0, 1) however close to 0 or 1 the accuracy is. At an accuracy of exactly 0 or 1,
    or with no spread at all, the logit scale has no finite interval and the data show
    no spread to build one: low and high are None rather than a zero-width interval
    that would pretend precision. ``std`` is the sample std of the K per-replicate
    accuracies (ddof=1), as for every other measure of the report.
    """
    from scipy import special, stats

    x = _zero_one(correct, "correct")
    k, n = x.shape
    if k == 1:
        ci = stats.binomtest(int(x.sum()), n).proportion_ci(confidence, method="wilson")
        return Interval(1, float(x.mean()), None, float(ci.low), float(ci.high))
    estimate = crossed_estimate(x)
    mean = float(estimate.mean)
    std = float(x.mean(axis=1).std(ddof=1))
    if mean in (0.0, 1.0) or estimate.variance == 0:
        return Interval(k, mean, std, None, None)
    half = float(estimate.half_width(confidence)) / (mean * (1 - mean))
    low, high = special.expit(special.logit(mean) + np.array([-half, half]))
    return Interval(k, mean, std, float(low), float(high))


@dataclass(frozen=True)
class StepComparison:
    """A step against its base, replicate k against replicate k on the same test images.

    ``seed_only`` is the Student t interval over the K per-replicate differences: it
    treats the test set as fixed. ``low``/``high`` count the test images as a sample
    too (``df``: Satterthwaite). ``p_improvement`` is Bouthillier's P(step > base) for
    a fresh paired run on a fresh test set of N images, with ``p_low``/``p_high``.
    ``reason`` says why ``verdict`` is None.
    """

    replicates: int
    images: int
    mean: float
    seed_only: Interval
    low: float | None
    high: float | None
    df: float | None
    components: dict[str, float]
    p_improvement: float | None
    p_low: float | None
    p_high: float | None
    verdict: str | None
    reason: str | None


def compare_step(
    correct_step: np.ndarray, correct_base: np.ndarray, confidence: float = CONFIDENCE
) -> StepComparison:
    """Compare per-image correctness ``[K, N]`` of a step and of its base.

    d[k, i] = step - base is in {-1, 0, 1}; its mean's interval comes from the crossed
    seeds x images variance components (``crossed_estimate``) with a Student t at the
    Satterthwaite degrees of freedom. A difference of accuracies lives in [-1, 1], so
    the interval is clipped to [-1, 1] (the t interval is symmetric and unbounded; the
    clip only matters for tiny test sets). A verdict needs ``MIN_REPLICATES``
    replicates and an interval of positive width: HELPS when it lies above 0, HURTS
    below, NO_DIFFERENCE otherwise.

    P(improvement) = Phi(mean / tau) with tau^2 = sigma_s^2 + (sigma_i^2 + sigma_e^2)/N,
    the variance of one fresh run's difference; its interval maps the interval of the
    mean the same way, so it excludes 0.5 exactly when the interval excludes 0.
    """
    step, base = np.asarray(correct_step), np.asarray(correct_base)
    if step.shape != base.shape:
        raise ValueError(f"step shape {step.shape} differs from base shape {base.shape}")
    d = _zero_one(step, "step") - _zero_one(base, "base")
    k, n = d.shape
    seed_only = paired_difference(step.mean(axis=1), base.mean(axis=1), confidence)
    if k == 1:
        return _without_interval(seed_only, n, float(d.mean()), {}, "single run")
    estimate = crossed_estimate(d)
    mean = float(estimate.mean)
    components = {
        "seed": float(estimate.seed),
        "image": float(estimate.image),
        "residual": float(estimate.residual),
    }
    if estimate.variance == 0:
        reason = "the interval has zero width: neither replicates nor images show a spread"
        return _without_interval(seed_only, n, mean, components, reason)
    half = float(estimate.half_width(confidence))
    low, high = max(-1.0, mean - half), min(1.0, mean + half)
    p, p_low, p_high = _p_improvement(estimate, (mean, low, high))
    outcome, reason = _verdict(k, low, high)
    return StepComparison(
        replicates=k,
        images=n,
        mean=mean,
        seed_only=seed_only,
        low=low,
        high=high,
        df=float(estimate.df),
        components=components,
        p_improvement=p,
        p_low=p_low,
        p_high=p_high,
        verdict=outcome,
        reason=reason,
    )


def _without_interval(
    seed_only: Interval, images: int, mean: float, components: dict[str, float], reason: str
) -> StepComparison:
    """A comparison that can show no interval, hence no P(improvement) and no verdict."""
    return StepComparison(
        replicates=seed_only.n,
        images=images,
        mean=mean,
        seed_only=seed_only,
        low=None,
        high=None,
        df=None,
        components=components,
        p_improvement=None,
        p_low=None,
        p_high=None,
        verdict=None,
        reason=reason,
    )


def _p_improvement(
    estimate: CrossedEstimate, values: tuple[float, float, float]
) -> tuple[float, float, float]:
    """Phi(value / tau) for the mean and both ends of its interval (Bouthillier et al.)."""
    from scipy import stats

    tau = math.sqrt(float(estimate.run_variance))
    return tuple(float(stats.norm.cdf(v / tau)) for v in values)


def _verdict(replicates: int, low: float, high: float) -> tuple[str | None, str | None]:
    """Verdict of an interval of positive width, and why there is none."""
    if replicates < MIN_REPLICATES:
        return None, f"{replicates} replicates: at least {MIN_REPLICATES} are needed for a verdict"
    if low > 0:
        return HELPS, None
    if high < 0:
        return HURTS, None
    return NO_DIFFERENCE, None


def ensemble_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of soft voting: the argmax of the replicates' mean class probabilities.

    ``probabilities[K, N, C]`` may be float16 (as stored); the mean is taken in float64
    so that K small probabilities do not lose digits. Ties go to the lowest class index
    (numpy's argmax keeps the first maximum).
    """
    p = np.asarray(probabilities)
    y = np.asarray(labels)
    if p.ndim != 3 or y.shape != (p.shape[1],):
        raise ValueError(
            f"probabilities {p.shape} need to be [K, N, C] with labels [N], got {y.shape}"
        )
    predicted = p.mean(axis=0, dtype=np.float64).argmax(axis=-1)
    return float((predicted == y).mean())
