"""CartPole learning tests. The real-environment oracle: gymnasium's own CartPole-v1 judges the
trained policy. One seed (and one seed split over two devices) run in the learning tier; all 8
seeds run with ``-m full``."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from gym_oracle import gymnasium_returns

from ppo_jax import PPOConfig, train, train_seeds
from ppo_jax.io.stats import final_return

pytest.importorskip("gymnasium")


@pytest.mark.timeout(600)
def test_cartpole_default_config_one_seed():
    config = PPOConfig()
    result = train(config, jax.random.PRNGKey(0))
    assert final_return(result.metrics) >= 475.0
    returns = gymnasium_returns(config, result.params, episodes=5, seed=100)
    assert np.mean(returns) >= 475.0, returns


@pytest.mark.full
@pytest.mark.timeout(1800)
def test_cartpole_default_config_eight_seeds():
    config = PPOConfig()
    result = train_seeds(config, 8)
    finals = final_return(result.metrics)
    assert np.all(finals >= 475.0), finals
    for i in range(8):
        params = jax.tree.map(lambda x, i=i: x[i], result.params)
        returns = gymnasium_returns(config, params, episodes=3, seed=1000 * i)
        assert np.mean(returns) >= 475.0, (i, returns)


@pytest.mark.full
@pytest.mark.timeout(600)
def test_cartpole_sort_shuffle_one_seed():
    """The sorting minibatch shuffle (``shuffle="sort"``, ``jax.random.permutation``) learns
    CartPole like the default sort-free one."""
    config = PPOConfig(shuffle="sort")
    result = train(config, jax.random.PRNGKey(0))
    assert final_return(result.metrics) >= 475.0
    returns = gymnasium_returns(config, result.params, episodes=5, seed=300)
    assert np.mean(returns) >= 475.0, returns


@pytest.mark.timeout(600)
def test_cartpole_default_config_split_over_two_devices_is_solved():
    config = PPOConfig()
    result = train(config, jax.random.PRNGKey(0), split_envs=True)
    assert final_return(result.metrics) >= 475.0
    returns = gymnasium_returns(config, result.params, episodes=5, seed=200)
    assert np.mean(returns) >= 475.0, returns


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gymnasium_example_balances_the_pole():
    """The README's interop example, run as a user would."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, os.path.join(root, "examples", "gymnasium_cartpole.py")],
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mean return over 5 episodes" in proc.stdout
