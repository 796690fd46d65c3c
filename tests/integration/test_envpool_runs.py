"""EnvPool runs end to end (heavy tier): an Atari smoke run through the Nature CNN from the
command line, and a checkpointed EnvPool run paused and resumed (the pool's episodes restart;
the learner state goes on)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from ppo_jax import PPOConfig, load_run, run_experiment
from ppo_jax.cli import main
from ppo_jax.io import checkpoint

pytest.importorskip("envpool")


@pytest.mark.heavy
@pytest.mark.timeout(600)
def test_atari_smoke_run_through_the_nature_cnn(tmp_path: Path, capsys) -> None:
    out = tmp_path / "breakout"
    argv = ["train", "--env", "envpool:Breakout-v5", "--num-steps", "32", "--total-timesteps"]
    argv += ["768", "--out", str(out), "--progress", "lines"]
    assert main(argv) == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 3  # 8 envs x 32 steps per update (the tuned config's 8 environments)
    for row in rows:
        assert math.isfinite(float(row["value_loss"])) and math.isfinite(float(row["entropy"]))
    # Episodes ended (lives lost) and were counted; the policy moved.
    assert any(row["episode_length"] not in ("", "nan") for row in rows)
    assert float(rows[-1]["approx_kl"]) > 0.0
    result = load_run(out)
    assert result.config.torso == "nature" and result.config.env_name == "envpool:Breakout-v5"


@pytest.mark.heavy
@pytest.mark.timeout(600)
def test_a_paused_envpool_run_resumes_on_fresh_episodes(tmp_path: Path) -> None:
    config = PPOConfig(
        env_name="envpool:CartPole-v1",
        num_envs=4,
        num_steps=16,
        total_timesteps=4 * 16 * 6,
        num_minibatches=2,
        hidden_sizes=(16,),
    )
    out = tmp_path / "run"
    paused = run_experiment(config, 2, out, checkpoint_every=2, stop_after=3)
    assert not paused.completed and checkpoint.load(checkpoint.latest(out)).update == 4
    done = run_experiment(None, None, out, resume=True)
    assert done.completed
    assert np.asarray(done.metrics["value_loss"]).shape == (2, 6)
    assert np.all(np.isfinite(np.asarray(done.metrics["value_loss"])))
