"""ppo_jax.io.plotting: forward-filled curves, the IQM line and its band, the updates drawn,
the files a run folder gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ppo_jax.io.plotting import (
    BAND_LABEL,
    forward_fill,
    iqm_and_band,
    learning_curves,
    trained_columns,
    write_run_plots,
)


def test_forward_fill_keeps_leading_nans():
    out = forward_fill(np.array([[np.nan, 1.0, np.nan, 3.0, np.nan]]))
    np.testing.assert_array_equal(out[0, 1:], [1.0, 1.0, 3.0, 3.0])
    assert np.isnan(out[0, 0])


def test_iqm_line_and_the_band_of_the_runs_it_averages():
    # 8 runs -> 2 cut from each end: IQM of [2, 3, 4, 5] = 3.5, band [2, 5].
    eight = np.array([[7.0, 0.0, 1.0, 6.0, 2.0, 3.0, 4.0, 5.0]]).T
    np.testing.assert_allclose(iqm_and_band(eight), [[3.5], [2.0], [5.0]])
    # 3 runs with a value (NaN before a run's first episode; later NaNs forward-filled):
    # nothing cut, so the mean and the range; the band never exceeds the best run's 500.
    values = np.array([[500.0, np.nan], [480.0, 490.0], [10.0, 20.0], [np.nan, np.nan]])
    iqm, low, high = iqm_and_band(values)
    np.testing.assert_allclose(iqm, [330.0, (500.0 + 490.0 + 20.0) / 3])
    np.testing.assert_allclose(low, [10.0, 20.0])
    np.testing.assert_allclose(high, [500.0, 500.0])
    empty = iqm_and_band(np.full((2, 1), np.nan))
    assert all(np.isnan(v[0]) for v in empty)


def test_updates_after_every_run_stopped_are_not_drawn():
    # Kept counts after a stop (and the 0 of earlier versions) draw no line back to x=0.
    np.testing.assert_array_equal(
        trained_columns(np.array([8, 16, 24, 24, 24])), [True, True, True, False, False]
    )
    np.testing.assert_array_equal(trained_columns(np.array([8, 16, 0, 0])), [1, 1, 0, 0])
    fig = learning_curves(
        np.array([8, 16, 24, 24]), [np.array([[1.0, 2.0, 3.0, np.nan]])], ["IQM of 1 run"], "t"
    )
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [8, 16, 24])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["IQM of 1 run", BAND_LABEL]


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
