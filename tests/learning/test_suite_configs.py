"""The tuned configs of the optional suites, judged by each suite's own reward (greedy policies,
episodes of the suite's own length): Navix and XLand-MiniGrid Empty-5x5 reach the goal, Brax's
inverted pendulum stays up for the episode, Jumanji's Snake eats. A suite whose extra is not
installed is skipped."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ppo_jax import evaluate, get_config, train_seeds
from ppo_jax.io.tuned import TARGETS


def greedy_returns(env_name: str, seeds: int, episodes: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Mean greedy return per seed of the tuned config after training, and before (the same
    seeds' initial policies: the task is not solved by chance)."""
    config = get_config(env_name)
    key = jax.random.PRNGKey(2024)
    result = train_seeds(config, seeds)
    trained = evaluate(config, result.params, key, episodes, obs_norm=result.obs_norm)
    untrained = train_seeds(config.replace(total_timesteps=config.num_envs * config.num_steps), 1)
    before = evaluate(config, untrained.params, key, episodes, obs_norm=untrained.obs_norm)
    return np.asarray(trained.returns).mean(-1), np.asarray(before.returns).mean(-1)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("env_name", ["navix:Navix-Empty-5x5-v0", "xminigrid:MiniGrid-Empty-5x5"])
def test_grid_worlds_reach_the_goal(env_name):
    pytest.importorskip(env_name.partition(":")[0])
    after, before = greedy_returns(env_name, 4)
    assert (after >= TARGETS[env_name]).all(), after
    assert (before < TARGETS[env_name]).all(), before


@pytest.mark.timeout(900)
def test_brax_inverted_pendulum_balances():
    pytest.importorskip("brax")
    after, before = greedy_returns("brax:inverted_pendulum", 2, episodes=8)
    assert (after >= TARGETS["brax:inverted_pendulum"]).all(), after
    assert (before < 100).all(), before


@pytest.mark.full
@pytest.mark.timeout(1200)
def test_jumanji_snake_eats():
    """Snake's training return (fruit per episode, masked policy) passes its target."""
    pytest.importorskip("jumanji")
    config = get_config("jumanji:Snake-v1")
    result = train_seeds(config, 2)
    returns = np.asarray(result.metrics["episode_return"])[:, -16:]
    assert (np.nanmean(returns, axis=1) >= TARGETS["jumanji:Snake-v1"]).all(), returns
