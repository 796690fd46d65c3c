"""evaluate() and export_policy(): known returns on probe envs, gymnasium interop."""

from __future__ import annotations

import numpy as np
import pytest
from probe_envs import ConstantRewardEnv, CounterParams

from ppo_jax import PPOConfig
from ppo_jax.evaluate import evaluate, export_policy
from ppo_jax.networks import init_params


def test_probe_env_returns_are_exact(key):
    config = PPOConfig(hidden_sizes=(8,))
    params = init_params(config, key, (1,), 2)
    env_params = CounterParams(max_steps_in_episode=7)
    result = evaluate(config, params, key, 5, env=ConstantRewardEnv(), env_params=env_params)
    np.testing.assert_array_equal(result.returns, 7.0)
    np.testing.assert_array_equal(result.lengths, 7)
    stochastic = evaluate(
        config,
        params,
        key,
        3,
        greedy=False,
        env=ConstantRewardEnv(),
        env_params=CounterParams(max_steps_in_episode=4, terminate=True),
    )
    np.testing.assert_array_equal(stochastic.returns, 1.0)  # terminates after one step


def test_cartpole_untrained_policy_fails_quickly(key):
    config = PPOConfig()
    params = init_params(config, key, (4,), 2)
    result = evaluate(config, params, key, 16, greedy=False)
    assert result.returns.shape == (16,)
    assert 5 <= float(result.returns.mean()) < 100  # random play lasts ~20 steps
    np.testing.assert_array_equal(result.returns, result.lengths)  # reward 1 per step


def test_evaluate_rejects_bad_input(key):
    config = PPOConfig()
    params = init_params(config, key, (4,), 2)
    with pytest.raises(ValueError, match="num_episodes"):
        evaluate(config, params, key, 0)
    with pytest.raises(ValueError, match="observations of shape"):
        evaluate(config, init_params(config, key, (3,), 2), key, 2)


def test_export_policy_single_and_batch(key):
    config = PPOConfig()
    params = init_params(config, key, (4,), 2)
    act = export_policy(config, params)
    single = act(np.zeros(4))
    assert isinstance(single, int) and single in (0, 1)
    batch = act(np.random.default_rng(0).normal(size=(6, 4)))
    assert batch.shape == (6,)
    sampled = export_policy(config, params, greedy=False, seed=1)
    draws = [sampled(np.zeros(4)) for _ in range(200)]
    assert 0.3 < np.mean(draws) < 0.7  # near-uniform initial policy


def test_export_policy_drives_gymnasium_cartpole(key):
    gymnasium = pytest.importorskip("gymnasium")
    config = PPOConfig()
    act = export_policy(config, init_params(config, key, (4,), 2))
    env = gymnasium.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    steps = 0
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(act(obs))
        steps += 1
        done = terminated or truncated
    assert 1 <= steps <= 500


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gymnasium_example_balances_the_pole():
    """The README's interop example, run as a user would."""
    import os
    import subprocess
    import sys

    pytest.importorskip("gymnasium")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(
        [sys.executable, os.path.join(root, "examples", "gymnasium_cartpole.py")],
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mean return over 5 episodes" in proc.stdout
