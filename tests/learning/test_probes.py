"""Probe environments with known optima (rejax / Andy Jones style): the critic learns the true
value under truncation and termination, the policy gradient learns a bit and a continuous
target."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import (
    ConstantRewardEnv,
    CounterParams,
    MatchBitEnv,
    TargetActionEnv,
    constant_obs_value,
)

from ppo_jax import PPOConfig, evaluate, state_value, train


@pytest.mark.parametrize(
    ("terminate", "value_target"),
    [(False, "lambda_return"), (False, "reward_to_go"), (True, "lambda_return")],
)
def test_critic_learns_true_value(terminate, value_target):
    """Constant observation, reward 1 per step. Truncated after 10 steps (never terminating):
    the true value is 1 / (1 - gamma) = 10 for gamma 0.9; a critic that treated truncation as
    termination would learn the mean truncated return, about 6.5. Terminating after every
    step: the value is 1."""
    gamma = 0.9
    env_params = CounterParams(max_steps_in_episode=10, terminate=terminate)
    cfg = PPOConfig(
        num_envs=8,
        num_steps=16,
        total_timesteps=8 * 16 * 150,
        num_minibatches=2,
        update_epochs=4,
        learning_rate=3e-3,
        gamma=gamma,
        hidden_sizes=(16,),
        value_target=value_target,
    )
    env = ConstantRewardEnv()
    result = train(cfg, jax.random.PRNGKey(0), env=env, env_params=env_params)
    v = float(state_value(cfg, result.params, jnp.array([1.0]), env=env, env_params=env_params))
    assert abs(v - constant_obs_value(env_params, gamma)) < 0.3, v


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


def test_gaussian_policy_learns_the_target_action(key):
    """Oracle: the best return is 0 (act = target); ignoring the target gives about -1/12."""
    env = TargetActionEnv()
    config = PPOConfig(
        num_envs=64, num_steps=8, total_timesteps=64 * 8 * 60, learning_rate=3e-3,
        ent_coef=0.0, hidden_sizes=(32,), log_std_init=-0.5, gamma=0.0, gae_lambda=0.0,
    )  # fmt: skip
    result = train(config, key, env=env)
    greedy = evaluate(config, result.params, key, 256, env=env)
    assert float(greedy.returns.mean()) > -0.005
    first = float(result.metrics["episode_return"][0])
    assert first < -0.2  # the untrained, wide policy is far from the target
    assert float(result.params["log_std"][0]) < -0.5  # exploration shrank
