"""Actor and critic networks, and pure functions of the policy distributions.

The actor maps ``obs -> logits [..., A]`` (discrete actions) or ``obs -> mean [..., A]`` plus a
state-independent ``log_std`` (continuous actions, a diagonal Gaussian); the critic maps
``obs -> value [...]``; they share nothing. Both accept one observation ``[*obs_shape]`` or any
batch ``[..., *obs_shape]``. Image observations ``[H, W, C]`` (MinAtar) get a small CNN torso
(``PPOConfig.torso="auto"``); others are flattened into an MLP.

Initialisation is orthogonal (Saxe et al. 2014, as in the PPO "implementation details"), computed
with a matmul-only polar-factor iteration rather than LAPACK QR, so initialising many seeds under
``vmap`` on a CPU never deadlocks the XLA thread pool (see KNOWN_PITFALLS).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from ppo_jax.config import PPOConfig
from ppo_jax.normalize import init_stats, normalize
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
    """``[..., D] -> [..., out]``: hidden Dense layers with an activation, then a linear head.

    With ``conv_channels``, inputs are images ``[..., H, W, C]``: each channel count adds a
    ``conv_kernel x conv_kernel`` VALID convolution (stride 1) with a ReLU, then the feature map is
    flattened into the Dense layers. With ``log_std_init`` set (continuous actions) the module
    also owns a state-independent ``log_std [out]`` parameter and returns ``(mean, log_std)``.
    """

    hidden_sizes: tuple[int, ...]
    out_size: int
    activation: str
    head_gain: float
    conv_channels: tuple[int, ...] = ()
    conv_kernel: int = 3
    log_std_init: float | None = None

    @nn.compact
    def __call__(self, x: Array) -> Any:
        act = _ACTIVATIONS[self.activation]
        if self.conv_channels:
            batch_shape = x.shape[:-3]
            x = x.reshape(-1, *x.shape[-3:])
            for i, channels in enumerate(self.conv_channels):
                x = nn.relu(PatchConv(channels, self.conv_kernel, name=f"Conv_{i}")(x))
            x = x.reshape(*batch_shape, -1)
        for width in self.hidden_sizes:
            x = act(nn.Dense(width, kernel_init=orthogonal(HIDDEN_GAIN))(x))
        out = nn.Dense(self.out_size, kernel_init=orthogonal(self.head_gain))(x)
        if self.log_std_init is None:
            return out
        log_std = self.param(
            "log_std", nn.initializers.constant(self.log_std_init), (self.out_size,), jnp.float32
        )
        return out, log_std


class PatchConv(nn.Module):
    """A stride-1 VALID 2-D convolution ``[B, H, W, C] -> [B, H-k+1, W-k+1, features]`` computed
    as one matmul over the ``k x k`` patches (im2col). Same result as ``nn.Conv`` with the same
    ``kernel [k, k, C, features]``; on XLA:CPU it runs ~50x faster for MinAtar-sized images,
    whose convolution (and especially its gradient) XLA:CPU executes slowly."""

    features: int
    kernel_size: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k = self.kernel_size
        channels = x.shape[-1]
        kernel = self.param(
            "kernel", _conv_orthogonal(HIDDEN_GAIN), (k, k, channels, self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        height, width = x.shape[-3] - k + 1, x.shape[-2] - k + 1
        if height < 1 or width < 1:
            raise ValueError(f"a {k}x{k} convolution needs images of at least {k}x{k}")
        patches = jnp.concatenate(
            [x[..., i : i + height, j : j + width, :] for i in range(k) for j in range(k)],
            axis=-1,
        )
        return patches @ kernel.reshape(k * k * channels, self.features) + bias


def _conv_orthogonal(gain: float) -> Callable[..., Array]:
    """Orthogonal init of a ``[kh, kw, in, out]`` conv kernel (as a ``[kh*kw*in, out]`` matrix)."""
    dense = orthogonal(gain)

    def init(key: PRNGKey, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
        return dense(key, (math.prod(shape[:-1]), shape[-1]), dtype).reshape(shape)

    return init


def uses_cnn(config: PPOConfig, obs_shape: Sequence[int]) -> bool:
    """Whether ``config.torso`` gives a CNN for observations of ``obs_shape``: ``"auto"`` picks
    one for image-like ``[H, W, C]`` observations (e.g. MinAtar), an MLP otherwise."""
    if config.torso == "cnn":
        if len(obs_shape) != 3:
            raise ValueError(
                f"PPOConfig.torso='cnn' needs [H, W, C] observations, the environment gives "
                f"{tuple(obs_shape)}; use torso='mlp' or 'auto'"
            )
        return True
    return config.torso == "auto" and len(obs_shape) == 3


def actor_module(
    config: PPOConfig, action_size: int, *, continuous: bool = False, cnn: bool = False
) -> MLP:
    """The actor: ``obs -> logits [..., action_size]`` (discrete), or ``-> (mean, log_std)``
    (continuous, ``action_size`` = action dimension)."""
    return MLP(
        config.hidden_sizes,
        action_size,
        config.activation,
        POLICY_HEAD_GAIN,
        config.cnn_channels if cnn else (),
        config.cnn_kernel,
        float(config.log_std_init) if continuous else None,
    )


def critic_module(config: PPOConfig, *, cnn: bool = False) -> MLP:
    """The critic network for ``config``: ``obs [..., D] -> value [..., 1]``."""
    return MLP(
        config.hidden_sizes,
        1,
        config.activation,
        VALUE_HEAD_GAIN,
        config.cnn_channels if cnn else (),
        config.cnn_kernel,
    )


def _flat(obs: Array, obs_ndim: int) -> Array:
    """Flatten the trailing ``obs_ndim`` observation axes into one feature axis."""
    obs = jnp.asarray(obs, jnp.float32)
    if obs_ndim <= 1:
        return obs if obs_ndim == 1 else obs[..., None]
    return obs.reshape(*obs.shape[: obs.ndim - obs_ndim], -1)


def init_params(
    config: PPOConfig,
    key: PRNGKey,
    obs_shape: Sequence[int],
    num_actions: int,
    *,
    continuous: bool = False,
) -> Params:
    """Fresh ``{"actor": ..., "critic": ...}`` parameters for observations of ``obs_shape``.

    ``num_actions`` is the number of discrete actions, or the action dimension when
    ``continuous`` (then the actor holds a ``log_std`` parameter). With
    ``config.normalize_observations`` the tree also holds ``"obs_norm"``: the running observation
    statistics (:class:`ppo_jax.normalize.RunningStats`), which the optimiser never changes.
    """
    actor_key, critic_key = jax.random.split(key)
    cnn = uses_cnn(config, obs_shape)
    if cnn:
        dummy = jnp.zeros((1, *obs_shape), jnp.float32)
    else:
        dummy = jnp.zeros((1, math.prod(obs_shape) if obs_shape else 1), jnp.float32)
    actor = actor_module(config, num_actions, continuous=continuous, cnn=cnn)
    params: dict[str, Any] = {
        "actor": actor.init(actor_key, dummy)["params"],
        "critic": critic_module(config, cnn=cnn).init(critic_key, dummy)["params"],
    }
    if config.normalize_observations:
        params["obs_norm"] = init_stats(tuple(int(d) for d in obs_shape))
    return params


def trainable(params: Params) -> Params:
    """The part of ``params`` the optimiser updates: ``{"actor", "critic"}``."""
    return {"actor": params["actor"], "critic": params["critic"]}


def is_continuous(params: Params) -> bool:
    """Whether ``params`` hold a Gaussian (continuous-action) policy."""
    return "log_std" in params["actor"]


def _is_cnn(params: Params) -> bool:
    return "Conv_0" in params["critic"]


def _infer_obs_ndim(params: Params, obs: Array) -> int:
    """Number of trailing observation axes of ``obs``, from the first layer's input width."""
    shape = tuple(jnp.shape(obs))
    if _is_cnn(params):
        channels = params["critic"]["Conv_0"]["kernel"].shape[-2]
        if len(shape) < 3 or shape[-1] != channels:
            raise ValueError(
                f"observation shape {shape} does not end in [H, W, {channels}] image axes"
            )
        return 3
    in_dim = params["critic"]["Dense_0"]["kernel"].shape[-2]
    for ndim in range(1, len(shape) + 1):
        if math.prod(shape[len(shape) - ndim :]) == in_dim:
            return ndim
    if in_dim == 1:
        return 0
    raise ValueError(
        f"observation shape {shape} does not end in axes whose product is the network's "
        f"input size {in_dim}"
    )


def _prepare(config: PPOConfig, params: Params, obs: Array) -> Array:
    """Normalise (when ``params`` hold observation statistics) and flatten for the MLP."""
    ndim = _infer_obs_ndim(params, obs)
    if "obs_norm" in params:
        obs = normalize(params["obs_norm"], obs, config.norm_clip)
    if _is_cnn(params):
        return jnp.asarray(obs, jnp.float32)
    return _flat(obs, ndim)


def _actor(config: PPOConfig, params: Params) -> MLP:
    continuous = is_continuous(params)
    head = params["actor"][f"Dense_{len(config.hidden_sizes)}"]["kernel"]
    return actor_module(config, head.shape[-1], continuous=continuous, cnn=_is_cnn(params))


def policy_logits(config: PPOConfig, params: Params, obs: Array) -> Array:
    """Actor output ``[..., A]`` for one observation ``[*obs_shape]`` or a batch of them: the
    action logits (discrete), or the Gaussian mean (continuous)."""
    out: Any = _actor(config, params).apply(
        {"params": params["actor"]}, _prepare(config, params, obs)
    )
    return out[0] if isinstance(out, tuple) else out


def action_distribution(config: PPOConfig, params: Params, obs: Array) -> Distribution:
    """The policy at ``obs``: :class:`Categorical` or :class:`DiagGaussian` (batch ``[...]``)."""
    out: Any = _actor(config, params).apply(
        {"params": params["actor"]}, _prepare(config, params, obs)
    )
    if isinstance(out, tuple):
        mean, log_std = out
        return DiagGaussian(mean=mean, log_std=jnp.broadcast_to(log_std, mean.shape))
    return Categorical(logits=out)


def state_value(config: PPOConfig, params: Params, obs: Array) -> Array:
    """State values ``[...]`` for one observation ``[*obs_shape]`` or a batch of them."""
    critic = critic_module(config, cnn=_is_cnn(params))
    value: Any = critic.apply({"params": params["critic"]}, _prepare(config, params, obs))
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


# ------------------------------------------------------------- distributions (both action kinds)
class Categorical(NamedTuple):
    """Categorical policy over ``A`` actions: ``logits [..., A]``; actions are int32 ``[...]``."""

    logits: Array


class DiagGaussian(NamedTuple):
    """Diagonal Gaussian policy: ``mean``, ``log_std`` ``[..., A]``; actions are float ``[..., A]``.

    Actions are sampled unbounded and clipped to the environment's bounds only when stepping
    the environment, so log-probabilities stay those of the unclipped Gaussian sample.
    """

    mean: Array
    log_std: Array


Distribution = Categorical | DiagGaussian

_LOG_2PI = math.log(2.0 * math.pi)


def dist_sample(key: PRNGKey, dist: Distribution) -> Array:
    """One action per batch element."""
    if isinstance(dist, DiagGaussian):
        noise = jax.random.normal(key, dist.mean.shape, dist.mean.dtype)
        return dist.mean + jnp.exp(dist.log_std) * noise
    return sample_action(key, dist.logits)


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
