"""Memory cells of the built-in recurrent policy (``PPOConfig.recurrent``), pure flax modules.

Every cell maps ``(state, x [B, F]) -> (state, y [B, F'])`` for one step, and has an initial
state of zeros (:func:`initial_state`); the library resets the state at every episode start.

* ``"gru"``: ``flax.linen.GRUCell`` (Cho et al. 2014).
* ``"lstm"``: :class:`LSTMCell` (Hochreiter & Schmidhuber 1997) with its forget gate's bias
  starting at 1 (Jozefowicz et al. 2015: the cell keeps its state until it learns to forget);
  its state is the pair ``(c, h)``.
* ``"lru"``: :class:`GatedLinearCell`, a gated *linear* recurrence, minGRU of Feng et al.
  (2024, "Were RNNs All We Needed?"): ``h_t = a_t * h_{t-1} + (1 - a_t) * g(x_t)`` where the
  retention ``a_t = 1 - sigmoid(W_z x_t + b_z)`` and the candidate ``g`` depend on the input
  only. Because ``h`` enters linearly, a whole sequence is computed with a parallel scan
  (:func:`linear_recurrence`, ``jax.lax.associative_scan``: ``log2(T)`` depth instead of ``T``
  steps), which is what makes the update's replay of stored sequences fast; acting still takes
  one cheap step at a time. Episode starts are part of the scan's operator (the retention is 0
  there), never a Python loop. The GRU and LSTM need ``h_{t-1}`` inside their gates, so their
  replay stays a sequential ``lax.scan``.

Initialisation avoids LAPACK QR (orthogonal kernels come from ``ppo_jax.core.networks``'s
polar iteration), so many seeds initialise under ``vmap`` on a CPU without deadlock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.types import Array

CELLS = ("gru", "lstm", "lru")
"""The memory cells of ``PPOConfig.recurrent``."""
PARALLEL_CELLS = ("lru",)
"""Cells whose sequence replay is a parallel scan."""
TIMESCALES = (2.0, 256.0)
"""Initial memory timescales (steps) of :class:`GatedLinearCell`'s units, spread evenly in
log scale between these: unit ``i`` starts keeping ``1 - 1/tau_i`` of its state per step."""


def initial_state(cell: str, batch_size: int, size: int) -> Any:
    """Zeros: ``[batch_size, size]`` (``gru``, ``lru``) or the pair ``(c, h)`` (``lstm``)."""
    zeros = jnp.zeros((batch_size, size), jnp.float32)
    return (zeros, zeros) if cell == "lstm" else zeros


def linear_recurrence(a: Array, b: Array, h0: Array, first: Array) -> Array:
    """``h_t = a_t * h_{t-1} + b_t`` for every ``t`` at once (a parallel scan over axis 0).

    Args:
      a, b: ``[T, B, H]`` retention and input.
      h0: ``[B, H]`` the state before step 0.
      first: ``[T, B]`` bool: an episode starts at step ``t``, where ``h_{t-1}`` is the
        initial state, zeros (the retention is set to 0 there: a reset is one more element of
        the associative operator ``(a1, b1), (a2, b2) -> (a1 a2, a2 b1 + b2)``).

    Returns:
      ``[T, B, H]`` the states after each step.
    """
    a = jnp.where(first[..., None], 0.0, a)
    b = b.at[0].add(a[0] * h0)

    def combine(earlier: tuple[Array, Array], later: tuple[Array, Array]) -> tuple[Array, Array]:
        a1, b1 = earlier
        a2, b2 = later
        return a1 * a2, a2 * b1 + b2

    return jax.lax.associative_scan(combine, (a, b), axis=0)[1]


def retention_bias(key: Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> Array:
    """Gate biases giving unit ``i`` an initial timescale ``tau_i`` (``TIMESCALES``, log
    spaced): ``sigmoid(bias_i) = 1 / tau_i``. Deterministic (``key`` is unused)."""
    del key
    tau = np.geomspace(*TIMESCALES, num=shape[-1])
    z = 1.0 / tau
    return jnp.asarray(np.log(z) - np.log1p(-z), dtype)


class GatedLinearCell(nn.Module):
    """The ``"lru"`` cell: ``h_t = a_t h_{t-1} + (1 - a_t) tanh(W_h x_t + b_h)``, ``a_t = 1 -
    sigmoid(W_z x_t + b_z)``; output ``[h_t, x_t]`` (the head sees the present input beside
    the memory). ``__call__`` takes one step; :meth:`sequence` a whole ``[T, B]`` sequence with
    :func:`linear_recurrence`."""

    features: int
    kernel_init: Callable[..., Array] = nn.initializers.lecun_normal()

    def setup(self) -> None:
        self.gate = nn.Dense(self.features, kernel_init=self.kernel_init, bias_init=retention_bias)
        self.candidate = nn.Dense(self.features, kernel_init=self.kernel_init)

    def coefficients(self, x: Array) -> tuple[Array, Array]:
        """``(a, b)`` of the recurrence at inputs ``x [..., F]``."""
        z = jax.nn.sigmoid(self.gate(x))
        return 1.0 - z, z * jnp.tanh(self.candidate(x))

    def __call__(self, h: Array, x: Array) -> tuple[Array, Array]:
        a, b = self.coefficients(x)
        h = a * h + b
        return h, jnp.concatenate([h, x], axis=-1)

    def sequence(self, h0: Array, x: Array, first: Array) -> Array:
        """Outputs ``[T, B, H + F]`` of inputs ``x [T, B, F]`` from ``h0 [B, H]``, with
        episode starts ``first [T, B]``."""
        a, b = self.coefficients(x)
        h = linear_recurrence(a, b, h0, first)
        return jnp.concatenate([h, x], axis=-1)


def forget_bias(key: Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> Array:
    """Biases of the LSTM's four gates ``[input, forget, candidate, output]``: 1 for the
    forget gate, 0 elsewhere. Deterministic (``key`` is unused)."""
    del key
    size = shape[-1] // 4
    return jnp.zeros(shape, dtype).at[size : 2 * size].set(1.0)


class LSTMCell(nn.Module):
    """``((c, h), x) -> ((c', h'), h')``: the four gates from one matmul of ``[x, h]``,
    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')``."""

    features: int
    kernel_init: Callable[..., Array] = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, carry: tuple[Array, Array], x: Array) -> tuple[Any, Array]:
        c, h = carry
        gates = nn.Dense(
            4 * self.features, kernel_init=self.kernel_init, bias_init=forget_bias, name="gates"
        )(jnp.concatenate([x, h], axis=-1))
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (c, h), h


def make_cell(cell: str, size: int, kernel_init: Callable[..., Array]) -> nn.Module:
    """The ``cell`` module (``CELLS``) with ``size`` units, named as checkpoints store it
    (``gru``, ``lstm``, ``lru``); ``kernel_init`` initialises every kernel."""
    if cell == "gru":
        return nn.GRUCell(
            size, kernel_init=kernel_init, recurrent_kernel_init=kernel_init, name=cell
        )
    if cell == "lstm":
        return LSTMCell(size, kernel_init=kernel_init, name=cell)
    if cell == "lru":
        return GatedLinearCell(size, kernel_init=kernel_init, name=cell)
    raise ValueError(f"recurrent cell must be one of {CELLS}, got {cell!r}")
