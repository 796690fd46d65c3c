"""Rollout: shapes, auto-reset, and bootstrapping from the pre-reset final observation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from probe_envs import ConstantRewardEnv, CounterParams

from ppo_jax import PPOConfig, state_value
from ppo_jax.envs import make_env, reset_envs
from ppo_jax.networks import init_params
from ppo_jax.rollout import collect_rollout, rollout_values


def test_cartpole_rollout_shapes_and_consistency(key):
    cfg = PPOConfig(num_envs=5, num_steps=40, total_timesteps=200, num_minibatches=1)
    env, env_params = make_env(cfg)
    params = init_params(cfg, key, (4,), 2)
    carry = reset_envs(env, env_params, key, cfg.num_envs)
    carry2, traj = jax.jit(lambda c, k: collect_rollout(cfg, env, env_params, params, c, k))(
        carry, jax.random.PRNGKey(1)
    )
    T, N = cfg.num_steps, cfg.num_envs
    assert traj.obs.shape == (T, N, 4)
    assert traj.final_obs.shape == (T, N, 4)
    for name in ("action", "log_prob", "reward", "terminated", "truncated"):
        assert getattr(traj, name).shape == (T, N), name
    done = np.asarray(traj.terminated | traj.truncated)
    assert done.any(), "a random CartPole policy should end some episodes within 40 steps"
    obs, final = np.asarray(traj.obs), np.asarray(traj.final_obs)
    # Where no episode ended, the true next observation is the next step's observation.
    np.testing.assert_array_equal(final[:-1][~done[:-1]], obs[1:][~done[:-1]])
    np.testing.assert_array_equal(final[-1][~done[-1]], np.asarray(carry2.obs)[~done[-1]])
    # Where an episode ended, the next observation is a fresh reset (|x| <= 0.05), while the
    # final observation is the failed state.
    assert np.all(np.abs(obs[1:][done[:-1]]) <= 0.05)
    assert np.all(np.abs(final[done]).max(axis=-1) > 0.05)
    # Completed-episode bookkeeping: returns equal lengths in CartPole (reward 1 per step).
    np.testing.assert_array_equal(traj.completed_return[done], traj.completed_length[done])
    assert np.all(np.asarray(traj.completed_return)[~done] == 0)


def test_truncation_keeps_the_pre_reset_observation(key):
    env = ConstantRewardEnv()
    env_params = CounterParams(max_steps_in_episode=3, show_time=True)
    cfg = PPOConfig(num_envs=2, num_steps=7, total_timesteps=14, num_minibatches=1)
    params = init_params(cfg, key, (1,), 2)
    carry = reset_envs(env, env_params, key, cfg.num_envs)
    _, traj = collect_rollout(cfg, env, env_params, params, carry, jax.random.PRNGKey(2))
    # time: 0 1 2 | 0 1 2 | 0  -> truncation at steps 2 and 5
    np.testing.assert_array_equal(traj.obs[:, 0, 0], [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(traj.final_obs[:, 0, 0], [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(traj.truncated[:, 0], [0, 0, 1, 0, 0, 1, 0])
    assert not traj.terminated.any()
    values, next_values = rollout_values(cfg, params, traj)
    np.testing.assert_allclose(
        next_values[2, 0], state_value(cfg, params, jnp.array([3.0])), rtol=1e-6
    )
    np.testing.assert_allclose(values[3, 0], state_value(cfg, params, jnp.array([0.0])), rtol=1e-6)
    np.testing.assert_array_equal(traj.completed_return[:, 0], [0, 0, 3, 0, 0, 3, 0])
