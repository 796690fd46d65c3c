"""Orthogonal initialisation without LAPACK, and the gains of the built-in networks.

Orthogonal initialisation (Saxe et al. 2014, as in the PPO "implementation details") is
computed with a matmul-only polar iteration rather than LAPACK QR, so initialising many seeds
under ``vmap`` on a CPU never deadlocks the XLA thread pool (KNOWN_PITFALLS), and every backend
draws the same initial parameters. Used by :mod:`ppo_jax.core.networks` and
:mod:`ppo_jax.core.nature_cnn`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ppo_jax.core.types import Array, PRNGKey

HIDDEN_GAIN = math.sqrt(2.0)
"""Orthogonal-init gain of hidden layers."""
POLICY_HEAD_GAIN = 0.01
"""Orthogonal-init gain of the logits layer: a near-uniform initial policy."""
VALUE_HEAD_GAIN = 1.0
"""Orthogonal-init gain of the value layer."""
NEWTON_SCHULZ_ITERATIONS = 80
"""Iterations of the polar-factor iteration; enough for singular-value ratios down to ~1e-12."""


def _polar_factor(a: Array) -> Array:
    """The orthogonal polar factor ``U V^T`` of ``a = U S V^T`` ``[n, k]`` (n >= k).

    Newton-Schulz iteration ``X <- 1.5 X - 0.5 X (X^T X)`` from ``a / ||a||_F``: matmuls only, so
    it is cheap to compile and safe to vmap on CPU (no LAPACK). For a Gaussian ``a`` the result
    is Haar-distributed on the Stiefel manifold, like the Q factor of a sign-corrected QR.
    """
    x = a / jnp.linalg.norm(a)

    def body(_: int, x: Array) -> Array:
        return 1.5 * x - 0.5 * x @ (x.T @ x)

    return jax.lax.fori_loop(0, NEWTON_SCHULZ_ITERATIONS, body, x)


def orthogonal(gain: float) -> Callable[..., Array]:
    """Orthogonal kernel initialiser for 2-D ``[in, out]`` kernels, without LAPACK."""

    def init(key: PRNGKey, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
        rows, cols = shape
        tall = rows >= cols
        a = jax.random.normal(key, (rows, cols) if tall else (cols, rows), jnp.float32)
        q = _polar_factor(a)
        q = q if tall else q.T
        return (gain * q).astype(dtype)

    return init


def conv_orthogonal(gain: float) -> Callable[..., Array]:
    """Orthogonal init of a ``[kh, kw, in, out]`` conv kernel (as a ``[kh*kw*in, out]`` matrix)."""
    dense = orthogonal(gain)

    def init(key: PRNGKey, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
        return dense(key, (math.prod(shape[:-1]), shape[-1]), dtype).reshape(shape)

    return init
