"""How often do the report's step verdicts err? A simulation of paired step comparisons.

Each simulated study trains a step and its base K times (replicate k of both shares
seed k) and evaluates every replicate on one fixed test set of N images, drawn afresh
for each study from the task. Image i is right for model m, replicate k, with
probability ``expit(a_m + b_i + u_mi + s_mk)``:

* ``b_i ~ N(0, difficulty_sd^2)``, the image's difficulty, shared by all models;
* ``u_mi ~ N(0, interaction_sd^2)``, each model's own zero-mean per-image offset:
  different networks get different images wrong, so two equally good models differ on
  any one fixed test set, by an amount that only more test images shrink;
* ``s_mk ~ N(0, seed_sd^2)``, the seed's effect on the whole run, correlated
  (``seed_correlation``) between step and base of the same replicate;
* the Bernoulli draw itself, independent per model, replicate and image: a seed decides
  which of the borderline images a run gets right;
* ``a_m`` sets the expected accuracy: ``base_accuracy`` for the base, plus the true
  ``gain`` for the step, each solved numerically on the logit scale (``logit_offset``).

Default parameters, at a base accuracy of 0.45 (BaseNet on CIFAR-100): difficulty_sd
2.5, interaction_sd 1.0, seed_sd 0.1, seed_correlation 0.5. They give a seed-to-seed
std of one model's accuracy of about 0.012 on an unlimited test set and 0.014 on 2500
images (0.028 on 200: binomial noise of a small test set adds to it), within the
0.01-0.02 seen across seeds of small CNNs; two runs of one model disagree on about 25%
of the images, two different models of equal accuracy on about 29%, at the upper end
of the 15-30% that different architectures disagree at this accuracy, so the test
images' share of the variance is not understated. The strong-interaction scenario
(interaction_sd 2.0, about 34% disagreement) shows how far the seed-only interval,
which treats the test set as fixed, errs when models disagree a lot.

The verdicts are those of ``stats.compare_step`` (interval over seeds and images) and
of today's seed-only rule (the Student t interval of the K per-replicate accuracy
differences excludes 0), computed for thousands of studies at once with the same
estimator, ``stats.crossed_estimate``.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from .stats import CONFIDENCE, HELPS, HURTS, MIN_REPLICATES, NO_DIFFERENCE, crossed_estimate

NO_VERDICT = "no verdict"
OUTCOMES = (HELPS, HURTS, NO_DIFFERENCE, NO_VERDICT)

#: Cells (study x replicate x image) drawn at once: bounds memory, whatever N, K, sims.
CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class Scenario:
    """Parameters of the generator (see the module docstring); logit scale."""

    base_accuracy: float = 0.45
    difficulty_sd: float = 2.5
    interaction_sd: float = 1.0
    seed_sd: float = 0.1
    seed_correlation: float = 0.5

    def logit_offset(self, accuracy: float) -> float:
        """``a`` with E[expit(a + b + u + s)] = accuracy over images and seeds: the
        expectation is not expit(a), so a gain in accuracy points is solved for."""
        return _logit_offset(self, accuracy)


@functools.cache
def _logit_offset(scenario: Scenario, accuracy: float) -> float:
    """Cached: every chunk of a simulation needs the same two offsets."""
    sd = float(
        np.sqrt(scenario.difficulty_sd**2 + scenario.interaction_sd**2 + scenario.seed_sd**2)
    )

    def excess(a: float) -> float:
        return stats.norm.expect(lambda z: special.expit(a + sd * z)) - accuracy

    return optimize.brentq(excess, -50.0, 50.0, xtol=1e-10)


STRONG_INTERACTION = Scenario(interaction_sd=2.0)


def draw(
    rng: np.random.Generator,
    scenario: Scenario,
    n_images: int,
    replicates: int,
    gain: float,
    sims: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image correctness of ``sims`` studies: step and base, bool [sims, K, N]."""
    normal = lambda *shape: rng.standard_normal(shape, dtype=np.float32)
    difficulty = scenario.difficulty_sd * normal(sims, 1, n_images)
    z_base, z_own = normal(sims, replicates, 1), normal(sims, replicates, 1)
    rho = scenario.seed_correlation
    seeds = {"base": z_base, "step": rho * z_base + np.sqrt(1 - rho**2) * z_own}
    accuracy = {"base": scenario.base_accuracy, "step": scenario.base_accuracy + gain}
    correct = {}
    for model in ("step", "base"):
        logit = difficulty + scenario.interaction_sd * normal(sims, 1, n_images)
        logit = logit + (scenario.logit_offset(accuracy[model]) + scenario.seed_sd * seeds[model])
        correct[model] = rng.random(logit.shape, dtype=np.float32) < special.expit(logit)
    return correct["step"], correct["base"]


def study_verdicts(
    step: np.ndarray, base: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Verdicts of each study [sims, K, N]: over seeds and images (``compare_step``'s
    rule) and over seeds only (``stats.verdict`` of ``paired_difference``)."""
    d = step.astype(np.int8) - base.astype(np.int8)
    k = d.shape[-2]
    estimate = crossed_estimate(d)
    half = estimate.half_width(confidence)
    low = np.maximum(-1.0, estimate.mean - half)
    high = np.minimum(1.0, estimate.mean + half)
    judged = np.full(estimate.mean.shape, k >= MIN_REPLICATES) & (estimate.variance > 0)
    new = _classify(low, high, judged)
    per_replicate = d.mean(axis=-1)
    mean, std = per_replicate.mean(axis=-1), per_replicate.std(axis=-1, ddof=1)
    seed_half = stats.t.ppf(0.5 + confidence / 2, k - 1) * std / np.sqrt(k)
    seed_only = _classify(mean - seed_half, mean + seed_half, np.full(mean.shape, k >= 2))
    return new, seed_only


def _classify(low: np.ndarray, high: np.ndarray, judged: np.ndarray) -> np.ndarray:
    return np.select(
        [~judged, low > 0, high < 0], [NO_VERDICT, HELPS, HURTS], default=NO_DIFFERENCE
    )


def simulate(
    n_images: int,
    replicates: int,
    gain: float,
    sims: int,
    seed: int,
    scenario: Scenario = Scenario(),
    confidence: float = CONFIDENCE,
) -> dict:
    """Shares of each verdict over ``sims`` simulated studies, for the interval over
    seeds and images (``new``) and the seed-only one (``seed_only``).

    Reproducible: ``seed`` seeds one numpy Generator, and studies are drawn in chunks
    whose size depends only on N and K.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, CHUNK_CELLS // (n_images * replicates))
    counts = {"new": dict.fromkeys(OUTCOMES, 0), "seed_only": dict.fromkeys(OUTCOMES, 0)}
    for start in range(0, sims, per_chunk):
        batch = min(per_chunk, sims - start)
        step, base = draw(rng, scenario, n_images, replicates, gain, batch)
        for name, outcome in zip(counts, study_verdicts(step, base, confidence), strict=True):
            for label in OUTCOMES:
                counts[name][label] += int((outcome == label).sum())
    shares = {name: {o: c / sims for o, c in tally.items()} for name, tally in counts.items()}
    return {
        "n_images": n_images,
        "replicates": replicates,
        "gain": gain,
        "sims": sims,
        "seed": seed,
        **shares,
    }


def _share(value: float, sims: int) -> tuple[float, float]:
    """A simulated share and its Monte-Carlo standard error."""
    return value, float(np.sqrt(value * (1 - value) / sims))


def calibration_table(
    sims: int = 2000,
    seed: int = 20210401,
    sizes: Sequence[int] = (200, 2500),
    replicates: Sequence[int] = (3, 5, 10),
    gain: float = 0.02,
    scenario: Scenario = Scenario(),
) -> list[dict]:
    """One row per test-set size and number of replicates: the share of false verdicts
    (helps or hurts) with no true difference, for the new and the seed-only interval,
    and the power (share of helps) at a true ``gain``; each as (share, MC std error)."""
    rows = []
    for n in sizes:
        for k in replicates:
            null = simulate(n, k, 0.0, sims, seed, scenario)
            power = simulate(n, k, gain, sims, seed, scenario)
            false = {name: null[name][HELPS] + null[name][HURTS] for name in ("new", "seed_only")}
            rows.append(
                {
                    "n_images": n,
                    "replicates": k,
                    "sims": sims,
                    "false_new": _share(false["new"], sims),
                    "false_seed_only": _share(false["seed_only"], sims),
                    "power_new": _share(power["new"][HELPS], sims),
                }
            )
    return rows


def markdown(rows: Sequence[dict], gain: float, seed: int) -> str:
    """The table as Markdown, shares in percent with their Monte-Carlo standard errors."""
    cell = lambda s: f"{100 * s[0]:.1f}% ± {100 * s[1]:.1f}"
    lines = [
        f"{rows[0]['sims']} simulated studies per cell and scenario, seed {seed}, "
        f"{CONFIDENCE:.0%} intervals; ± one Monte-Carlo standard error.",
        "",
        "| test images N | replicates K | false verdicts, seeds + images | "
        f"false verdicts, seeds only | power at +{100 * gain:g} points, seeds + images |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n_images']} | {r['replicates']} | {cell(r['false_new'])} | "
            f"{cell(r['false_seed_only'])} | {cell(r['power_new'])} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10000, help="studies per cell")
    parser.add_argument("--seed", type=int, default=20210401)
    parser.add_argument("--gain", type=float, default=0.02, help="true gain, accuracy points")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = calibration_table(sims=args.sims, seed=args.seed, gain=args.gain)
    print(markdown(rows, args.gain, args.seed))
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
