"""Intervals over seeds and test images: closed forms, verdict rules, P(improvement)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

from convstudy.report import stats


def mean_squares_by_loops(d: np.ndarray) -> tuple[float, float, float]:
    """MS_seed, MS_image, MS_resid of a balanced two-way table, written out cell by cell."""
    k, n = d.shape
    grand = sum(d[a, i] for a in range(k) for i in range(n)) / (k * n)
    row = [sum(d[a, i] for i in range(n)) / n for a in range(k)]
    col = [sum(d[a, i] for a in range(k)) / k for i in range(n)]
    ss_seed = n * sum((row[a] - grand) ** 2 for a in range(k))
    ss_image = k * sum((col[i] - grand) ** 2 for i in range(n))
    ss_resid = sum((d[a, i] - row[a] - col[i] + grand) ** 2 for a in range(k) for i in range(n))
    return ss_seed / (k - 1), ss_image / (n - 1), ss_resid / ((k - 1) * (n - 1))


# Hand-made: replicates of very different quality, and images the step fixes unevenly,
# so that both the seed and the image components are positive.
STEP = np.array(
    [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [0, 0, 1, 0, 0, 1, 0, 1],
        [1, 0, 1, 0, 0, 0, 0, 1],
    ]
)
BASE = np.array(
    [
        [0, 0, 0, 0, 0, 0, 1, 1],
        [0, 0, 0, 0, 0, 0, 1, 0],
        [1, 0, 0, 0, 1, 0, 0, 1],
    ]
)


def test_interval_against_mean_squares_computed_cell_by_cell():
    """Both components positive: Var(mean) = (MS_seed + MS_image - MS_resid) / (K N), and
    Satterthwaite's df for that combination, with the t quantile from scipy; a
    difference of accuracies cannot pass 1, so the interval is clipped there."""
    d = STEP - BASE
    k, n = d.shape
    ms_seed, ms_image, ms_resid = mean_squares_by_loops(d)
    assert ms_seed > ms_resid and ms_image > ms_resid  # the case this test is about
    variance = (ms_seed + ms_image - ms_resid) / (k * n)
    df = (ms_seed + ms_image - ms_resid) ** 2 / (
        ms_seed**2 / (k - 1) + ms_image**2 / (n - 1) + ms_resid**2 / ((k - 1) * (n - 1))
    )
    half = sps.t.ppf(0.975, df) * np.sqrt(variance)
    result = stats.compare_step(STEP, BASE)
    assert result.mean == pytest.approx(d.mean())
    assert result.df == pytest.approx(df)
    # 8 images leave a wide interval: its upper end, above 1, is clipped to 1.
    assert d.mean() + half > 1 and result.high == 1.0
    assert result.low == pytest.approx(d.mean() - half)
    assert result.components == pytest.approx(
        {"seed": (ms_seed - ms_resid) / n, "image": (ms_image - ms_resid) / k, "residual": ms_resid}
    )
    assert (result.replicates, result.images) == (3, 8)


def test_zero_image_component_gives_the_seed_only_interval():
    """Every image has the same column sum, so MS_image = 0 and the image component is
    truncated: Var(mean) = MS_seed / (K N) = var(per-replicate differences) / K, df = K - 1.
    Per-replicate differences 1/2, 1/3, 1/6: variance 1/36, so Var(mean) = 1/108."""
    pattern = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1]], dtype=bool)
    step = np.tile(pattern, (1, 10))
    base = np.zeros_like(step)
    result = stats.compare_step(step, base)
    half = sps.t.ppf(0.975, 2) * np.sqrt(1 / 108)
    assert result.components["image"] == 0.0 and result.components["seed"] > 0
    assert result.df == pytest.approx(2.0)
    assert (result.low, result.high) == pytest.approx((1 / 3 - half, 1 / 3 + half))
    assert (result.seed_only.low, result.seed_only.high) == pytest.approx((result.low, result.high))
    assert result.verdict == stats.NO_DIFFERENCE


def test_seed_only_interval_is_the_paired_difference_of_accuracies():
    rng = np.random.default_rng(3)
    base = rng.random((5, 300)) < 0.45
    step = rng.random((5, 300)) < 0.5
    expected = stats.paired_difference(step.mean(axis=1), base.mean(axis=1))
    assert stats.compare_step(step, base).seed_only == expected


def test_shapes_must_match():
    with pytest.raises(ValueError, match=r"\(3, 8\).*\(3, 7\)"):
        stats.compare_step(STEP, BASE[:, :7])
    with pytest.raises(ValueError, match="0/1"):
        stats.compare_step(STEP * 2, BASE)


def test_same_wins_in_every_replicate_count_only_the_images():
    """The step beats its base on the same 5 of 50 images in all 4 replicates: the
    seed-only interval has zero width, the new one keeps the test images' spread
    (image component only, df = N - 1)."""
    rng = np.random.default_rng(0)
    base = np.tile(rng.random(50) < 0.4, (4, 1))
    wins = np.flatnonzero(~base[0])[:5]
    step = base.copy()
    step[:, wins] = True
    result = stats.compare_step(step, base)
    assert result.seed_only.std == 0.0 and result.seed_only.low == result.seed_only.high
    assert result.components["seed"] == 0.0 and result.components["residual"] == 0.0
    assert result.df == pytest.approx(49)
    # Var(mean) = sum((c_i - 0.1)^2) / ((N - 1) N) with 5 columns at 1 and 45 at 0.
    half = sps.t.ppf(0.975, 49) * np.sqrt((5 * 0.9**2 + 45 * 0.1**2) / (49 * 50))
    assert (result.low, result.high) == pytest.approx((0.1 - half, 0.1 + half))


@pytest.mark.parametrize("step_value, base_value", [(1, 1), (1, 0), (0, 0)])
def test_no_spread_at_all_gives_no_verdict(step_value, base_value):
    step = np.full((4, 30), step_value)
    base = np.full((4, 30), base_value)
    result = stats.compare_step(step, base)
    assert result.verdict is None and "zero width" in result.reason
    assert result.low is None and result.high is None and result.p_improvement is None


def clear_gain(replicates: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A base near 0.45 and a step that fixes 25-45 and breaks 5-15 of 400 images,
    different images and counts in every replicate."""
    rng = np.random.default_rng(seed)
    base = rng.random((replicates, 400)) < 0.45
    step = base.copy()
    for k in range(replicates):
        wrong, right = np.flatnonzero(~base[k]), np.flatnonzero(base[k])
        step[k, rng.choice(wrong, rng.integers(25, 46), replace=False)] = True
        step[k, rng.choice(right, rng.integers(5, 16), replace=False)] = False
    return step, base


def test_clear_gain_helps_and_mirrored_hurts():
    step, base = clear_gain(5)
    helps = stats.compare_step(step, base)
    assert helps.verdict == stats.HELPS and helps.low > 0 and helps.reason is None
    hurts = stats.compare_step(base, step)
    assert hurts.verdict == stats.HURTS and hurts.high < 0
    assert (hurts.low, hurts.high) == pytest.approx((-helps.high, -helps.low))


def test_two_replicates_never_give_a_verdict_single_run_no_interval():
    """Both replicates fix 200 images (different ones) of 400 and break none: even
    with the one degree of freedom of two seeds the interval lies above 0, and still
    two replicates give no verdict."""
    rng = np.random.default_rng(2)
    base = rng.random((2, 400)) < 0.45
    step = base.copy()
    for k in range(2):
        step[k, rng.choice(np.flatnonzero(~base[k]), 200, replace=False)] = True
    two = stats.compare_step(step, base)
    assert two.df < 2 and two.low > 0
    assert two.verdict is None and two.reason.startswith("2 replicates") and "3" in two.reason
    one = stats.compare_step(step[:1], base[:1])
    assert (one.verdict, one.reason, one.low, one.p_improvement) == (None, "single run", None, None)


def test_p_improvement():
    """Phi(mean / tau), tau^2 = sigma_s^2 + (sigma_i^2 + sigma_e^2) / N; 0.5 at a zero
    mean; its interval excludes 0.5 exactly when there is a helps/hurts verdict."""
    assert stats.MEANINGFUL_P == 0.75
    step, base = clear_gain(5)
    result = stats.compare_step(step, base)
    c = result.components
    tau = np.sqrt(c["seed"] + (c["image"] + c["residual"]) / 400)
    assert result.p_improvement == pytest.approx(sps.norm.cdf(result.mean / tau))
    assert result.p_low == pytest.approx(sps.norm.cdf(result.low / tau))
    assert 0.5 < result.p_low < result.p_improvement < result.p_high
    # Zero mean: the step's wins in each replicate are undone by as many losses.
    even = np.zeros((4, 60), dtype=int)
    for k, count in enumerate([3, 7, 1, 5]):
        even[k, :count] = 1
    zero = stats.compare_step(even, np.roll(even, 30, axis=1))
    assert zero.mean == 0 and zero.p_improvement == 0.5 and zero.p_low < 0.5 < zero.p_high


def test_p_interval_excludes_one_half_exactly_with_a_verdict():
    rng = np.random.default_rng(5)
    seen = set()
    for gain, k in itertools.product([-0.06, -0.02, 0.0, 0.02, 0.06], [3, 5]):
        base = rng.random((k, 500)) < 0.45
        step = rng.random((k, 500)) < 0.45 + gain
        result = stats.compare_step(step, base)
        excludes = result.p_low > 0.5 or result.p_high < 0.5
        assert excludes == (result.verdict in (stats.HELPS, stats.HURTS))
        seen.add(result.verdict)
    assert seen == {stats.HELPS, stats.HURTS, stats.NO_DIFFERENCE}


def test_accuracy_interval_stays_inside_zero_one():
    """1 wrong image of 40 in both replicates: only the image component, df = 39,
    se = 0.025; on the accuracy scale mean + t se would pass 1, on the logit scale
    the interval is expit(logit(0.975) +- t se / (0.975 * 0.025))."""
    correct = np.ones((2, 40), dtype=bool)
    correct[:, 7] = False
    interval = stats.accuracy_interval(correct)
    t = sps.t.ppf(0.975, 39)
    assert 0.975 + t * 0.025 > 1
    expected = special.expit(special.logit(0.975) + np.array([-1, 1]) * t / 0.975)
    assert (interval.low, interval.high) == pytest.approx(tuple(expected))
    assert 0 < interval.low < interval.mean < interval.high < 1
    assert (interval.n, interval.std) == (2, 0.0)
    other = correct.copy()
    other[1, 7] = True  # replicate 1 is right everywhere
    spread = stats.accuracy_interval(other)
    assert 0 < spread.low < 0.9875 < spread.high < 1
    assert spread.std == pytest.approx(np.std([0.975, 1.0], ddof=1))


def test_accuracy_interval_has_none_where_it_would_pretend():
    perfect = stats.accuracy_interval(np.ones((3, 40), dtype=bool))
    assert (perfect.mean, perfect.low, perfect.high) == (1.0, None, None)
    none = stats.accuracy_interval(np.zeros((3, 40), dtype=bool))
    assert (none.mean, none.low, none.high) == (0.0, None, None)


def test_single_replicate_accuracy_is_wilson():
    correct = np.zeros((1, 50), dtype=bool)
    correct[0, :18] = True
    interval = stats.accuracy_interval(correct)
    ci = sps.binomtest(18, 50).proportion_ci(0.95, method="wilson")
    assert (interval.n, interval.mean, interval.std) == (1, 0.36, None)
    assert (interval.low, interval.high) == pytest.approx((ci.low, ci.high))


def test_accuracy_interval_over_seeds_and_images():
    """Several replicates: K N Var(mean) = MS_seed + MS_image - MS_resid (both components
    positive here), mapped to the logit scale."""
    correct = np.array(
        [
            [1, 1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 1, 0, 0],
            [0, 0, 0, 1, 1, 1, 0, 0],
        ]
    )
    ms_seed, ms_image, ms_resid = mean_squares_by_loops(correct)
    assert ms_seed > ms_resid and ms_image > ms_resid
    k, n = correct.shape
    p = correct.mean()
    df = (ms_seed + ms_image - ms_resid) ** 2 / (
        ms_seed**2 / (k - 1) + ms_image**2 / (n - 1) + ms_resid**2 / ((k - 1) * (n - 1))
    )
    se = np.sqrt((ms_seed + ms_image - ms_resid) / (k * n))
    half = sps.t.ppf(0.975, df) * se / (p * (1 - p))
    interval = stats.accuracy_interval(correct)
    assert (interval.low, interval.high) == pytest.approx(
        tuple(special.expit(special.logit(p) + np.array([-half, half])))
    )


def test_ensemble_soft_voting_beats_the_majority():
    """Image 0 (label 0): two of three replicates are wrong, each for a different class,
    but the mean probability of class 0 (0.6) wins. Image 1: a tie between classes 1
    and 2 goes to the lower index, 1, the label. Image 2: all wrong."""
    probabilities = np.array(
        [
            [[0.45, 0.55, 0.0], [0.0, 0.5, 0.5], [0.2, 0.0, 0.8]],
            [[0.45, 0.0, 0.55], [0.0, 0.5, 0.5], [0.2, 0.0, 0.8]],
            [[0.9, 0.05, 0.05], [0.0, 0.5, 0.5], [0.2, 0.0, 0.8]],
        ]
    )
    labels = np.array([0, 1, 0])
    assert stats.ensemble_accuracy(probabilities, labels) == pytest.approx(2 / 3)
    assert stats.ensemble_accuracy(probabilities.astype(np.float16), labels) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="labels"):
        stats.ensemble_accuracy(probabilities, labels[:2])
