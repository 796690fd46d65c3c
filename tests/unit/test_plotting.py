"""ppo_jax.io.plotting: forward-filled curves, confidence bands, the files a run folder gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ppo_jax.io.plotting import forward_fill, mean_and_band, write_run_plots


def test_forward_fill_keeps_leading_nans():
    out = forward_fill(np.array([[np.nan, 1.0, np.nan, 3.0, np.nan]]))
    np.testing.assert_array_equal(out[0, 1:], [1.0, 1.0, 3.0, 3.0])
    assert np.isnan(out[0, 0])


def test_band_of_the_mean():
    returns = np.array([[1.0, 2.0], [3.0, 4.0]])
    mean, low, high = mean_and_band(returns)
    np.testing.assert_allclose(mean, [2.0, 3.0])
    np.testing.assert_allclose(high - mean, 1.96 * 1.0 / np.sqrt(2))
    np.testing.assert_allclose(mean - low, high - mean)


def test_run_plots_are_png_files(tmp_path: Path):
    metrics = {
        "env_steps": np.array([[8, 16, 24]] * 2),
        "episode_return": np.array([[1.0, np.nan, 3.0], [2.0, 2.5, np.nan]]),
        "value_loss": np.ones((2, 3)),
        "learning_rate": np.ones((2, 3)),
    }
    written = write_run_plots(tmp_path, "CartPole-v1", metrics, 475.0)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diagnostics.png", "learning_curves.png"]
