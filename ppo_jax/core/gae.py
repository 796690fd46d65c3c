"""Generalised Advantage Estimation (Schulman et al. 2016, https://arxiv.org/abs/1506.02438).

All inputs are time-major ``[T, ...]`` (any trailing batch shape). Termination and truncation are
kept apart: a terminated step has no continuation value, a truncated step (time limit) continues
from ``V(s'_t)``, the value of the true (pre-reset) next observation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ppo_jax.core.types import Array


def compute_gae(
    rewards: Array,
    values: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    gamma: jax.typing.ArrayLike,
    gae_lambda: jax.typing.ArrayLike,
) -> tuple[Array, Array]:
    """GAE advantages and lambda-return targets, by a reverse ``lax.scan`` over time.

    ``delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)``
    ``A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}``, ``done = terminated | truncated``,
    ``A_T = 0`` (the rollout end is bootstrapped through ``V(s'_{T-1})`` in ``delta``).

    Args:
      rewards: ``[T, ...]`` rewards ``r_t``.
      values: ``[T, ...]`` ``V(s_t)``.
      next_values: ``[T, ...]`` ``V(s'_t)`` of the true next state (``final_observation``).
      terminated: ``[T, ...]`` bool, episode ended in a terminal state at step t.
      truncated: ``[T, ...]`` bool, episode was cut by a time limit at step t.
      gamma: discount (scalar, may be traced).
      gae_lambda: GAE lambda (scalar, may be traced).

    Returns:
      ``(advantages [T, ...], returns [T, ...])`` with ``returns = advantages + values``; both
      wrapped in ``stop_gradient``.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    values = jnp.asarray(values, jnp.float32)
    next_values = jnp.asarray(next_values, jnp.float32)
    not_term = 1.0 - jnp.asarray(terminated, jnp.float32)
    not_done = 1.0 - jnp.maximum(
        jnp.asarray(terminated, jnp.float32), jnp.asarray(truncated, jnp.float32)
    )
    deltas = rewards + gamma * not_term * next_values - values

    def step(next_adv: Array, xs: tuple[Array, Array]) -> tuple[Array, Array]:
        delta, cont = xs
        adv = delta + gamma * gae_lambda * cont * next_adv
        return adv, adv

    _, advantages = jax.lax.scan(step, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True)
    advantages = jax.lax.stop_gradient(advantages)
    return advantages, jax.lax.stop_gradient(advantages + values)


def compute_reward_to_go(
    rewards: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    gamma: jax.typing.ArrayLike,
) -> Array:
    """Discounted reward-to-go critic targets ``[T, ...]``, by a reverse ``lax.scan``.

    ``G_t = r_t + gamma * (1 - terminated_t) * C_t`` where the continuation ``C_t`` is
    ``V(s'_t)`` if the episode was truncated at t or t is the last rollout step, else ``G_{t+1}``.
    Equals the lambda-return with ``lambda = 1``.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    next_values = jnp.asarray(next_values, jnp.float32)
    not_term = 1.0 - jnp.asarray(terminated, jnp.float32)
    trunc = jnp.asarray(truncated, jnp.float32) * not_term

    def step(next_return: Array, xs: tuple[Array, ...]) -> tuple[Array, Array]:
        reward, nt, tr, next_value = xs
        cont = tr * next_value + (1.0 - tr) * next_return
        ret = reward + gamma * nt * cont
        return ret, ret

    _, returns = jax.lax.scan(
        step, next_values[-1], (rewards, not_term, trunc, next_values), reverse=True
    )
    return jax.lax.stop_gradient(returns)
