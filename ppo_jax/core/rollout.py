"""Rollout collection: ``num_steps`` of vmapped environment steps in one ``lax.scan``.

Every step records ``V(s_t)`` (the critic runs with the actor), the action's log-probability
under the acting policy, and the pre-reset next observation, so that truncated episodes are
bootstrapped from the state the time limit cut (:func:`bootstrap_values`).
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
) -> tuple[EnvCarry, Transition]:
    """Act in every environment once with the current policy; returns ``(carry, Transition[N])``.

    A recurrent policy's state is reset where ``carry.first`` and advanced by this step; where
    an episode ends, the next step starts from the initial state again.
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
    action = dist_sample(act_key, dist)
    env_action = to_env_action(spec.env, env_params, action)
    new_carry, out = step_envs(
        spec.env, env_params, step_key, carry._replace(policy_state=policy_state), env_action
    )
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
) -> tuple[EnvCarry, Transition]:
    """Run ``num_steps`` steps of every environment.

    Returns the carry after the last step and the stacked ``Transition`` with leading
    ``[T, N]`` axes (``T = num_steps``, ``N`` environments).
    """

    def body(c: EnvCarry, k: PRNGKey) -> tuple[EnvCarry, Transition]:
        return env_step(spec, env_params, train_state, c, k)

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
