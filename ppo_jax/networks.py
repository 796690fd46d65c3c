"""Actor and critic MLPs, and pure functions of categorical logits.

The actor maps ``obs -> logits [..., A]``, the critic ``obs -> value [...]``; they share nothing.
Both accept one observation ``[*obs_shape]`` or any batch ``[..., *obs_shape]`` (observations are
flattened to their last axis, so image-like observations work too).

Initialisation is orthogonal (Saxe et al. 2014, as in the PPO "implementation details"), computed
with a matmul-only polar-factor iteration rather than LAPACK QR, so initialising many seeds under
``vmap`` on a CPU never deadlocks the XLA thread pool (see KNOWN_PITFALLS).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ppo_jax.config import PPOConfig
from ppo_jax.types import Array, Params, PRNGKey

HIDDEN_GAIN = math.sqrt(2.0)
"""Orthogonal-init gain of hidden layers."""
POLICY_HEAD_GAIN = 0.01
"""Orthogonal-init gain of the logits layer: a near-uniform initial policy."""
VALUE_HEAD_GAIN = 1.0
"""Orthogonal-init gain of the value layer."""

_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
}


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


class MLP(nn.Module):
    """``[..., D] -> [..., out]``: hidden Dense layers with an activation, then a linear head."""

    hidden_sizes: tuple[int, ...]
    out_size: int
    activation: str
    head_gain: float

    @nn.compact
    def __call__(self, x: Array) -> Array:
        act = _ACTIVATIONS[self.activation]
        for width in self.hidden_sizes:
            x = act(nn.Dense(width, kernel_init=orthogonal(HIDDEN_GAIN))(x))
        return nn.Dense(self.out_size, kernel_init=orthogonal(self.head_gain))(x)


def actor_module(config: PPOConfig, num_actions: int) -> MLP:
    """The actor network for ``config``: ``obs [..., D] -> logits [..., num_actions]``."""
    return MLP(config.hidden_sizes, num_actions, config.activation, POLICY_HEAD_GAIN)


def critic_module(config: PPOConfig) -> MLP:
    """The critic network for ``config``: ``obs [..., D] -> value [..., 1]``."""
    return MLP(config.hidden_sizes, 1, config.activation, VALUE_HEAD_GAIN)


def _flat(obs: Array, obs_ndim: int) -> Array:
    """Flatten the trailing ``obs_ndim`` observation axes into one feature axis."""
    obs = jnp.asarray(obs, jnp.float32)
    if obs_ndim <= 1:
        return obs if obs_ndim == 1 else obs[..., None]
    return obs.reshape(*obs.shape[: obs.ndim - obs_ndim], -1)


def init_params(
    config: PPOConfig, key: PRNGKey, obs_shape: Sequence[int], num_actions: int
) -> Params:
    """Fresh ``{"actor": ..., "critic": ...}`` parameters for observations of ``obs_shape``."""
    actor_key, critic_key = jax.random.split(key)
    dummy = jnp.zeros((1, math.prod(obs_shape) if obs_shape else 1), jnp.float32)
    return {
        "actor": actor_module(config, num_actions).init(actor_key, dummy)["params"],
        "critic": critic_module(config).init(critic_key, dummy)["params"],
    }


def _infer_obs_ndim(params: Params, obs: Array) -> int:
    """Number of trailing observation axes of ``obs``, from the first layer's input width."""
    in_dim = params["critic"]["Dense_0"]["kernel"].shape[-2]
    shape = tuple(jnp.shape(obs))
    for ndim in range(1, len(shape) + 1):
        if math.prod(shape[len(shape) - ndim :]) == in_dim:
            return ndim
    if in_dim == 1:
        return 0
    raise ValueError(
        f"observation shape {shape} does not end in axes whose product is the network's "
        f"input size {in_dim}"
    )


def policy_logits(config: PPOConfig, params: Params, obs: Array) -> Array:
    """Action logits ``[..., A]`` for one observation ``[*obs_shape]`` or a batch of them."""
    num_actions = params["actor"][f"Dense_{len(config.hidden_sizes)}"]["kernel"].shape[-1]
    x = _flat(obs, _infer_obs_ndim(params, obs))
    logits: Array = actor_module(config, num_actions).apply({"params": params["actor"]}, x)  # type: ignore[assignment]
    return logits


def state_value(config: PPOConfig, params: Params, obs: Array) -> Array:
    """State values ``[...]`` for one observation ``[*obs_shape]`` or a batch of them."""
    x = _flat(obs, _infer_obs_ndim(params, obs))
    value: Array = critic_module(config).apply({"params": params["critic"]}, x)  # type: ignore[assignment]
    return value[..., 0]


# ------------------------------------------------------------------ categorical distribution
def sample_action(key: PRNGKey, logits: Array) -> Array:
    """Sample actions ``[...]`` (int32) from categorical ``logits [..., A]``."""
    return jax.random.categorical(key, logits).astype(jnp.int32)


def log_prob(logits: Array, action: Array) -> Array:
    """``log pi(action)`` ``[...]`` under categorical ``logits [..., A]``."""
    logp = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def entropy(logits: Array) -> Array:
    """Entropy ``[...]`` of categorical ``logits [..., A]`` (nats)."""
    logp = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
