"""Learning tests of the tuned configs (``ppo_jax.get_config``). Learning is judged by
independent oracles where one exists: a greedy policy exported with ``export_policy`` plays
gymnasium's own implementation of the environment."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from gym_oracle import gymnasium_returns

from ppo_jax import get_config, train_seeds
from ppo_jax.io.stats import final_return
from ppo_jax.io.tuned import TARGETS

CLASSIC = ["Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"]


@pytest.mark.full
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("env_name", CLASSIC)
def test_tuned_config_reaches_its_target(env_name):
    config = get_config(env_name)
    result = train_seeds(config, 4)
    final = final_return({k: np.asarray(v) for k, v in result.metrics.items()})
    assert np.all(final >= TARGETS[env_name]), final
    # Independent judge: gymnasium's implementation of the same environment, greedy policy.
    first = jax.tree.map(lambda x: x[0], result)
    judged = gymnasium_returns(config, first, episodes=5, seed=1000)
    assert np.mean(judged) >= TARGETS[env_name], judged


def _learning_gain(env_name: str, total_timesteps: int) -> tuple[float, float]:
    config = get_config(env_name, total_timesteps=total_timesteps)
    result = train_seeds(config, 1)
    metrics = {k: np.asarray(v)[0] for k, v in result.metrics.items()}
    returns = metrics["episode_return"]
    first = float(np.nanmean(returns[: max(1, len(returns) // 10)]))
    final = float(final_return(metrics))
    return first, final


@pytest.mark.timeout(600)
def test_minatar_breakout_learns_on_cpu():
    """A short CPU run of the tuned MinAtar config (CNN torso): the return must rise well above
    the untrained policy's (about 1 per episode)."""
    first, final = _learning_gain("Breakout-MinAtar", 65_536)
    assert final >= 3.0 and final >= 2.0 * first, (first, final)


@pytest.mark.full
@pytest.mark.timeout(900)
@pytest.mark.parametrize("env_name", ["Asterix-MinAtar", "SpaceInvaders-MinAtar"])
def test_other_minatar_configs_learn_on_cpu(env_name):
    first, final = _learning_gain(env_name, 262_144)
    assert final >= 1.5 * first, (first, final)
