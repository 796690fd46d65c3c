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

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ppo_jax.core.distributions import dist_log_prob, dist_noise, sample_with_noise
from ppo_jax.core.envs import (
    EnvDraws,
    action_masks,
    draw_env,
    gymnax_base_step,
    step_envs,
    to_env_action,
)
from ppo_jax.core.spec import TrainSpec
from ppo_jax.core.types import Array, EnvCarry, PRNGKey, TrainState, Transition

DRAWS_AHEAD_BYTES = 4 * 2**20
"""Largest ``[T, ...]`` block of random numbers (per run) that :func:`collect_rollout` draws
ahead of its loop; larger rollouts draw each step's in the loop (the same values)."""


class StepDraws(NamedTuple):
    """The random numbers of one rollout step of this device's ``n`` environments (stacked to
    ``[T, ...]`` when drawn ahead of the rollout's loop)."""

    action_noise: Any
    """``[n, A]``: the policy's noise (:func:`~ppo_jax.core.distributions.dist_noise`; a tuple
    of one per leaf for a composite action)."""
    env: EnvDraws
    """The environments' (:func:`~ppo_jax.core.envs.draw_env`)."""


def draw_step(
    spec: TrainSpec,
    env_params: Any,
    key: PRNGKey,
    dist: Any,
    axis_name: str | None = None,
    with_reset: bool = True,
) -> StepDraws:
    """The random numbers of the rollout step keyed ``key``: the action noise for ``dist``
    (the policy's output for this device's ``n`` environments, or its shapes) and the
    environments' draws. With ``axis_name``, both are drawn for all the run's environments and
    this device keeps its block. ``with_reset``: see :func:`~ppo_jax.core.envs.draw_env`."""
    act_key, step_key = jax.random.split(key)
    num_envs = spec.config.num_envs
    if axis_name is None:
        block, select = None, None
    else:
        rows = jax.tree.leaves(dist)[0].shape[0]
        block = (block_start(rows, axis_name), num_envs)

        def select(x: Array) -> Array:
            return env_block(x, axis_name)

    noise = dist_noise(act_key, dist, block)
    env = draw_env(spec.env, env_params, step_key, num_envs, select, with_reset)
    return StepDraws(action_noise=noise, env=env)


def env_step(
    spec: TrainSpec,
    env_params: Any,
    train_state: TrainState,
    carry: EnvCarry,
    key: PRNGKey | None,
    axis_name: str | None = None,
    draws: StepDraws | None = None,
) -> tuple[EnvCarry, Transition]:
    """Act in every environment once with the current policy; returns ``(carry, Transition[N])``.

    A recurrent policy's state is reset where ``carry.first`` and advanced by this step; where
    an episode ends, the next step starts from the initial state again. With ``axis_name``,
    ``carry`` is this device's block of the run's environments (see the module docstring).
    ``draws``: this step's random numbers, drawn ahead (``draw_step(..., key, ...)``; ``key`` is
    then unused); without, they are drawn here from ``key``.
    """
    net, params, obs_norm = spec.network, train_state.params, train_state.obs_norm
    policy_state, dist, value, mask = _policy(spec, env_params, train_state, carry)
    carry = carry._replace(policy_state=policy_state)
    if draws is None:
        if key is None:
            raise ValueError("env_step needs a key, or the step's draws (draw_step)")
        draws = draw_step(spec, env_params, key, dist, axis_name)
    action = sample_with_noise(dist, draws.action_noise)
    env_action = to_env_action(spec.env, env_params, net.env_action(dist, action))
    new_carry, out = step_envs(spec.env, env_params, None, carry, env_action, draws.env)
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
    ``[T, N]`` axes (``T = num_steps``, ``N`` environments). Step ``t`` is keyed by
    ``jax.random.split(key, T)[t]``; its random numbers are drawn ahead of the loop, all ``T``
    steps' in one batched draw, when they fit in ``DRAWS_AHEAD_BYTES`` (with the environments'
    resets, or without them), else in the loop: the same numbers either way.
    """
    keys = jax.random.split(key, spec.config.num_steps)
    dist = _policy_shapes(spec, env_params, train_state, carry)
    with_reset = _draws_ahead(spec, env_params, carry, dist, axis_name)
    if with_reset is None:

        def body(c: EnvCarry, k: PRNGKey) -> tuple[EnvCarry, Transition]:
            return env_step(spec, env_params, train_state, c, k, axis_name)

        return jax.lax.scan(body, carry, keys)

    draws = jax.vmap(lambda k: draw_step(spec, env_params, k, dist, axis_name, with_reset))(keys)

    def body_ahead(c: EnvCarry, d: StepDraws) -> tuple[EnvCarry, Transition]:
        return env_step(spec, env_params, train_state, c, None, axis_name, d)

    return jax.lax.scan(body_ahead, carry, draws)


def _policy(
    spec: TrainSpec, env_params: Any, train_state: TrainState, carry: EnvCarry
) -> tuple[Any, Any, Array, Array | None]:
    """The policy in ``carry``'s environments: ``(policy_state, dist, value, action_mask)``
    (the recurrent state after this step, or ``None``)."""
    net, params, obs_norm = spec.network, train_state.params, train_state.obs_norm
    mask = action_masks(spec.env, env_params, carry.env_state)
    if net.recurrent:
        policy_state, dist, value = net.step(
            params, carry.policy_state, carry.obs, carry.first, obs_norm, mask
        )
        return policy_state, dist, value, mask
    dist, value = net.apply(params, carry.obs, obs_norm, mask)
    return None, dist, value, mask


def _policy_shapes(
    spec: TrainSpec, env_params: Any, train_state: TrainState, carry: EnvCarry
) -> Any:
    """Shapes and dtypes of the policy's distribution over ``carry``'s environments (the action
    mask's from the environment's signature: the environment is not traced again)."""
    rows = carry.first.shape[0]
    mask = mask_shapes(spec, rows)

    def dist_of(train_state: TrainState, carry: EnvCarry, mask: Any) -> Any:
        net, params, obs_norm = spec.network, train_state.params, train_state.obs_norm
        if net.recurrent:
            return net.step(params, carry.policy_state, carry.obs, carry.first, obs_norm, mask)[1]
        return net.apply(params, carry.obs, obs_norm, mask)[0]

    return jax.eval_shape(dist_of, train_state, carry, mask)


def mask_shapes(spec: TrainSpec, rows: int) -> Any:
    """Shapes of the ``[rows, ...]`` action masks of ``spec``'s environment (``None``: none),
    from its :class:`~ppo_jax.core.envs.EnvSignature`."""
    signature = spec.signature
    if signature is None or signature.mask is None:
        return None
    treedef, leaves = signature.mask
    return treedef.unflatten([jax.ShapeDtypeStruct((rows, *shape), bool) for shape, _ in leaves])


def _draws_ahead(
    spec: TrainSpec, env_params: Any, carry: EnvCarry, dist: Any, axis_name: str | None = None
) -> bool | None:
    """How :func:`collect_rollout` draws: ahead with the resets (``True``), ahead without them
    (``False``) or in the loop (``None``); see ``DRAWS_AHEAD_BYTES``. With ``axis_name`` the
    noise and keys are drawn for all the run's environments before a device keeps its block,
    so they count whole."""
    rows = jax.tree.leaves(carry.obs)[0].shape[0]
    drawn = rows if axis_name is None else spec.config.num_envs
    steps = spec.config.num_steps
    key_bytes = 2 * 4
    noise_shapes = jax.eval_shape(dist_noise, jax.ShapeDtypeStruct((2,), jnp.uint32), dist)
    noise = sum(
        math.prod(x.shape[1:]) * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(noise_shapes)
    )
    per_step = drawn * (noise + key_bytes) + 2 * key_bytes
    if steps * per_step > DRAWS_AHEAD_BYTES:
        return None
    if not gymnax_base_step(spec.env) or spec.signature is None:
        return False
    reset_bytes = spec.signature.reset_bytes  # reset_env's output, as reset's
    return steps * (per_step + rows * reset_bytes) <= DRAWS_AHEAD_BYTES


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
