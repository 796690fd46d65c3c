"""PPO losses (Schulman et al. 2017, https://arxiv.org/abs/1707.06347) and diagnostics.

All functions are pure; batch arrays are ``[B]`` (or ``[T, B]`` sequences of a recurrent policy).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ppo_jax.core.config import Hyperparams
from ppo_jax.core.distributions import Distribution, dist_entropy, dist_log_prob
from ppo_jax.core.spec import TrainSpec
from ppo_jax.core.types import Array, Batch, LossInfo, Params, RunningStats

ADV_NORM_EPS = 1e-8
"""Added to the advantage std when normalising."""


def clipped_surrogate_loss(
    log_probs: Array, old_log_probs: Array, advantages: Array, clip_eps: jax.typing.ArrayLike
) -> Array:
    """Clipped surrogate ``-mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A))``.

    ``ratio = exp(log_probs - old_log_probs)``.

    Args:
      log_probs: ``[B]`` log-probabilities under the current policy (differentiated).
      old_log_probs: ``[B]`` log-probabilities under the behaviour policy.
      advantages: ``[B]`` advantage estimates.
      clip_eps: clipping epsilon.

    Returns:
      Scalar loss (to be minimised).
    """
    ratio = jnp.exp(log_probs - old_log_probs)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -jnp.mean(jnp.minimum(unclipped, clipped))


def value_loss(
    values: Array,
    old_values: Array,
    targets: Array,
    vf_clip_eps: jax.typing.ArrayLike | None = None,
) -> Array:
    """``0.5 * mean((V - target)^2)``; with ``vf_clip_eps``, the PPO2 pessimistic clipped form
    ``0.5 * mean(max((V - t)^2, (V_old + clip(V - V_old, -c, c) - t)^2))``. Inputs ``[B]``."""
    err = jnp.square(values - targets)
    if vf_clip_eps is not None:
        clipped = old_values + jnp.clip(values - old_values, -vf_clip_eps, vf_clip_eps)  # type: ignore[operator]
        err = jnp.maximum(err, jnp.square(clipped - targets))
    return 0.5 * jnp.mean(err)


def explained_variance(predictions: Array, targets: Array, axis_name: str | None = None) -> Array:
    """``1 - Var(targets - predictions) / Var(targets)``; NaN if ``Var(targets) == 0``.

    With ``axis_name`` the variances are over every equal-sized shard along that mesh axis.
    """
    var_t = _mean_and_variance(targets, axis_name)[1]
    var_err = _mean_and_variance(targets - predictions, axis_name)[1]
    return jnp.where(var_t > 0, 1.0 - var_err / var_t, jnp.nan)


def _mean_and_variance(x: Array, axis_name: str | None) -> tuple[Array, Array]:
    """Mean and (population) variance of ``x``, across the shards of ``axis_name`` if given."""
    if axis_name is None:
        return jnp.mean(x), jnp.var(x)
    mean = jax.lax.pmean(jnp.mean(x), axis_name)
    return mean, jax.lax.pmean(jnp.mean(jnp.square(x - mean)), axis_name)


def normalize(advantages: Array, axis_name: str | None = None) -> Array:
    """Zero-mean, unit-std advantages ``[B]``.

    With ``axis_name`` (inside ``shard_map``/``vmap`` over equal-sized shards of one minibatch)
    the mean and std are those of the whole minibatch across the shards.
    """
    if axis_name is None:
        return (advantages - advantages.mean()) / (advantages.std() + ADV_NORM_EPS)
    mean, var = _mean_and_variance(advantages, axis_name)
    return (advantages - mean) / (jnp.sqrt(var) + ADV_NORM_EPS)


def policy_and_value(
    spec: TrainSpec, params: Params, batch: Batch, obs_norm: RunningStats | None
) -> tuple[Distribution, Array]:
    """The current policy and values at the batch's observations: ``[B]`` (feed-forward) or
    ``[T, B]`` (recurrent: the sequences replayed from their stored start states)."""
    net = spec.network
    if net.recurrent:
        return net.unroll(
            params, batch.policy_state, batch.obs, batch.first, obs_norm, batch.action_mask
        )
    return net.apply(params, batch.obs, obs_norm, batch.action_mask)


def ppo_loss(
    params: Params,
    spec: TrainSpec,
    hp: Hyperparams,
    batch: Batch,
    obs_norm: RunningStats | None = None,
    axis_name: str | None = None,
) -> tuple[Array, LossInfo]:
    """Total PPO loss ``policy + vf_coef * value - ent_coef * entropy`` on one minibatch.

    Args:
      params: trainable parameters (differentiated).
      spec: the static setup (network, value clipping, advantage normalisation).
      hp: traced hyperparameters (``clip_eps``, ``vf_coef``, ``ent_coef``).
      batch: minibatch with leading axis ``[B]`` (or ``[T, B]`` sequences).
      obs_norm: observation statistics the rollout acted with (held fixed).
      axis_name: when the minibatch is split over devices, the mesh axis to normalise the
        advantages across (the loss itself stays this shard's mean; averaging the shards'
        gradients gives the gradient of the whole minibatch's loss).

    Returns:
      ``(scalar loss, LossInfo)``.
    """
    config = spec.config
    dist, values = policy_and_value(spec, params, batch, obs_norm)
    new_log_probs = dist_log_prob(dist, batch.action)
    adv = normalize(batch.advantage, axis_name) if config.normalize_advantages else batch.advantage
    pg_loss = clipped_surrogate_loss(new_log_probs, batch.log_prob, adv, hp.clip_eps)
    v_loss = value_loss(values, batch.value, batch.target, config.vf_clip_eps)
    ent = jnp.mean(dist_entropy(dist))
    total = pg_loss + hp.vf_coef * v_loss - hp.ent_coef * ent
    log_ratio = jax.lax.stop_gradient(new_log_probs - batch.log_prob)
    ratio = jnp.exp(log_ratio)
    info = LossInfo(
        total_loss=total,
        policy_loss=pg_loss,
        value_loss=v_loss,
        entropy=ent,
        # Schulman's low-variance estimator of KL(old || new): E[(r - 1) - log r].
        approx_kl=jnp.mean((ratio - 1.0) - log_ratio),
        clip_fraction=jnp.mean((jnp.abs(ratio - 1.0) > hp.clip_eps).astype(jnp.float32)),
    )
    return total, info


def loss_and_grad(
    params: Params,
    spec: TrainSpec,
    hp: Hyperparams,
    batch: Batch,
    obs_norm: RunningStats | None = None,
    axis_name: str | None = None,
) -> tuple[tuple[Array, LossInfo], Any]:
    """``((loss, LossInfo), grads)`` of :func:`ppo_loss` with respect to ``params``.

    With ``axis_name`` the minibatch is split over that mesh axis: the gradients and the loss
    diagnostics are averaged over it, so every shard returns those of the whole minibatch.
    """

    def loss_of(p: Params) -> tuple[Array, LossInfo]:
        return ppo_loss(p, spec, hp, batch, obs_norm, axis_name)

    out = jax.value_and_grad(loss_of, has_aux=True)(params)
    if axis_name is None:
        return out
    return jax.lax.pmean(out, axis_name)
