"""ppo_jax.io.stats: the intervals' measured coverage, the number format, the summaries of runs
and the per-group comparison; and the statistics ``ppo_jax.run.summary`` had before 0.4.0
(rliable's own functions as the oracle, fixed data).

Coverage: samples of n runs are drawn from distributions whose population IQM (or P(X > Y)) is
derived by hand below; the share of intervals that contain it must reach 95% within
``COVERAGE_TOLERANCE`` plus three Monte Carlo standard errors from the method's minimum n on,
and the reports must call smaller n unreliable. The quick tier checks n = 8 and 16 (IQM) and
4, 8, 16 (P(improvement)); ``-m heavy`` checks every n from 2 to 64 with more replications.
The distributions, their hand-derived population values and the coverage loop are
``benchmarks/stats_coverage.py``'s (``python -m benchmarks.stats_coverage`` prints the docs'
table); the first test checks those values against large samples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from benchmarks.stats_coverage import DISTRIBUTIONS, PAIRS, improvement_coverage, iqm_coverage
from ppo_jax.io.stats import (
    COVERAGE_TOLERANCE,
    IMPROVEMENT_MIN_RUNS,
    IQM_MIN_RUNS,
    Interval,
    compare_groups,
    final_return,
    format_interval,
    format_number,
    improvement_bounds,
    improvement_interval,
    improvement_point,
    interquartile_mean,
    iqm_bounds,
    iqm_interval,
    iqm_with_ci,
    performance_profiles,
    probability_of_improvement,
    resolve_baseline,
    steps_to_solve,
    trained_updates,
)

NOMINAL = 0.95


def _allowed(reps: int) -> float:
    """Lowest coverage accepted: nominal - tolerance - 3 Monte Carlo standard errors."""
    return NOMINAL - COVERAGE_TOLERANCE - 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / reps)


def test_hand_derived_population_values_match_large_samples():
    rng = np.random.default_rng(7)
    for name, (draw, true) in DISTRIBUTIONS.items():
        got = interquartile_mean(draw(rng, 400_000))
        assert got == pytest.approx(true, abs=0.02, rel=3e-3), name
    for name, (draw_x, draw_y, true) in PAIRS.items():
        x, y = draw_x(rng, 3000), draw_y(rng, 3000)
        assert improvement_point(x, y) == pytest.approx(true, abs=0.015), name


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [IQM_MIN_RUNS, 16])
def test_iqm_interval_reaches_nominal_coverage_from_its_minimum_n(n):
    reps = 500
    for name in DISTRIBUTIONS:
        assert iqm_coverage(name, n, reps, 400, "expanded") >= _allowed(reps), (name, n)


@pytest.mark.timeout(60)
def test_iqm_interval_below_its_minimum_n_is_reported_unreliable():
    # Measured: at 4 runs of a normal the interval covers ~88%, which is why it is not shown.
    assert iqm_coverage("normal", 4, 1000, 400, "expanded") < NOMINAL - COVERAGE_TOLERANCE
    for n in range(1, IQM_MIN_RUNS):
        interval = iqm_interval(np.linspace(0.0, 1.0, n))
        text = format_interval(interval)
        assert not interval.reliable and f"n={n}:" in text and "[" not in text, text
    text = format_interval(iqm_interval(np.linspace(0.0, 1.0, IQM_MIN_RUNS)))
    assert f"n={IQM_MIN_RUNS}, expanded percentile bootstrap]" in text and "95% CI" in text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [IMPROVEMENT_MIN_RUNS, 8, 16])
def test_improvement_interval_reaches_nominal_coverage_from_its_minimum_n(n):
    reps = 1000
    for name in PAIRS:
        assert improvement_coverage(name, n, reps) >= _allowed(reps), (name, n)


def test_improvement_interval_is_not_degenerate_when_every_run_wins():
    interval = improvement_interval([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0])
    assert interval.point == 1.0 and interval.high == pytest.approx(1.0)
    assert 0.3 < interval.low < 0.9 and interval.sizes == (4, 4) and interval.reliable
    text = format_interval(interval, probability=True)
    assert text.startswith("1.00 [95% CI 0.") and "n=4 vs 4, Newcombe score interval" in text
    small = improvement_interval([5.0, 6.0], [1.0, 2.0])
    assert not small.reliable and "n=2 vs 2: too few runs" in format_interval(small)


def test_newcombe_bounds_solve_the_score_equation():
    # Hand check at theta_hat = 0.75, m = n = 10 (N = 10): at each bound theta,
    # (0.75 - theta)^2 = z^2 theta (1 - theta) / 100 * (1 + 9 (1 - theta) / (2 - theta)
    # + 9 theta / (1 + theta)).
    low, high = improvement_bounds(np.array(0.75), 10, 10)
    z = norm.ppf(0.975)
    for theta in (float(low), float(high)):
        var = (
            theta
            * (1 - theta)
            / 100
            * (1 + 9 * (1 - theta) / (2 - theta) + 9 * theta / (1 + theta))
        )
        assert (0.75 - theta) ** 2 == pytest.approx(z * z * var, rel=1e-9)
    assert 0 < low < 0.75 < high < 1


def test_iqm_point_is_the_middle_half_and_the_interval_is_reproducible():
    x = np.array([9.0, 1.0, 5.0, 3.0, 7.0, 100.0, -50.0, 4.0])
    interval = iqm_interval(x, seed=3)
    assert interval.point == pytest.approx(np.sort(x)[2:6].mean())
    assert interval == iqm_interval(x, seed=3)
    # The batched bounds of the simulations are the same computation.
    _, low, high = iqm_bounds(x[None], rng=np.random.default_rng(3))
    assert (interval.low, interval.high) == pytest.approx((low[0], high[0]))
    assert interval.low <= interval.point <= interval.high
    # Non-finite runs (no finished episode) are left out and counted out of n.
    with_nan = iqm_interval(np.append(x, [np.nan, np.inf]), seed=3)
    assert with_nan == interval and with_nan.n == 8
    nothing = iqm_interval([np.nan])
    assert np.isnan(nothing.point) and nothing.n == 0 and "n/a" in format_interval(nothing)
    one = iqm_interval([29.0])
    assert format_interval(one) == "29.0 (n=1: no interval from one run)"
    assert one.to_dict()["low"] is None and one.to_dict()["reliable"] is False


def test_numbers_keep_the_digits_their_scale_needs():
    cases = {
        0.01234: "0.0123",
        500: "500.0",
        0.957: "0.957",
        29: "29.0",
        -176.63: "-176.6",
        1234.5: "1,234.5",
        123456: "123,456",
        1.2e-7: "1.2e-07",
        0: "0.0",
        None: "n/a",
        float("nan"): "n/a",
    }
    for value, text in cases.items():
        assert format_number(value) == text, value


def test_final_return_is_judged_on_each_runs_own_updates():
    # 20 updates; run 1 stopped after update 10 (0-based 9): it keeps its env steps after.
    ret = np.tile(np.arange(1.0, 21.0), (2, 1))
    count = np.ones((2, 20))
    steps = np.tile(np.arange(1, 21) * 8, (2, 1))
    ret[1, 10:], count[1, 10:], steps[1, 10:] = np.nan, 0, 80
    metrics = {"episode_return": ret, "episodes_completed": count, "env_steps": steps}
    np.testing.assert_array_equal(trained_updates(steps), [20, 10])
    # Window: round(0.05 * 20) = 1 update -> 20; run 1: round(0.05 * 10) -> 1 update -> 10.
    np.testing.assert_allclose(final_return(metrics), [20.0, 10.0])
    np.testing.assert_allclose(final_return(metrics, window=4), [18.5, 8.5])
    # Folders written before stopped runs kept their steps logged 0 after the stop.
    old = dict(metrics, env_steps=np.where(np.isnan(ret), 0, steps))
    np.testing.assert_array_equal(trained_updates(old["env_steps"]), [20, 10])
    np.testing.assert_allclose(final_return(old), [20.0, 10.0])
    np.testing.assert_array_equal(steps_to_solve(metrics, 9.5), [80, 80])


def test_compare_groups_rows_and_baseline():
    groups = {
        "a: lr=0.001": np.arange(8.0),
        "a: lr=0.003": np.arange(8.0) + 100,
        "b": [np.nan, 1.0, 2.0],
    }
    rows = compare_groups(groups, baseline="lr=0.001")
    assert [r["run"] for r in rows] == list(groups)
    assert [r["rows"] for r in rows] == [8, 8, 2]
    assert rows[0]["p_improve"] == 0.5 and rows[1]["p_improve"] == 1.0
    assert all(r["baseline"] == "a: lr=0.001" for r in rows)
    assert isinstance(rows[1]["improvement"], Interval) and rows[1]["improvement"].sizes == (8, 8)
    assert rows[2]["improvement"].sizes == (2, 8) and not rows[2]["improvement"].reliable
    assert compare_groups(groups, baseline=1)[1]["p_improve"] == 0.5
    assert resolve_baseline(list(groups), "b") == 2
    with pytest.raises(ValueError, match="matches 2 of the rows"):
        resolve_baseline(list(groups), "a:")
    with pytest.raises(ValueError, match="row 3 does not exist"):
        resolve_baseline(list(groups), 3)
    with pytest.raises(ValueError, match="at least one group"):
        compare_groups({})


@pytest.mark.heavy
@pytest.mark.timeout(900)
@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 8, 12, 16, 32, 64])
def test_coverage_at_every_n_heavy(n):
    """Every n: the methods cover from their minimum n on; below, reports say unreliable."""
    reps = 2000
    for name in DISTRIBUTIONS:
        covered = iqm_coverage(name, n, reps, 1000, "expanded", seed=n)
        if n >= IQM_MIN_RUNS:
            assert covered >= _allowed(reps), (name, n, covered)
        else:
            assert not iqm_interval(np.arange(float(n))).reliable
    for name in PAIRS:
        covered = improvement_coverage(name, n, reps, seed=n)
        if n >= IMPROVEMENT_MIN_RUNS:
            assert covered >= _allowed(reps), (name, n, covered)
        else:
            assert not improvement_interval(np.arange(float(n)), np.arange(float(n))).reliable


# ----------------------------------------------------------------- before 0.4.0 (run.summary)
def test_final_return_window_counts_episodes_not_updates():
    ret = np.array([1.0, 2.0, np.nan, 4.0] * 5)  # 20 updates: window = round(0.05 * 20) = 1
    count = np.array([1, 1, 0, 2] * 5)
    assert final_return({"episode_return": ret, "episodes_completed": count}) == 4.0
    # No episode in the last update: the window grows back to the last update that had one.
    ret2, count2 = ret.copy(), count.copy()
    ret2[-1], count2[-1] = np.nan, 0
    got = final_return({"episode_return": ret2, "episodes_completed": count2})
    assert got == pytest.approx(2.0)  # update 18 (return 2, 1 episode); 19 has none
    w = final_return({"episode_return": ret, "episodes_completed": count}, window=4)
    assert w == pytest.approx((1 + 2 + 2 * 4) / 4)
    none = final_return({"episode_return": np.full(5, np.nan), "episodes_completed": np.zeros(5)})
    assert np.isnan(none)
    batched = final_return(
        {"episode_return": np.stack([ret, ret * 2]), "episodes_completed": np.stack([count, count])}
    )
    np.testing.assert_allclose(batched, [4.0, 8.0])


def test_steps_to_solve():
    metrics = {
        "episode_return": np.array([[10.0, np.nan, 480.0, 490.0], [1.0, 2.0, 3.0, 4.0]]),
        "env_steps": np.array([[8, 16, 24, 32]] * 2),
    }
    np.testing.assert_array_equal(steps_to_solve(metrics, 475.0), [24, -1])


def test_iqm_and_intervals_equal_rliables_own():
    from rliable import library, metrics

    rng = np.random.default_rng(0)
    scores = {"a": rng.normal(size=12), "b": rng.normal(1.0, size=12)}
    ours = iqm_with_ci(scores, reps=500, seed=3)
    np.random.seed(3)  # noqa: NPY002 - rliable draws its resamples from NumPy's global generator
    point, interval = library.get_interval_estimates(
        {k: v.reshape(-1, 1) for k, v in scores.items()},
        lambda x: np.array([metrics.aggregate_iqm(x)]),
        reps=500,
    )
    for name in scores:
        assert ours[name][0] == pytest.approx(point[name][0])
        assert ours[name][1:] == pytest.approx((interval[name][0, 0], interval[name][1, 0]))
        sorted_x = np.sort(scores[name])
        assert ours[name][0] == pytest.approx(sorted_x[3:9].mean())  # the middle half
    # NaN runs (no finished episode) are left out; all-NaN gives NaN.
    with_nan = iqm_with_ci(
        {"a": np.append(scores["a"], np.nan), "z": np.array([np.nan])}, reps=500, seed=3
    )
    assert with_nan["a"] == pytest.approx(ours["a"]) and np.isnan(with_nan["z"][0])


def test_probability_of_improvement_and_profiles():
    from rliable import metrics

    x, y = np.array([3.0, 4.0, 5.0]), np.array([1.0, 4.0, 2.0])
    p, low, high = probability_of_improvement(x, y, reps=300)
    assert p == pytest.approx(
        metrics.probability_of_improvement(x.reshape(-1, 1), y.reshape(-1, 1))
    )
    assert low <= p <= high
    assert p == pytest.approx((2 + 2.5 + 3) / 9)  # pairs x > y (3: 2 wins; 4: 2 wins, a tie)
    profiles, bands = performance_profiles({"x": x, "y": y}, [0.0, 2.5, 4.5], reps=200)
    np.testing.assert_allclose(profiles["x"], [1.0, 1.0, 1 / 3])
    np.testing.assert_allclose(profiles["y"], [1.0, 1 / 3, 0.0])
    assert bands["x"].shape == (2, 3)
