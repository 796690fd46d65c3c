"""Rollout collection: ``num_steps`` of vmapped gymnax steps in one ``lax.scan``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ppo_jax.config import PPOConfig
from ppo_jax.envs import step_envs, to_env_action
from ppo_jax.networks import action_distribution, dist_log_prob, dist_sample, state_value
from ppo_jax.types import Array, EnvCarry, Params, PRNGKey, Transition


def env_step(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    params: Params,
    carry: EnvCarry,
    key: PRNGKey,
) -> tuple[EnvCarry, Transition]:
    """Act in every environment once with the current policy; returns ``(carry, Transition[N])``."""
    act_key, step_key = jax.random.split(key)
    dist = action_distribution(config, params, carry.obs)
    action = dist_sample(act_key, dist)
    env_action = to_env_action(env, env_params, action)
    new_carry, out = step_envs(env, env_params, step_key, carry, env_action)
    transition = Transition(
        obs=carry.obs,
        action=action,
        log_prob=dist_log_prob(dist, action),
        reward=out["reward"],
        terminated=out["terminated"],
        truncated=out["truncated"],
        final_obs=out["final_obs"],
        completed_return=out["completed_return"],
        completed_length=out["completed_length"],
    )
    return new_carry, transition


def collect_rollout(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    params: Params,
    carry: EnvCarry,
    key: PRNGKey,
) -> tuple[EnvCarry, Transition]:
    """Run ``config.num_steps`` steps of every environment.

    Returns the carry after the last step and the stacked ``Transition`` with leading
    ``[T, N]`` axes (``T = num_steps``, ``N = num_envs``).
    """

    def body(c: EnvCarry, k: PRNGKey) -> tuple[EnvCarry, Transition]:
        return env_step(config, env, env_params, params, c, k)

    return jax.lax.scan(body, carry, jax.random.split(key, config.num_steps))


def rollout_values(config: PPOConfig, params: Params, traj: Transition) -> tuple[Array, Array]:
    """``(V(s_t), V(s'_t))``, each ``[T, N]``, in one batched critic call.

    ``s'_t`` is the true next state (the pre-reset ``final_observation``), so truncated episodes
    are bootstrapped from the state the time limit cut, not from the next episode's first state.
    """
    both = jnp.concatenate([traj.obs, traj.final_obs], axis=0)
    values = state_value(config, params, both)
    t = traj.obs.shape[0]
    return values[:t], values[t:]
