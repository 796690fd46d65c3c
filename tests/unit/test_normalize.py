"""ppo_jax.core.normalize: running statistics equal those of all samples (Chan et al.'s merge),
reward scaling matches a loop oracle, and observation statistics are training state the
optimiser never touches."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax import PPOConfig, train_seeds
from ppo_jax.core.normalize import (
    INITIAL_COUNT,
    init_reward_norm,
    init_stats,
    normalize,
    scale_rewards,
    update_stats,
)


def test_running_stats_equal_the_statistics_of_all_samples(key):
    data = jax.random.normal(key, (5, 37, 3)) * jnp.array([1.0, 10.0, 0.1]) + jnp.array([3, -2, 0])
    stats = init_stats((3,))
    for chunk in data:
        stats = update_stats(stats, chunk)
    flat = np.asarray(data).reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.var, flat.var(0), rtol=1e-3)
    np.testing.assert_allclose(stats.samples, 5 * 37 + INITIAL_COUNT, rtol=1e-6)
    z = np.asarray(normalize(stats, data, clip=100.0)).reshape(-1, 3)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-3)
    assert float(jnp.max(normalize(stats, data * 1e3, clip=5.0))) == 5.0


def test_reward_scaling_matches_a_loop_oracle(key):
    gamma, t_len, n = 0.9, 12, 3
    rewards = np.asarray(jax.random.normal(key, (t_len, n)) + 1.0)
    dones = np.zeros((t_len, n), bool)
    dones[4, 0] = dones[7, 1] = dones[7, 2] = True
    state, scaled = scale_rewards(init_reward_norm(n), rewards, dones, gamma, clip=10.0)
    g = np.zeros(n)
    returns = []
    for t in range(t_len):
        g = rewards[t] + gamma * g
        returns.append(g.copy())
        g = np.where(dones[t], 0.0, g)
    returns = np.array(returns)
    m, c = returns.mean(), returns.size
    var = 1.0 * INITIAL_COUNT + returns.var() * c + m**2 * INITIAL_COUNT * c / (c + INITIAL_COUNT)
    var /= c + INITIAL_COUNT
    np.testing.assert_allclose(state.stats.var, var, rtol=1e-4)
    np.testing.assert_allclose(state.returns, g, rtol=1e-5)
    np.testing.assert_allclose(scaled, rewards / np.sqrt(var + 1e-8), rtol=1e-4)


def test_observation_statistics_are_trained_state_not_parameters():
    config = PPOConfig(
        env_name="Pendulum-v1", num_envs=8, num_steps=16, total_timesteps=8 * 16 * 4,
        hidden_sizes=(16,), normalize_observations=True, normalize_rewards=True,
    )  # fmt: skip
    result = train_seeds(config, [0, 1])
    stats = result.obs_norm
    assert "obs_norm" not in result.params  # their own state field, not parameters
    # reset observations + 4 rollouts of 8 x 16, per seed
    np.testing.assert_allclose(stats.samples, [8 + 4 * 128 + INITIAL_COUNT] * 2, rtol=1e-6)
    assert stats.mean.shape == (2, 3) and not np.allclose(stats.mean[0], stats.mean[1])
    # Pendulum observations are (cos, sin, angular velocity): |cos|, |sin| <= 1.
    assert np.all(np.abs(np.asarray(stats.mean)[:, :2]) <= 1.0)
    # The optimiser's moments cover exactly the trained parameters, not the statistics.
    adam = next(
        x
        for x in jax.tree.leaves(result.train_state.opt_state, is_leaf=lambda x: hasattr(x, "mu"))
        if hasattr(x, "mu")
    )
    trained = sum(x.size for x in jax.tree.leaves(result.params))
    assert sum(x.size for x in jax.tree.leaves(adam.mu)) == trained
