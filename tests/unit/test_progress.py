"""ppo_jax.run.progress: listeners and the event made of a segment's metrics."""

from __future__ import annotations

import numpy as np

from ppo_jax.run import progress


def test_segment_event_averages_the_episodes_of_the_whole_segment():
    metrics = {
        "episodes_completed": np.array([[1, 0, 3], [0, 0, 0]]),
        "episode_return": np.array([[10.0, np.nan, 30.0], [np.nan, np.nan, np.nan]]),
        "env_steps": np.array([[32, 64, 96], [32, 64, 96]]),
    }
    event = progress.segment_event(metrics, 6, 10)
    assert event.update == 6 and event.num_updates == 10 and event.env_steps == 96
    np.testing.assert_allclose(event.returns[0], (10.0 + 3 * 30.0) / 4)
    assert np.isnan(event.returns[1]) and list(event.episodes) == [4, 0]


def test_listen_restores_the_previous_listener():
    seen: list[int] = []
    event = progress.ProgressEvent(1, 2, 3, np.zeros(1), np.zeros(1, int))
    progress.report(event)  # nobody listening: nothing happens
    with progress.listen(lambda e: seen.append(1)):
        with progress.listen(lambda e: seen.append(2)):
            progress.report(event)
        progress.report(event)
    progress.report(event)
    assert seen == [2, 1] and progress.active() is None
