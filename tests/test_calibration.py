"""Error rates of the step verdicts, simulated: calibration, power, and why seeds alone
are not enough. About 20 s on one core: 2000 studies per cell."""

from __future__ import annotations

import numpy as np
import pytest

from convstudy.report import calibration, stats

SIMS = 2000
SEED = 20210401


@pytest.fixture(scope="module")
def table() -> dict[tuple[int, int], dict]:
    rows = calibration.calibration_table(sims=SIMS, seed=SEED)
    return {(r["n_images"], r["replicates"]): r for r in rows}


def test_scenario_is_realistic_and_the_gain_is_in_accuracy_points():
    """The module docstring's claims: seed-to-seed std of accuracy 0.01-0.02 on 2500
    images, two models disagree on 15-30% of images, and a 2-point gain is 2 points."""
    rng = np.random.default_rng(0)
    step, base = calibration.draw(rng, calibration.Scenario(), 2500, 5, 0.02, 200)
    seed_std = np.sqrt(base.mean(axis=2).var(axis=1, ddof=1).mean())
    assert 0.01 < seed_std < 0.02
    null_step, null_base = calibration.draw(rng, calibration.Scenario(), 2500, 1, 0.0, 200)
    assert 0.15 < (null_step != null_base).mean() < 0.30
    assert base.mean() == pytest.approx(0.45, abs=0.005)
    assert step.mean() - base.mean() == pytest.approx(0.02, abs=0.003)


def test_batched_verdicts_are_those_of_compare_step():
    rng = np.random.default_rng(1)
    step, base = calibration.draw(rng, calibration.Scenario(), 200, 4, 0.05, 40)
    new, seed_only = calibration.study_verdicts(step, base)
    for s, b, n, o in zip(step, base, new, seed_only, strict=True):
        result = stats.compare_step(s, b)
        assert n == (result.verdict or calibration.NO_VERDICT)
        assert o == stats.verdict(result.seed_only)
    assert {stats.HELPS, stats.NO_DIFFERENCE} <= set(new)


def test_simulation_is_reproducible_and_shares_add_up():
    first = calibration.simulate(200, 3, 0.0, 300, seed=7)
    assert first == calibration.simulate(200, 3, 0.0, 300, seed=7)
    assert sum(first["new"].values()) == pytest.approx(1.0)
    two = calibration.simulate(200, 2, 0.05, 50, seed=7)
    assert two["new"][calibration.NO_VERDICT] == 1.0


def test_false_verdicts_stay_near_the_nominal_five_percent(table):
    """No true difference: helps + hurts at most 5% plus 3 Monte-Carlo standard errors."""
    limit = 0.05 + 3 * np.sqrt(0.05 * 0.95 / SIMS)
    for cell, row in table.items():
        assert row["false_new"][0] <= limit, cell


def test_power_grows_with_test_images_and_replicates(table):
    power = {cell: row["power_new"][0] for cell, row in table.items()}
    assert power[2500, 10] > power[200, 10] + 0.3
    assert power[2500, 3] < power[2500, 5] < power[2500, 10]


def test_seed_only_interval_errs_when_models_disagree_on_images():
    """Strong image x model interaction: on one fixed test set two equally good models
    differ, and an interval over seeds only mistakes that for an effect."""
    result = calibration.simulate(
        2500, 10, 0.0, SIMS, SEED, scenario=calibration.STRONG_INTERACTION
    )
    se = np.sqrt(0.05 * 0.95 / SIMS)
    seed_only = result["seed_only"][stats.HELPS] + result["seed_only"][stats.HURTS]
    new = result["new"][stats.HELPS] + result["new"][stats.HURTS]
    assert seed_only > 0.05 + 10 * se
    assert new <= 0.05 + 3 * se


def test_main_prints_a_markdown_table(capsys):
    calibration.main(["--sims", "20", "--seed", "3"])
    out = capsys.readouterr().out
    assert "20 simulated studies per cell" in out and "seed 3" in out
    assert out.count("\n| 200 |") == 3 and out.count("\n| 2500 |") == 3
