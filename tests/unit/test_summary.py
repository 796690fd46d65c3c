"""ppo_jax.run.summary: the final-return window, steps to solve, and the reviewer statistics
(IQM with stratified-bootstrap CIs, probability of improvement, performance profiles) equal to
rliable's own functions on fixed data."""

from __future__ import annotations

import numpy as np
import pytest

from ppo_jax.run.summary import (
    final_return,
    iqm_with_ci,
    performance_profiles,
    probability_of_improvement,
    steps_to_solve,
)


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
