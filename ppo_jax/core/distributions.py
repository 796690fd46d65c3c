"""Policy distributions as NamedTuples of arrays, and pure functions of them.

* :class:`Categorical` (discrete actions): ``logits [..., A]``; actions are int32 ``[...]``.
  :func:`masked_categorical` gives illegal actions (``mask`` False) zero probability: their
  logits become the most negative float, so ``softmax`` is exactly 0 there, sampling never picks
  them, and the log-probabilities and entropy are those of the distribution over legal actions.
* :class:`DiagGaussian` (continuous actions): ``mean``, ``log_std [..., A]``; actions are float
  ``[..., A]``, sampled unbounded (clipped to the environment's bounds only when stepping it, so
  log-probabilities stay exact without a squashing correction).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ppo_jax.core.types import Array, PRNGKey


class Categorical(NamedTuple):
    """Categorical policy over ``A`` actions: ``logits [..., A]``; actions are int32 ``[...]``."""

    logits: Array


class DiagGaussian(NamedTuple):
    """Diagonal Gaussian policy: ``mean``, ``log_std`` ``[..., A]``; float actions ``[..., A]``."""

    mean: Array
    log_std: Array


Distribution = Categorical | DiagGaussian

_LOG_2PI = math.log(2.0 * math.pi)


def masked_categorical(logits: Array, mask: Array | None) -> Categorical:
    """``Categorical(logits)`` with the actions where ``mask [..., A]`` is False made impossible.

    ``mask=None`` keeps every action. At least one action must be legal in every row.
    """
    if mask is None:
        return Categorical(logits=logits)
    floor = jnp.finfo(logits.dtype).min
    return Categorical(logits=jnp.where(mask, logits, floor))


# ------------------------------------------------------------------ categorical helpers
def sample_action(key: PRNGKey, logits: Array) -> Array:
    """Sample actions ``[...]`` (int32) from categorical ``logits [..., A]``."""
    return jax.random.categorical(key, logits).astype(jnp.int32)


def log_prob(logits: Array, action: Array) -> Array:
    """``log pi(action)`` ``[...]`` under categorical ``logits [..., A]``."""
    logp = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def entropy(logits: Array) -> Array:
    """Entropy ``[...]`` of categorical ``logits [..., A]`` (nats); actions of probability 0
    (masked) contribute nothing."""
    logp = jax.nn.log_softmax(logits)
    p = jnp.exp(logp)
    return -jnp.sum(jnp.where(p > 0, p * logp, 0.0), axis=-1)


# ------------------------------------------------------------- both action kinds
def dist_sample(key: PRNGKey, dist: Distribution, block: tuple[Array, int] | None = None) -> Array:
    """One action per batch element: :func:`sample_with_noise` of :func:`dist_noise`.

    ``block=(start, total)``: ``dist`` holds rows ``start .. start + n`` of a batch of ``total``
    rows (a device's share of a batch split over devices). The noise is drawn for the whole
    ``[total, ...]`` batch and those rows are kept, so the actions are the rows a draw for the
    whole batch gives (:func:`jax.random.categorical` is ``argmax(logits + Gumbel noise)``).
    """
    return sample_with_noise(dist, dist_noise(key, dist, block))


def dist_noise(key: PRNGKey, dist: Any, block: tuple[Array, int] | None = None) -> Array:
    """The noise :func:`dist_sample` draws for ``dist`` (arrays, or only their shapes, as
    ``jax.eval_shape`` gives them): standard normal like ``mean`` ``[n, A]`` (Gaussian) or
    Gumbel like ``logits`` ``[n, A]`` (categorical); ``block`` as for :func:`dist_sample`."""
    if isinstance(dist, DiagGaussian):
        return _block_of_noise(jax.random.normal, key, dist.mean, block)
    return _block_of_noise(jax.random.gumbel, key, dist.logits, block)


def sample_with_noise(dist: Distribution, noise: Array) -> Array:
    """The action ``noise`` (from :func:`dist_noise`) picks: ``mean + std * noise`` (float
    ``[n, A]``) or ``argmax(logits + noise)`` (int32 ``[n]``, as ``jax.random.categorical``)."""
    if isinstance(dist, DiagGaussian):
        return dist.mean + jnp.exp(dist.log_std) * noise
    return jnp.argmax(dist.logits + noise, axis=-1).astype(jnp.int32)


def _block_of_noise(draw: Any, key: PRNGKey, like: Array, block: tuple[Array, int] | None) -> Array:
    """``draw(key, shape, dtype)`` shaped like ``like``, or rows ``block`` of that draw for a
    batch of ``block[1]`` rows."""
    if block is None:
        return draw(key, like.shape, like.dtype)
    start, total = block
    noise = draw(key, (total, *like.shape[1:]), like.dtype)
    return jax.lax.dynamic_slice_in_dim(noise, start, like.shape[0], axis=0)


def dist_log_prob(dist: Distribution, action: Array) -> Array:
    """``log pi(action)`` ``[...]`` (summed over action dimensions for a Gaussian)."""
    if isinstance(dist, DiagGaussian):
        z = (action - dist.mean) * jnp.exp(-dist.log_std)
        return jnp.sum(-0.5 * jnp.square(z) - dist.log_std - 0.5 * _LOG_2PI, axis=-1)
    return log_prob(dist.logits, action)


def dist_entropy(dist: Distribution) -> Array:
    """Entropy ``[...]`` in nats."""
    if isinstance(dist, DiagGaussian):
        return jnp.sum(dist.log_std + 0.5 * (_LOG_2PI + 1.0), axis=-1)
    return entropy(dist.logits)


def dist_mode(dist: Distribution) -> Array:
    """The most probable action (greedy evaluation): argmax of the logits, or the mean."""
    if isinstance(dist, DiagGaussian):
        return dist.mean
    return jnp.argmax(dist.logits, axis=-1).astype(jnp.int32)
