"""Learning tests. The real-environment oracle: gymnasium's own CartPole-v1 judges the trained
policy. One CartPole seed runs in the default suite; all 8 seeds run with ``-m full``."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from gym_oracle import gymnasium_returns
from probe_envs import MatchBitEnv

from ppo_jax import PPOConfig, train, train_seeds
from ppo_jax.summary import final_return

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
def test_cartpole_hash_shuffle_one_seed():
    """The sort-free minibatch shuffle (``shuffle="hash"``) learns CartPole like the default."""
    config = PPOConfig(shuffle="hash")
    result = train(config, jax.random.PRNGKey(0))
    assert final_return(result.metrics) >= 475.0
    returns = gymnasium_returns(config, result.params, episodes=5, seed=300)
    assert np.mean(returns) >= 475.0, returns


@pytest.mark.timeout(300)
def test_policy_learns_to_match_the_bit():
    """The policy-gradient sign and the advantage plumbing: 1-step episodes, reward for matching
    the observed bit. Random play earns 0.5 per episode; PPO must reach >= 0.95."""
    config = PPOConfig(
        num_envs=16,
        num_steps=8,
        total_timesteps=16 * 8 * 40,
        num_minibatches=2,
        learning_rate=3e-3,
        hidden_sizes=(16,),
    )
    result = train(config, jax.random.PRNGKey(0), env=MatchBitEnv())
    ret = np.asarray(result.metrics["episode_return"])
    assert ret[:2].mean() < 0.75
    assert ret[-5:].mean() >= 0.95
