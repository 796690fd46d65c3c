"""ppo_jax.io.runload: reading run folders back. Whole folders of every kind are read in
test_experiment.py (train), test_sweep.py and test_pbt.py, and poisoned ones in
tests/integration/test_untrusted_folders.py; here the checks a reader makes on its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ppo_jax import PPOConfig
from ppo_jax.io.rundir import RunResult
from ppo_jax.io.runload import check_metrics, with_results


def test_metrics_must_be_rows_by_updates_with_returns_and_steps():
    good = {"episode_return": np.zeros((2, 5)), "env_steps": np.zeros((2, 5))}
    assert check_metrics(good, 2, "here") is good
    assert check_metrics({}, 2, "here") == {}
    for bad in (
        {"episode_return": np.zeros((3, 5)), "env_steps": np.zeros((3, 5))},
        {"episode_return": np.zeros((2, 5)), "env_steps": np.zeros((2, 4))},
        {"episode_return": np.zeros((2, 5))},
    ):
        with pytest.raises(ValueError, match="here: its metrics must be"):
            check_metrics(bad, 2, "here")


def test_results_json_fills_metrics_status_and_summary(tmp_path: Path):
    config = PPOConfig(num_envs=4, num_steps=8, total_timesteps=64, num_minibatches=2)
    run = RunResult(
        config=config, seeds=[0], params=None, metrics={}, completed=False, out_dir=tmp_path
    )
    assert with_results(run, None) is run
    doc = {
        "updates_done": 2,
        "status": "finished",
        "runs": [{"seed": 0}],
        "metrics": {"episode_return": [[1.0, None]], "env_steps": [[32, 64]]},
    }
    filled = with_results(run, doc)
    assert filled.completed and filled.summary == [{"seed": 0}]
    np.testing.assert_array_equal(filled.metrics["episode_return"], [[1.0, np.nan]])
    with pytest.raises(ValueError, match="'updates_done' must be an int"):
        with_results(run, {**doc, "updates_done": "2"})
