"""Policy distributions as NamedTuples of arrays, and pure functions of them.

* :class:`Categorical` (discrete actions): ``logits [..., A]``; actions are int32 ``[...]``.
  :func:`masked_categorical` gives illegal actions (``mask`` False) zero probability: their
  logits become the most negative float, so ``softmax`` is exactly 0 there, sampling never picks
  them, and the log-probabilities and entropy are those of the distribution over legal actions.
* :class:`DiagGaussian` (continuous actions): ``mean``, ``log_std [..., A]``; actions are float
  ``[..., A]``, sampled unbounded (clipped to the environment's bounds only when stepping it, so
  log-probabilities stay exact without a squashing correction).
* :class:`TanhGaussian` (bounded continuous actions): a diagonal Gaussian over ``u``, squashed
  into ``[low, high]`` by ``low + (high - low) * (tanh(u) + 1) / 2``. The stored action is
  ``u`` (:func:`dist_env_action` squashes it for the environment), so log-probabilities need
  no inverse ``tanh``: ``log N(u) - sum log(scale * (1 - tanh(u)^2))``, exact, with the
  log-det in its overflow-free form ``2 (log 2 - u - softplus(-2u))``. The entropy of the
  squashed distribution has no closed form; :func:`dist_entropy` computes it per dimension
  with ``GAUSS_HERMITE_POINTS``-point Gauss-Hermite quadrature of the expected log-det
  (deterministic and differentiable, accurate to ~1e-6 nats for ``std`` up to ~3).
* :class:`Beta` (bounded continuous actions): ``alpha``, ``beta`` ``[..., A]`` scaled to
  ``[low, high]``; actions are the scaled samples.
* :class:`Composite`: a product of the above over the leaves of an action pytree (a
  ``spaces.Tuple``/``spaces.Dict``; MultiDiscrete is a Tuple of Discretes). Its actions are a
  tuple with one entry per leaf (in ``jax.tree`` order); log-probability and entropy are the
  sums over the leaves; each leaf's noise is keyed ``fold_in(key, leaf index)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.types import Array, PRNGKey


class Categorical(NamedTuple):
    """Categorical policy over ``A`` actions: ``logits [..., A]``; actions are int32 ``[...]``."""

    logits: Array


class DiagGaussian(NamedTuple):
    """Diagonal Gaussian policy: ``mean``, ``log_std`` ``[..., A]``; float actions ``[..., A]``."""

    mean: Array
    log_std: Array


class TanhGaussian(NamedTuple):
    """Gaussian over ``u`` squashed into ``[low, high]``: ``mean``, ``log_std``, ``low``,
    ``high`` all ``[..., A]``; stored actions are ``u`` (float ``[..., A]``)."""

    mean: Array
    log_std: Array
    low: Array
    high: Array


class Beta(NamedTuple):
    """Beta policy scaled to ``[low, high]``: ``alpha``, ``beta``, ``low``, ``high`` all
    ``[..., A]``; actions are float ``[..., A]`` inside the bounds."""

    alpha: Array
    beta: Array
    low: Array
    high: Array


class Composite(NamedTuple):
    """Product policy over an action pytree: one distribution per leaf, in ``jax.tree`` order;
    actions (and masks) are tuples with one entry per leaf."""

    parts: tuple[Any, ...]


Distribution = Categorical | DiagGaussian | TanhGaussian | Beta | Composite

_LOG_2PI = math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)
GAUSS_HERMITE_POINTS = 24
"""Quadrature points of the tanh-Gaussian entropy (:func:`dist_entropy`)."""
BETA_EDGE = 1e-6
"""A Beta action is kept this far (relative to ``high - low``) inside the bounds when its
log-probability is taken, so a float32 sample that rounds onto a bound stays finite."""


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


# ------------------------------------------------------------- every action kind
def dist_sample(key: PRNGKey, dist: Distribution, block: tuple[Array, int] | None = None) -> Any:
    """One action per batch element: :func:`sample_with_noise` of :func:`dist_noise`.

    ``block=(start, total)``: ``dist`` holds rows ``start .. start + n`` of a batch of ``total``
    rows (a device's share of a batch split over devices). The noise is drawn for the whole
    ``[total, ...]`` batch and those rows are kept, so the actions are the rows a draw for the
    whole batch gives (:func:`jax.random.categorical` is ``argmax(logits + Gumbel noise)``).
    """
    return sample_with_noise(dist, dist_noise(key, dist, block))


def dist_noise(key: PRNGKey, dist: Any, block: tuple[Array, int] | None = None) -> Any:
    """The noise :func:`dist_sample` draws for ``dist`` (arrays, or only their shapes, as
    ``jax.eval_shape`` gives them): standard normal like ``mean`` ``[n, A]`` (Gaussian and
    tanh-Gaussian), Gumbel like ``logits`` ``[n, A]`` (categorical), one key per row ``[n,
    2]`` (Beta: its sampler is a rejection loop), a tuple of these (composite, leaf ``i`` keyed
    ``fold_in(key, i)``); ``block`` as for :func:`dist_sample`."""
    if isinstance(dist, Composite):
        return tuple(
            dist_noise(jax.random.fold_in(key, i), part, block) for i, part in enumerate(dist.parts)
        )
    if isinstance(dist, DiagGaussian | TanhGaussian):
        return _block_of_noise(jax.random.normal, key, dist.mean, block)
    if isinstance(dist, Beta):
        rows = dist.alpha.shape[0]
        keys = jax.random.split(key, rows if block is None else block[1])
        if block is None:
            return keys
        return jax.lax.dynamic_slice_in_dim(keys, block[0], rows, axis=0)
    return _block_of_noise(jax.random.gumbel, key, dist.logits, block)


def sample_with_noise(dist: Distribution, noise: Any) -> Any:
    """The action ``noise`` (from :func:`dist_noise`) picks: ``mean + std * noise`` (float
    ``[n, A]``; for a tanh-Gaussian the pre-squash ``u``), ``argmax(logits + noise)`` (int32
    ``[n]``, as ``jax.random.categorical``), a Beta draw per row scaled to the bounds, or a
    tuple of these (composite)."""
    if isinstance(dist, Composite):
        return tuple(sample_with_noise(p, n) for p, n in zip(dist.parts, noise, strict=True))
    if isinstance(dist, DiagGaussian | TanhGaussian):
        return dist.mean + jnp.exp(dist.log_std) * noise
    if isinstance(dist, Beta):
        x = jax.vmap(lambda k, a, b: jax.random.beta(k, a, b, dtype=a.dtype))(
            noise, dist.alpha, dist.beta
        )
        return dist.low + (dist.high - dist.low) * x
    return jnp.argmax(dist.logits + noise, axis=-1).astype(jnp.int32)


def _block_of_noise(draw: Any, key: PRNGKey, like: Array, block: tuple[Array, int] | None) -> Array:
    """``draw(key, shape, dtype)`` shaped like ``like``, or rows ``block`` of that draw for a
    batch of ``block[1]`` rows."""
    if block is None:
        return draw(key, like.shape, like.dtype)
    start, total = block
    noise = draw(key, (total, *like.shape[1:]), like.dtype)
    return jax.lax.dynamic_slice_in_dim(noise, start, like.shape[0], axis=0)


def _gaussian_log_prob(mean: Array, log_std: Array, x: Array) -> Array:
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * jnp.square(z) - log_std - 0.5 * _LOG_2PI, axis=-1)


def tanh_log_det(u: Array) -> Array:
    """``log(1 - tanh(u)^2)`` elementwise, without overflow: ``2 (log 2 - u - softplus(-2u))``."""
    return 2.0 * (_LOG_2 - u - jax.nn.softplus(-2.0 * u))


def dist_log_prob(dist: Distribution, action: Any) -> Array:
    """``log pi(action)`` ``[...]``: summed over action dimensions (continuous) and over the
    leaves of a composite action. A tanh-Gaussian's ``action`` is the stored pre-squash ``u``;
    its density is that of the squashed action (change-of-variables correction included)."""
    if isinstance(dist, Composite):
        parts = [dist_log_prob(p, a) for p, a in zip(dist.parts, action, strict=True)]
        return functools.reduce(jnp.add, parts)
    if isinstance(dist, DiagGaussian):
        return _gaussian_log_prob(dist.mean, dist.log_std, action)
    if isinstance(dist, TanhGaussian):
        scale = 0.5 * (dist.high - dist.low)
        log_det = jnp.log(scale) + tanh_log_det(action)
        return _gaussian_log_prob(dist.mean, dist.log_std, action) - jnp.sum(log_det, axis=-1)
    if isinstance(dist, Beta):
        width = dist.high - dist.low
        x = jnp.clip((action - dist.low) / width, BETA_EDGE, 1.0 - BETA_EDGE)
        logp = (
            (dist.alpha - 1.0) * jnp.log(x)
            + (dist.beta - 1.0) * jnp.log1p(-x)
            - _log_beta_fn(dist.alpha, dist.beta)
            - jnp.log(width)
        )
        return jnp.sum(logp, axis=-1)
    return log_prob(dist.logits, action)


def _log_beta_fn(a: Array, b: Array) -> Array:
    return (
        jax.scipy.special.gammaln(a)
        + jax.scipy.special.gammaln(b)
        - jax.scipy.special.gammaln(a + b)
    )


def dist_entropy(dist: Distribution) -> Array:
    """Entropy ``[...]`` in nats (of the squashed actions for a tanh-Gaussian; summed over the
    leaves of a composite)."""
    if isinstance(dist, Composite):
        return functools.reduce(jnp.add, [dist_entropy(p) for p in dist.parts])
    if isinstance(dist, DiagGaussian):
        return jnp.sum(dist.log_std + 0.5 * (_LOG_2PI + 1.0), axis=-1)
    if isinstance(dist, TanhGaussian):
        nodes, weights = np.polynomial.hermite_e.hermegauss(GAUSS_HERMITE_POINTS)
        weights = weights / weights.sum()  # E over a standard normal
        u = dist.mean[..., None] + jnp.exp(dist.log_std)[..., None] * jnp.asarray(
            nodes, dist.mean.dtype
        )
        expected = jnp.sum(tanh_log_det(u) * jnp.asarray(weights, dist.mean.dtype), axis=-1)
        scale = 0.5 * (dist.high - dist.low)
        per_dim = dist.log_std + 0.5 * (_LOG_2PI + 1.0) + jnp.log(scale) + expected
        return jnp.sum(per_dim, axis=-1)
    if isinstance(dist, Beta):
        a, b = dist.alpha, dist.beta
        digamma = jax.scipy.special.digamma
        ent = (
            _log_beta_fn(a, b)
            - (a - 1.0) * digamma(a)
            - (b - 1.0) * digamma(b)
            + (a + b - 2.0) * digamma(a + b)
            + jnp.log(dist.high - dist.low)
        )
        return jnp.sum(ent, axis=-1)
    return entropy(dist.logits)


def dist_mode(dist: Distribution) -> Any:
    """The action of greedy evaluation: argmax of the logits, the Gaussian mean (a
    tanh-Gaussian's pre-squash mean), the Beta mode (its mean where a concentration is 1), or a
    tuple of these (composite)."""
    if isinstance(dist, Composite):
        return tuple(dist_mode(p) for p in dist.parts)
    if isinstance(dist, DiagGaussian | TanhGaussian):
        return dist.mean
    if isinstance(dist, Beta):
        a, b = dist.alpha, dist.beta
        interior = (a > 1.0) & (b > 1.0)
        x = jnp.where(interior, (a - 1.0) / jnp.maximum(a + b - 2.0, 1e-12), a / (a + b))
        return dist.low + (dist.high - dist.low) * x
    return jnp.argmax(dist.logits, axis=-1).astype(jnp.int32)


def dist_env_action(dist: Distribution, action: Any) -> Any:
    """The action the environment receives for a stored ``action``: a tanh-Gaussian's ``u``
    squashed into its bounds; every other kind's action unchanged (a tuple for a composite)."""
    if isinstance(dist, Composite):
        return tuple(dist_env_action(p, a) for p, a in zip(dist.parts, action, strict=True))
    if isinstance(dist, TanhGaussian):
        return dist.low + (dist.high - dist.low) * 0.5 * (jnp.tanh(action) + 1.0)
    return action


def dist_outputs(dist: Distribution) -> Any:
    """The arrays that define the policy at each observation, for users of exported policies:
    ``logits`` (categorical), ``mean`` (Gaussian; a tanh-Gaussian's pre-squash mean), ``(alpha,
    beta)`` (Beta), or a tuple of these (composite)."""
    if isinstance(dist, Composite):
        return tuple(dist_outputs(p) for p in dist.parts)
    if isinstance(dist, DiagGaussian | TanhGaussian):
        return dist.mean
    if isinstance(dist, Beta):
        return (dist.alpha, dist.beta)
    return dist.logits
