"""The policy network: a factory from a spec to ``init``/``apply``, and the built-in modules.

A network is any ``flax.linen.Module`` whose ``__call__(obs)`` maps a batch of observations
``[B, *obs_shape]`` to ``(logits [B, A], value [B])`` (discrete actions) or
``(mean [B, A], value [B])`` (continuous actions; the library owns the state-independent
``log_std``). A *recurrent* network also has ``initial_state(batch_size) -> state`` (a pytree of
``[batch_size, ...]`` arrays, callable on the unbound module) and ``__call__(state, obs) ->
(state, (out, value))`` for one step; the library resets the state at episode starts and runs
the time loop.

:func:`make_network` binds a module to what the environment needs (observation shape, action
kind and size) as a :class:`Network`, whose ``init(key)`` and ``apply(params, obs, ...)`` handle
any leading batch axes, observation normalisation, action masks and the Gaussian ``log_std``.
Nothing is guessed back from parameter names.

Built in (:func:`default_module`): :class:`ActorCritic`, separate actor and critic towers, each
an MLP on flattened observations or a small CNN + MLP on ``[H, W, C]`` images, and
:class:`RecurrentActorCritic`, the same towers with a GRU cell before each head. Initialisation
is orthogonal (Saxe et al. 2014, as in the PPO "implementation details"), computed with a
matmul-only polar iteration rather than LAPACK QR, so initialising many seeds under ``vmap`` on a
CPU never deadlocks the XLA thread pool (KNOWN_PITFALLS), and every backend draws the same
initial parameters.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ppo_jax.core.config import PPOConfig
from ppo_jax.core.distributions import DiagGaussian, Distribution, masked_categorical
from ppo_jax.core.memory import PARALLEL_CELLS, initial_state, make_cell
from ppo_jax.core.normalize import normalize
from ppo_jax.core.types import ActionSpec, Array, Params, PRNGKey, RunningStats

HIDDEN_GAIN = math.sqrt(2.0)
"""Orthogonal-init gain of hidden layers."""
POLICY_HEAD_GAIN = 0.01
"""Orthogonal-init gain of the logits layer: a near-uniform initial policy."""
VALUE_HEAD_GAIN = 1.0
"""Orthogonal-init gain of the value layer."""
CONV_IMPLEMENTATIONS = ("im2col", "native")
"""How the CNN torso convolves (``ppo_jax.run.backend`` picks one per backend)."""

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


def _conv_orthogonal(gain: float) -> Callable[..., Array]:
    """Orthogonal init of a ``[kh, kw, in, out]`` conv kernel (as a ``[kh*kw*in, out]`` matrix)."""
    dense = orthogonal(gain)

    def init(key: PRNGKey, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
        return dense(key, (math.prod(shape[:-1]), shape[-1]), dtype).reshape(shape)

    return init


class PatchConv(nn.Module):
    """A stride-1 VALID 2-D convolution ``[B, H, W, C] -> [B, H-k+1, W-k+1, features]`` computed
    as one matmul over the ``k x k`` patches (im2col). Same result and parameters
    (``kernel [k, k, C, features]``, ``bias``) as ``nn.Conv``; XLA:CPU runs it much faster for
    MinAtar-sized images than its own convolution (see ``ppo_jax.run.backend``)."""

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
        patches = jnp.concatenate(
            [x[..., i : i + height, j : j + width, :] for i in range(k) for j in range(k)],
            axis=-1,
        )
        return patches @ kernel.reshape(k * k * channels, self.features) + bias


def _torso(
    x: Array,
    hidden_sizes: tuple[int, ...],
    activation: str,
    conv_channels: tuple[int, ...],
    conv_kernel: int,
    conv: str,
) -> Array:
    """``[B, *obs_shape] -> [B, hidden_sizes[-1]]`` inside a compact module: ReLU convolutions
    ``Conv_i`` on images, then the observation flattened into Dense layers ``Dense_0 ...``."""
    act = _ACTIVATIONS[activation]
    for i, channels in enumerate(conv_channels):
        if conv == "native":
            layer: nn.Module = nn.Conv(
                channels,
                (conv_kernel, conv_kernel),
                padding="VALID",
                kernel_init=_conv_orthogonal(HIDDEN_GAIN),
                name=f"Conv_{i}",
            )
        else:
            layer = PatchConv(channels, conv_kernel, name=f"Conv_{i}")
        x = nn.relu(layer(x))
    x = x.reshape(x.shape[0], -1)
    for i, width in enumerate(hidden_sizes):
        x = act(nn.Dense(width, kernel_init=orthogonal(HIDDEN_GAIN), name=f"Dense_{i}")(x))
    return x


class Tower(nn.Module):
    """``[B, *obs_shape] -> [B, out_size]``: the torso (``Conv_i``, ``Dense_i``), then a linear
    head ``Dense_{len(hidden_sizes)}`` initialised with ``head_gain``."""

    out_size: int
    head_gain: float
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    conv_channels: tuple[int, ...] = ()
    conv_kernel: int = 3
    conv: str = "im2col"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = _torso(
            x, self.hidden_sizes, self.activation, self.conv_channels, self.conv_kernel, self.conv
        )
        head = f"Dense_{len(self.hidden_sizes)}"
        return nn.Dense(self.out_size, kernel_init=orthogonal(self.head_gain), name=head)(x)


class RecurrentTower(nn.Module):
    """One step ``(state, x [B, *obs_shape]) -> (state', [B, out_size])``: the torso, a memory
    cell (``cell``, one of :data:`~ppo_jax.core.memory.CELLS`; Newton-Schulz orthogonal
    kernels), then the linear head. With ``first [T, B]`` (a parallel cell only), ``x`` is a
    whole sequence ``[T, B, *obs_shape]`` replayed from ``state`` at once:
    ``-> (None, [T, B, out_size])``."""

    out_size: int
    head_gain: float
    recurrent_size: int = 128
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    conv_channels: tuple[int, ...] = ()
    conv_kernel: int = 3
    conv: str = "im2col"
    cell: str = "gru"

    @nn.compact
    def __call__(self, h: Any, x: Array, first: Array | None = None) -> tuple[Any, Array]:
        lead = x.shape[:2] if first is not None else x.shape[:1]
        x = x.reshape(math.prod(lead), *x.shape[len(lead) :])
        x = _torso(
            x, self.hidden_sizes, self.activation, self.conv_channels, self.conv_kernel, self.conv
        )
        cell: Any = make_cell(self.cell, self.recurrent_size, orthogonal(1.0))
        if first is None:
            h, x = cell(h, x)
        else:  # a whole sequence: the parallel scan
            x = cell.sequence(h, x.reshape(*lead, x.shape[-1]), first)
            h = None
        head = f"Dense_{len(self.hidden_sizes)}"
        return h, nn.Dense(self.out_size, kernel_init=orthogonal(self.head_gain), name=head)(x)


class ActorCritic(nn.Module):
    """The built-in feed-forward network: separate ``actor`` and ``critic`` towers (sharing
    nothing). ``__call__(obs [B, *obs_shape]) -> (out [B, action_size], value [B])``;
    ``value(obs)`` runs the critic alone (the bootstrap values of truncated episodes)."""

    action_size: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    conv_channels: tuple[int, ...] = ()
    conv_kernel: int = 3
    conv: str = "im2col"

    def setup(self) -> None:
        torso: dict[str, Any] = {
            "hidden_sizes": self.hidden_sizes,
            "activation": self.activation,
            "conv_channels": self.conv_channels,
            "conv_kernel": self.conv_kernel,
            "conv": self.conv,
        }
        self.actor = Tower(self.action_size, POLICY_HEAD_GAIN, **torso)
        self.critic = Tower(1, VALUE_HEAD_GAIN, **torso)

    def __call__(self, obs: Array) -> tuple[Array, Array]:
        return self.actor(obs), self.critic(obs)[..., 0]

    def value(self, obs: Array) -> Array:
        """The critic alone: ``[B, *obs_shape] -> [B]``."""
        return self.critic(obs)[..., 0]


class RecurrentActorCritic(nn.Module):
    """The built-in recurrent network: :class:`ActorCritic` with a memory cell in each tower
    (``cell``: ``"gru"`` or ``"lstm"``; see :class:`LinearRecurrentActorCritic` for ``"lru"``).

    State: ``{"actor": s, "critic": s}``, zeros at an episode start (``s``: ``[B,
    recurrent_size]``, or the pair ``(c, h)`` of an LSTM). ``__call__(state, obs) -> (state,
    (out [B, A], value [B]))``.
    """

    action_size: int
    recurrent_size: int = 128
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    conv_channels: tuple[int, ...] = ()
    conv_kernel: int = 3
    conv: str = "im2col"
    cell: str = "gru"

    def initial_state(self, batch_size: int) -> dict[str, Any]:
        zeros = initial_state(self.cell, batch_size, self.recurrent_size)
        return {"actor": zeros, "critic": zeros}

    def setup(self) -> None:
        torso: dict[str, Any] = {
            "recurrent_size": self.recurrent_size,
            "hidden_sizes": self.hidden_sizes,
            "activation": self.activation,
            "conv_channels": self.conv_channels,
            "conv_kernel": self.conv_kernel,
            "conv": self.conv,
            "cell": self.cell,
        }
        self.actor = RecurrentTower(self.action_size, POLICY_HEAD_GAIN, **torso)
        self.critic = RecurrentTower(1, VALUE_HEAD_GAIN, **torso)

    def __call__(self, state: dict[str, Any], obs: Array) -> Any:
        actor_h, out = self.actor(state["actor"], obs)
        critic_h, value = self.critic(state["critic"], obs)
        return {"actor": actor_h, "critic": critic_h}, (out, value[..., 0])


class LinearRecurrentActorCritic(RecurrentActorCritic):
    """:class:`RecurrentActorCritic` with the ``"lru"`` cell, whose :meth:`unroll` replays a
    whole sequence with a parallel scan (what :meth:`Network.unroll` uses when a module has
    it)."""

    cell: str = "lru"

    def unroll(self, state: dict[str, Any], obs: Array, first: Array) -> tuple[Array, Array]:
        """``(out [T, B, A], value [T, B])`` of the sequences ``obs [T, B, *obs_shape]`` from
        ``state`` (each ``[B, ...]``) with episode starts ``first [T, B]``: the same as
        ``T`` calls of ``__call__`` with the state reset where ``first``."""
        _, out = self.actor(state["actor"], obs, first)
        _, value = self.critic(state["critic"], obs, first)
        return out, value[..., 0]


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


def default_module(
    config: PPOConfig, obs_shape: Sequence[int], action: ActionSpec, conv: str = "im2col"
) -> nn.Module:
    """The built-in network for ``config`` (:class:`ActorCritic`, or
    :class:`RecurrentActorCritic` when ``config.recurrent``), for observations of
    ``obs_shape``. ``ValueError`` when a CNN torso's convolutions do not fit the images."""
    if config.torso == "nature":
        return _nature_module(obs_shape, action, conv)
    cnn = uses_cnn(config, obs_shape)
    channels = config.cnn_channels if cnn else ()
    if cnn:
        side = min(int(obs_shape[0]), int(obs_shape[1]))
        needed = len(channels) * (config.cnn_kernel - 1) + 1
        if needed > side:
            raise ValueError(
                f"PPOConfig.cnn_kernel={config.cnn_kernel} with {len(channels)} convolution(s) "
                f"needs images of at least {needed}x{needed}; the observations are "
                f"{tuple(obs_shape)}"
            )
    common: dict[str, Any] = {
        "action_size": action.size,
        "hidden_sizes": config.hidden_sizes,
        "activation": config.activation,
        "conv_channels": channels,
        "conv_kernel": config.cnn_kernel,
        "conv": conv,
    }
    if config.recurrent in PARALLEL_CELLS:
        return LinearRecurrentActorCritic(
            recurrent_size=config.recurrent_size, cell=config.recurrent, **common
        )
    if config.recurrent is not None:
        return RecurrentActorCritic(
            recurrent_size=config.recurrent_size, cell=config.recurrent, **common
        )
    return ActorCritic(**common)


def _nature_module(obs_shape: Sequence[int], action: ActionSpec, conv: str) -> nn.Module:
    """:class:`~ppo_jax.core.nature_cnn.NatureActorCritic` for images ``[H, W, C]``."""
    from ppo_jax.core.nature_cnn import NatureActorCritic, min_image_side

    side = min_image_side()
    if len(obs_shape) != 3 or min(int(obs_shape[0]), int(obs_shape[1])) < side:
        raise ValueError(
            f"PPOConfig.torso='nature' needs [H, W, C] images of at least {side}x{side}, the "
            f"environment gives {tuple(obs_shape)}"
        )
    height, width, channels = (int(d) for d in obs_shape)
    return NatureActorCritic(action.size, height, width, channels, conv)


def is_recurrent(module: nn.Module) -> bool:
    """Whether ``module`` follows the recurrent interface (has ``initial_state``)."""
    return callable(getattr(module, "initial_state", None))


@dataclasses.dataclass(frozen=True)
class Network:
    """A network module bound to an environment's observations and actions.

    Hashable (a compile-cache key part): equal modules and specs give equal networks.
    """

    module: nn.Module
    obs_shape: tuple[int, ...]
    action: ActionSpec
    log_std_init: float = 0.0
    norm_clip: float = 10.0

    @property
    def recurrent(self) -> bool:
        return is_recurrent(self.module)

    # ------------------------------------------------------------------ parameters
    def init(self, key: PRNGKey) -> Params:
        """Fresh parameters: ``{"network": module params}`` plus ``"log_std"`` ``[A]`` for a
        continuous action."""
        dummy = jnp.zeros((1, *self.obs_shape), jnp.float32)
        if self.recurrent:
            variables = self.module.init(key, self.initial_state(1), dummy)
        else:
            variables = self.module.init(key, dummy)
        params: dict[str, Any] = {"network": variables["params"]}
        if self.action.continuous:
            params["log_std"] = jnp.full((self.action.size,), self.log_std_init, jnp.float32)
        return params

    def initial_state(self, batch_size: int) -> Any:
        """The recurrent state at an episode start for ``batch_size`` environments (``None``
        for a feed-forward network)."""
        if not self.recurrent:
            return None
        initial_state: Any = getattr(self.module, "initial_state")  # noqa: B009
        return initial_state(batch_size)

    # ------------------------------------------------------------------ application
    def _prepare(self, obs: Array, obs_norm: RunningStats | None) -> tuple[Array, tuple[int, ...]]:
        """Normalise, cast to float32, and flatten the leading axes: ``([B, *obs_shape],
        leading shape)``."""
        obs = jnp.asarray(obs)
        nd = len(self.obs_shape)
        if obs.ndim < nd or tuple(obs.shape[obs.ndim - nd :]) != self.obs_shape:
            raise ValueError(
                f"observations of shape {tuple(obs.shape)} do not end in the network's "
                f"observation shape {self.obs_shape}"
            )
        lead = tuple(obs.shape[: obs.ndim - nd])
        x = obs.astype(jnp.float32)
        if obs_norm is not None:
            x = normalize(obs_norm, x, self.norm_clip)
        return x.reshape(math.prod(lead), *self.obs_shape), lead

    def _distribution(self, params: Params, out: Array, mask: Array | None) -> Distribution:
        if self.action.continuous:
            log_std = jnp.broadcast_to(params["log_std"], out.shape)
            return DiagGaussian(mean=out, log_std=log_std)
        return masked_categorical(out, mask)

    def apply(
        self,
        params: Params,
        obs: Array,
        obs_norm: RunningStats | None = None,
        action_mask: Array | None = None,
    ) -> tuple[Distribution, Array]:
        """``(policy, value [...])`` at observations ``[..., *obs_shape]`` (feed-forward)."""
        x, lead = self._prepare(obs, obs_norm)
        result: Any = self.module.apply({"params": params["network"]}, x)
        out, value = result
        out = out.reshape(*lead, out.shape[-1])
        return self._distribution(params, out, action_mask), value.reshape(lead)

    def value(self, params: Params, obs: Array, obs_norm: RunningStats | None = None) -> Array:
        """``V(obs)`` ``[...]``; the module's ``value`` method when it has one (the built-in
        runs the critic alone), else its full ``__call__``."""
        x, lead = self._prepare(obs, obs_norm)
        variables = {"params": params["network"]}
        value: Any
        if callable(getattr(self.module, "value", None)):
            value = self.module.apply(variables, x, method="value")
        else:
            value = self.module.apply(variables, x)[1]
        return value.reshape(lead)

    def step(
        self,
        params: Params,
        state: Any,
        obs: Array,
        first: Array,
        obs_norm: RunningStats | None = None,
        action_mask: Array | None = None,
    ) -> tuple[Any, Distribution, Array]:
        """One recurrent step for a batch ``obs [B, *obs_shape]``: the state is reset to the
        initial state where ``first [B]`` (an episode starts), then advanced; returns
        ``(state, policy, value [B])``."""
        x, lead = self._prepare(obs, obs_norm)
        init = self.initial_state(x.shape[0])
        state = jax.tree.map(
            lambda s, s0: jnp.where(first.reshape(-1, *[1] * (s.ndim - 1)), s0, s), state, init
        )
        result: Any = self.module.apply({"params": params["network"]}, state, x)
        state, (out, value) = result
        return state, self._distribution(params, out, action_mask), value.reshape(lead)

    def unroll(
        self,
        params: Params,
        state: Any,
        obs: Array,
        first: Any,
        obs_norm: RunningStats | None = None,
        action_mask: Array | None = None,
    ) -> tuple[Distribution, Array]:
        """Replay sequences: ``obs [T, B, ...]``, ``first [T, B]`` from ``state [B, ...]``;
        returns ``(policy [T, B], value [T, B])``, the same as stepping one step at a time.
        A module with an ``unroll(state, obs [T, B, ...], first [T, B]) -> (out [T, B, A],
        value [T, B])`` method (a parallel replay, e.g. a linear recurrence's scan) is
        called once for the whole sequence; otherwise its step runs in a ``lax.scan``."""
        if callable(getattr(self.module, "unroll", None)):
            x, lead = self._prepare(obs, obs_norm)
            x = x.reshape(*lead, *self.obs_shape)
            variables = {"params": params["network"]}
            result: Any = self.module.apply(variables, state, x, first, method="unroll")
            out, value = result
            return self._distribution(params, out, action_mask), value

        def body(s: Any, xs: tuple[Array, Array, Array | None]) -> tuple[Any, Any]:
            o, f, m = xs
            s, dist, value = self.step(params, s, o, f, obs_norm, m)
            return s, (dist, value)

        _, (dist, value) = jax.lax.scan(body, state, (obs, first, action_mask))
        return dist, value


def make_network(
    config: PPOConfig,
    obs_shape: Sequence[int],
    action: ActionSpec,
    module: nn.Module | None = None,
    conv: str = "im2col",
) -> Network:
    """Bind ``module`` (default: :func:`default_module` of ``config``) to observations of
    ``obs_shape`` and ``action``. ``conv`` chooses the built-in CNN's convolution."""
    if conv not in CONV_IMPLEMENTATIONS:
        raise ValueError(f"conv must be one of {CONV_IMPLEMENTATIONS}, got {conv!r}")
    if module is None:
        module = default_module(config, obs_shape, action, conv)
    elif not isinstance(module, nn.Module):
        raise TypeError(
            f"network must be a flax.linen.Module whose __call__(obs) returns (logits or mean, "
            f"value), got {type(module).__name__}"
        )
    return Network(
        module=module,
        obs_shape=tuple(int(d) for d in obs_shape),
        action=action,
        log_std_init=float(config.log_std_init),
        norm_clip=float(config.norm_clip),
    )


def check_network(network: Network) -> None:
    """Trace ``init`` and ``apply`` abstractly (nothing is compiled or run) and raise a
    ``ValueError`` naming the argument and the shapes when the module's outputs do not fit:
    ``(out [B, A], value [B])``, and for a recurrent module a state that keeps its shapes."""
    batch, a = 3, network.action.size
    kind = "mean" if network.action.continuous else "logits"
    where = f"network={type(network.module).__name__}"
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    try:
        params = jax.eval_shape(network.init, key)
        obs = jax.ShapeDtypeStruct((batch, *network.obs_shape), jnp.float32)
        if network.recurrent:
            state = jax.eval_shape(lambda: network.initial_state(batch))
            first = jax.ShapeDtypeStruct((batch,), jnp.bool_)
            new_state = jax.eval_shape(
                lambda p, s, o, f: network.step(p, s, o, f)[0], params, state, obs, first
            )
            same_tree = str(jax.tree.structure(new_state)) == str(jax.tree.structure(state))
            if not same_tree or any(
                x.shape != y.shape
                for x, y in zip(jax.tree.leaves(new_state), jax.tree.leaves(state), strict=True)
            ):
                raise ValueError(
                    f"{where}: the recurrent state changes shape in a step "
                    f"({jax.tree.map(lambda x: x.shape, state)} -> "
                    f"{jax.tree.map(lambda x: x.shape, new_state)})"
                )
            out = jax.eval_shape(
                lambda p, s, o, f: network.module.apply({"params": p["network"]}, s, o)[1],
                params,
                state,
                obs,
                first,
            )
        else:
            out = jax.eval_shape(
                lambda p, o: network.module.apply({"params": p["network"]}, o), params, obs
            )
    except ValueError as err:
        if str(err).startswith(where):
            raise
        raise ValueError(
            f"{where} fails on observations [{batch}, *{network.obs_shape}]: {err}"
        ) from None
    except Exception as err:  # flax/jax errors of a module that does not fit
        raise ValueError(
            f"{where} fails on observations [{batch}, *{network.obs_shape}]: "
            f"{type(err).__name__}: {err}"
        ) from None
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise ValueError(f"{where} must return ({kind} [B, {a}], value [B]), got {_shapes(out)}")
    head, value = out
    if getattr(head, "shape", None) != (batch, a):
        raise ValueError(
            f"{where} must return {kind} shaped [B, {a}] (B={batch} observations, {a} "
            f"{'action dimensions' if network.action.continuous else 'actions'}), got "
            f"{_shapes(head)}"
        )
    if getattr(value, "shape", None) != (batch,):
        raise ValueError(
            f"{where} must return value shaped like the batch [B] (B={batch}), got "
            f"{_shapes(value)}"
            + (
                " (squeeze the last axis: value[..., 0])"
                if getattr(value, "shape", None) == (batch, 1)
                else ""
            )
        )


def _shapes(tree: Any) -> Any:
    return jax.tree.map(lambda x: list(getattr(x, "shape", ())), tree)
