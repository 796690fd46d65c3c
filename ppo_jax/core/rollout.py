"""Rollout collection: ``num_steps`` of vmapped environment steps in one ``lax.scan``.

Every step records ``V(s_t)`` (the critic runs with the actor), the action's log-probability
under the acting policy, and the pre-reset next observation, so that truncated episodes are
bootstrapped from the state the time limit cut (:func:`bootstrap_values`).

``axis_name``: this device holds one contiguous block of a run's environments (inside
``shard_map`` over that mesh axis; see ``ppo_jax.run.parallel``). Every random number is then
drawn as the one-device program draws it, for all the run's environments, and the device keeps
its block (:func:`env_block`), so a run split over any number of devices acts and steps exactly
as the unsplit run.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ppo_jax.core.distributions import dist_log_prob, dist_sample
from ppo_jax.core.envs import action_masks, step_envs, to_env_action
from ppo_jax.core.spec import TrainSpec
from ppo_jax.core.types import Array, EnvCarry, PRNGKey, TrainState, Transition


def env_step(
    spec: TrainSpec,
    env_params: Any,
    train_state: TrainState,
    carry: EnvCarry,
    key: PRNGKey,
    axis_name: str | None = None,
) -> tuple[EnvCarry, Transition]:
    """Act in every environment once with the current policy; returns ``(carry, Transition[N])``.

    A recurrent policy's state is reset where ``carry.first`` and advanced by this step; where
    an episode ends, the next step starts from the initial state again. With ``axis_name``,
    ``carry`` is this device's block of the run's environments (see the module docstring).
    """
    act_key, step_key = jax.random.split(key)
    net, params, obs_norm = spec.network, train_state.params, train_state.obs_norm
    mask = action_masks(spec.env, env_params, carry.env_state)
    if net.recurrent:
        policy_state, dist, value = net.step(
            params, carry.policy_state, carry.obs, carry.first, obs_norm, mask
        )
    else:
        policy_state = None
        dist, value = net.apply(params, carry.obs, obs_norm, mask)
    carry = carry._replace(policy_state=policy_state)
    if axis_name is None:
        action = dist_sample(act_key, dist)
        env_action = to_env_action(spec.env, env_params, action)
        new_carry, out = step_envs(spec.env, env_params, step_key, carry, env_action)
    else:
        block = (block_start(carry.obs.shape[0], axis_name), spec.config.num_envs)
        action = dist_sample(act_key, dist, block)
        env_action = to_env_action(spec.env, env_params, action)
        keys = env_block(jax.random.split(step_key, spec.config.num_envs), axis_name)
        new_carry, out = step_envs_with_keys(spec.env, env_params, keys, carry, env_action)
    next_value = None
    if net.recurrent:
        # V of the true next state needs the policy state after this step: computed here.
        _, _, next_value = net.step(
            params, policy_state, out["final_obs"], jnp.zeros_like(carry.first), obs_norm
        )
    transition = Transition(
        obs=carry.obs,
        action=action,
        log_prob=dist_log_prob(dist, action),
        value=value,
        reward=out["reward"],
        terminated=out["terminated"],
        truncated=out["truncated"],
        final_obs=out["final_obs"],
        completed_return=out["completed_return"],
        completed_length=out["completed_length"],
        first=carry.first,
        action_mask=mask,
        next_value=next_value,
    )
    return new_carry, transition


def collect_rollout(
    spec: TrainSpec,
    env_params: Any,
    train_state: TrainState,
    carry: EnvCarry,
    key: PRNGKey,
    axis_name: str | None = None,
) -> tuple[EnvCarry, Transition]:
    """Run ``num_steps`` steps of every environment (of this device's block, with
    ``axis_name``).

    Returns the carry after the last step and the stacked ``Transition`` with leading
    ``[T, N]`` axes (``T = num_steps``, ``N`` environments).
    """

    def body(c: EnvCarry, k: PRNGKey) -> tuple[EnvCarry, Transition]:
        return env_step(spec, env_params, train_state, c, k, axis_name)

    return jax.lax.scan(body, carry, jax.random.split(key, spec.config.num_steps))


def bootstrap_values(spec: TrainSpec, train_state: TrainState, traj: Transition) -> Array:
    """``V(s'_t)`` ``[T, N]`` of the true (pre-reset) next states.

    Feed-forward policies evaluate the critic on all ``final_obs`` in one batched call after the
    rollout. A recurrent policy's next-state values were computed during the rollout (they need
    the policy state of that moment): ``traj.next_value``.
    """
    if traj.next_value is not None:
        return traj.next_value
    return spec.network.value(train_state.params, traj.final_obs, train_state.obs_norm)


def block_start(block_size: int, axis_name: str) -> Array:
    """Index of this device's first row when every device on ``axis_name`` holds
    ``block_size`` consecutive rows (device ``i`` rows ``i * block_size ..``)."""
    return jax.lax.axis_index(axis_name) * block_size


def env_block(full: Any, axis_name: str | None) -> Any:
    """This device's block of every ``[N, ...]`` leaf of ``full``: the ``axis_index``-th of
    ``axis_size`` equal consecutive blocks of rows; ``full`` itself without ``axis_name``."""
    if axis_name is None:
        return full
    shards = jax.lax.axis_size(axis_name)

    def block(x: Array) -> Array:
        size = x.shape[0] // shards
        return jax.lax.dynamic_slice_in_dim(x, block_start(size, axis_name), size, axis=0)

    return jax.tree.map(block, full)


class _KeysInState:
    """``env`` whose ``step`` takes its key from the state, ``(state, key)``, and ignores the
    key it is given (:func:`step_envs_with_keys`)."""

    def __init__(self, env: Any) -> None:
        self._env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def step(self, key: PRNGKey, state: Any, action: Any, params: Any = None) -> Any:
        del key
        inner, own_key = state
        obs, inner, reward, terminated, truncated, info = self._env.step(
            own_key, inner, action, params
        )
        return obs, (inner, own_key), reward, terminated, truncated, info


def step_envs_with_keys(
    env: Any, env_params: Any, keys: PRNGKey, carry: EnvCarry, action: Array
) -> tuple[EnvCarry, dict[str, Array]]:
    """:func:`~ppo_jax.core.envs.step_envs` with one given key per environment (``keys [N]``)
    instead of one key split ``N`` ways: a device holding a block of a run's environments
    steps them with its block of the whole run's keys. (The unused split key is dead code.)"""
    keyed = carry._replace(env_state=(carry.env_state, keys))
    new_carry, out = step_envs(_KeysInState(env), env_params, keys[0], keyed, action)
    return new_carry._replace(env_state=new_carry.env_state[0]), out
