"""The policy network: a factory from a spec to ``init``/``apply``, and the built-in modules.

A network is any ``flax.linen.Module`` whose ``__call__(obs)`` maps a batch of observations
``[B, *obs_shape]`` (or a pytree of ``[B, ...]`` leaves) to ``(logits [B, A], value [B])``
(discrete actions) or ``(mean [B, A], value [B])`` (continuous actions; the library owns the
state-independent ``log_std``); in general ``(out [B, P], value [B])`` with ``P =
Network.output_size``: each action leaf's logits, means (and log-stds with
``state_dependent_std``) or Beta concentrations, in ``jax.tree`` order. A *recurrent* network
also has ``initial_state(batch_size) -> state`` (a pytree of ``[batch_size, ...]`` arrays,
callable on the unbound module) and ``__call__(state, obs) -> (state, (out, value))`` for one
step; the library resets the state at episode starts and runs the time loop.

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
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ppo_jax.core.config import StaticConfig
from ppo_jax.core.distributions import (
    Beta,
    Composite,
    DiagGaussian,
    Distribution,
    TanhGaussian,
    dist_env_action,
    masked_categorical,
)
from ppo_jax.core.envs import check_action_bounds, path_name
from ppo_jax.core.initializers import (
    HIDDEN_GAIN,
    POLICY_HEAD_GAIN,
    VALUE_HEAD_GAIN,
    conv_orthogonal,
    orthogonal,
)
from ppo_jax.core.initializers import (
    NEWTON_SCHULZ_ITERATIONS as NEWTON_SCHULZ_ITERATIONS,  # its home before 0.3.0
)
from ppo_jax.core.memory import PARALLEL_CELLS, initial_state, make_cell
from ppo_jax.core.normalize import normalize, normalize_obs
from ppo_jax.core.types import (
    ActionSpec,
    Array,
    CompositeAction,
    ObsTree,
    Params,
    PRNGKey,
    RunningStats,
)

CONV_IMPLEMENTATIONS = ("im2col", "native")
"""How the CNN torso convolves (``ppo_jax.run.backend`` picks one per backend)."""

_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
}

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
"""Range of a state-dependent log standard deviation (``PPOConfig.state_dependent_std``)."""
CRITIC_KEY = "critic"
"""An observation entry of this name (a top-level key of a dict observation) is seen by the
critic only: privileged information at training time (an asymmetric critic)."""


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
            "kernel", conv_orthogonal(HIDDEN_GAIN), (k, k, channels, self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        height, width = x.shape[-3] - k + 1, x.shape[-2] - k + 1
        patches = jnp.concatenate(
            [x[..., i : i + height, j : j + width, :] for i in range(k) for j in range(k)],
            axis=-1,
        )
        return patches @ kernel.reshape(k * k * channels, self.features) + bias


def _torso(
    x: Any,
    hidden_sizes: tuple[int, ...],
    activation: str,
    conv_channels: tuple[int, ...],
    conv_kernel: int,
    conv: str,
) -> Array:
    """``[B, *obs_shape] -> [B, hidden_sizes[-1]]`` inside a compact module: ReLU convolutions
    ``Conv_i`` on images, then the observation flattened into Dense layers ``Dense_0 ...``.
    Pytree observations (leaves ``[B, ...]``): each image leaf ``[B, H, W, C]`` through its
    own convolutions ``<leaf path>_Conv_i`` (when ``conv_channels``), every leaf flattened,
    all concatenated (in ``jax.tree`` order) into the Dense layers."""
    act = _ACTIVATIONS[activation]
    if hasattr(x, "shape"):
        x = _convolve(x, conv_channels, conv_kernel, conv, "")
        x = x.reshape(x.shape[0], -1)
    else:
        parts = []
        for path, leaf in jax.tree_util.tree_flatten_with_path(x)[0]:
            if leaf.ndim == 4 and conv_channels:
                prefix = path_name(path).replace("/", "_")
                leaf = _convolve(leaf, conv_channels, conv_kernel, conv, f"{prefix}_")
            parts.append(leaf.reshape(leaf.shape[0], -1))
        x = jnp.concatenate(parts, axis=-1)
    for i, width in enumerate(hidden_sizes):
        x = act(nn.Dense(width, kernel_init=orthogonal(HIDDEN_GAIN), name=f"Dense_{i}")(x))
    return x


def _convolve(
    x: Array, conv_channels: tuple[int, ...], conv_kernel: int, conv: str, prefix: str
) -> Array:
    """ReLU convolutions ``{prefix}Conv_i`` of images ``[B, H, W, C]``."""
    for i, channels in enumerate(conv_channels):
        if conv == "native":
            layer: nn.Module = nn.Conv(
                channels,
                (conv_kernel, conv_kernel),
                padding="VALID",
                kernel_init=conv_orthogonal(HIDDEN_GAIN),
                name=f"{prefix}Conv_{i}",
            )
        else:
            layer = PatchConv(channels, conv_kernel, name=f"{prefix}Conv_{i}")
        x = nn.relu(layer(x))
    return x


def actor_view(obs: Any) -> Any:
    """What the actor sees of ``obs``: everything but a top-level ``"critic"`` entry of a dict
    observation (:data:`CRITIC_KEY`); array observations unchanged."""
    if isinstance(obs, dict) and CRITIC_KEY in obs:
        return {k: v for k, v in obs.items() if k != CRITIC_KEY}
    return obs


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
        some = jax.tree.leaves(x)[0]
        lead = some.shape[:2] if first is not None else some.shape[:1]
        x = jax.tree.map(lambda v: v.reshape(math.prod(lead), *v.shape[len(lead) :]), x)
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

    def __call__(self, obs: Any) -> tuple[Array, Array]:
        return self.actor(actor_view(obs)), self.critic(obs)[..., 0]

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
        actor_h, out = self.actor(state["actor"], actor_view(obs))
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
        _, out = self.actor(state["actor"], actor_view(obs), first)
        _, value = self.critic(state["critic"], obs, first)
        return out, value[..., 0]


def uses_cnn(config: StaticConfig, obs_shape: Any) -> bool:
    """Whether ``config.torso`` gives a CNN for observations of ``obs_shape`` (a shape, or the
    :class:`~ppo_jax.core.types.ObsTree` of pytree observations): ``"auto"`` picks one for
    image-like ``[H, W, C]`` observations (e.g. MinAtar) or image leaves, an MLP otherwise."""
    images = [s for s in _obs_shapes(obs_shape) if len(s) == 3]
    if config.torso == "cnn":
        if not images:
            raise ValueError(
                f"PPOConfig.torso='cnn' needs [H, W, C] observations (or an image leaf), the "
                f"environment gives {_describe_obs(obs_shape)}; use torso='mlp' or 'auto'"
            )
        return True
    return config.torso == "auto" and bool(images)


def _obs_shapes(obs_shape: Any) -> tuple[tuple[int, ...], ...]:
    return obs_shape.shapes if isinstance(obs_shape, ObsTree) else (tuple(obs_shape),)


def _describe_obs(obs_shape: Any) -> str:
    if isinstance(obs_shape, ObsTree):
        pairs = zip(obs_shape.paths, obs_shape.shapes, strict=True)
        return "{" + ", ".join(f"{p}: {s}" for p, s in pairs) + "}"
    return str(tuple(obs_shape))


def action_leaves(action: ActionSpec | CompositeAction) -> tuple[ActionSpec, ...]:
    """The leaves of an action space (one for a single ``Discrete`` or ``Box``)."""
    return action.leaves if isinstance(action, CompositeAction) else (action,)


def leaf_outputs(leaf: ActionSpec, distribution: str, state_dependent_std: bool) -> int:
    """Network outputs one action leaf takes: ``n`` logits (discrete); ``A`` means, plus ``A``
    log-stds when ``state_dependent_std`` (Gaussian, tanh-Gaussian); ``2 A`` (Beta: raw
    ``alpha``, ``beta``)."""
    if not leaf.continuous:
        return leaf.size
    if distribution == "beta" or state_dependent_std:
        return 2 * leaf.size
    return leaf.size


def policy_outputs(config: StaticConfig, action: ActionSpec | CompositeAction) -> int:
    """Width of the actor's output for ``action`` under ``config``: the sum of
    :func:`leaf_outputs` (``A`` for today's Discrete or Box with the default Gaussian)."""
    return sum(
        leaf_outputs(leaf, config.continuous_distribution, config.state_dependent_std)
        for leaf in action_leaves(action)
    )


def default_module(
    config: StaticConfig, obs_shape: Any, action: ActionSpec | CompositeAction, conv: str = "im2col"
) -> nn.Module:
    """The built-in network for ``config`` (:class:`ActorCritic`, or
    :class:`RecurrentActorCritic` when ``config.recurrent``), for observations of
    ``obs_shape``. ``ValueError`` when a CNN torso's convolutions do not fit the images."""
    if config.torso == "nature":
        return _nature_module(obs_shape, policy_outputs(config, action), conv)
    cnn = uses_cnn(config, obs_shape)
    channels = config.cnn_channels if cnn else ()
    for shape in _obs_shapes(obs_shape) if cnn else ():
        if len(shape) != 3:
            continue
        side = min(int(shape[0]), int(shape[1]))
        needed = len(channels) * (config.cnn_kernel - 1) + 1
        if needed > side:
            raise ValueError(
                f"PPOConfig.cnn_kernel={config.cnn_kernel} with {len(channels)} convolution(s) "
                f"needs images of at least {needed}x{needed}; the observations are "
                f"{_describe_obs(obs_shape)}"
            )
    common: dict[str, Any] = {
        "action_size": policy_outputs(config, action),
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


def _nature_module(obs_shape: Any, outputs: int, conv: str) -> nn.Module:
    """:class:`~ppo_jax.core.nature_cnn.NatureActorCritic` for images ``[H, W, C]`` (one
    array observation) and ``outputs`` policy outputs."""
    from ppo_jax.core.nature_cnn import NatureActorCritic, min_image_side

    side = min_image_side()
    image = not isinstance(obs_shape, ObsTree) and len(obs_shape) == 3
    if not image or min(int(obs_shape[0]), int(obs_shape[1])) < side:
        raise ValueError(
            f"PPOConfig.torso='nature' needs [H, W, C] images of at least {side}x{side}, the "
            f"environment gives {_describe_obs(obs_shape)}"
        )
    height, width, channels = (int(d) for d in obs_shape)
    return NatureActorCritic(outputs, height, width, channels, conv)


def is_recurrent(module: nn.Module) -> bool:
    """Whether ``module`` follows the recurrent interface (has ``initial_state``)."""
    return callable(getattr(module, "initial_state", None))


@dataclasses.dataclass(frozen=True)
class Network:
    """A network module bound to an environment's observations and actions.

    Hashable (a compile-cache key part): equal modules and specs give equal networks.
    """

    module: nn.Module
    obs_shape: Any
    """The shape tuple of array observations, or the
    :class:`~ppo_jax.core.types.ObsTree` of pytree observations."""
    action: ActionSpec | CompositeAction
    log_std_init: float = 0.0
    norm_clip: float = 10.0
    continuous_distribution: str = "gaussian"
    """``PPOConfig.continuous_distribution``: the policy of every ``Box`` leaf."""
    state_dependent_std: bool = False

    @property
    def recurrent(self) -> bool:
        return is_recurrent(self.module)

    @property
    def leaves(self) -> tuple[ActionSpec, ...]:
        """The action leaves (one for a single ``Discrete`` or ``Box``)."""
        return action_leaves(self.action)

    @property
    def output_size(self) -> int:
        """Width ``P`` of the module's policy output ``[B, P]`` (see :func:`leaf_outputs`)."""
        return sum(self._leaf_outputs(leaf) for leaf in self.leaves)

    def _leaf_outputs(self, leaf: ActionSpec) -> int:
        return leaf_outputs(leaf, self.continuous_distribution, self.state_dependent_std)

    def _free_log_std(self, leaf: ActionSpec) -> bool:
        """Whether ``leaf``'s log-std is the free parameter ``params["log_std"]``."""
        return (
            leaf.continuous
            and self.continuous_distribution != "beta"
            and not self.state_dependent_std
        )

    @property
    def log_std_size(self) -> int:
        """Length of ``params["log_std"]`` (0: no such parameter)."""
        return sum(leaf.size for leaf in self.leaves if self._free_log_std(leaf))

    # ------------------------------------------------------------------ parameters
    def dummy_obs(self, batch: int = 1) -> Any:
        """Zero observations ``[batch, ...]`` (a pytree for pytree observations)."""
        if isinstance(self.obs_shape, ObsTree):
            zeros = [jnp.zeros((batch, *s), jnp.float32) for s in self.obs_shape.shapes]
            return self.obs_shape.treedef.unflatten(zeros)
        return jnp.zeros((batch, *self.obs_shape), jnp.float32)

    def init(self, key: PRNGKey) -> Params:
        """Fresh parameters: ``{"network": module params}`` plus ``"log_std"`` ``[A]`` for a
        Gaussian (or tanh-Gaussian) policy with a state-independent std (``A``: the action
        dimensions of all such leaves)."""
        dummy = self.dummy_obs()
        if self.recurrent:
            variables = self.module.init(key, self.initial_state(1), dummy)
        else:
            variables = self.module.init(key, dummy)
        params: dict[str, Any] = {"network": variables["params"]}
        if self.log_std_size:
            params["log_std"] = jnp.full((self.log_std_size,), self.log_std_init, jnp.float32)
        return params

    def initial_state(self, batch_size: int) -> Any:
        """The recurrent state at an episode start for ``batch_size`` environments (``None``
        for a feed-forward network)."""
        if not self.recurrent:
            return None
        initial_state: Any = getattr(self.module, "initial_state")  # noqa: B009
        return initial_state(batch_size)

    # ------------------------------------------------------------------ application
    def _prepare(self, obs: Any, obs_norm: Any) -> tuple[Any, tuple[int, ...]]:
        """Normalise, cast to float32, and flatten the leading axes: ``([B, *obs_shape],
        leading shape)`` (every leaf ``[B, *leaf_shape]`` for pytree observations)."""
        if isinstance(self.obs_shape, ObsTree):
            return self._prepare_tree(obs, obs_norm)
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

    def _prepare_tree(self, obs: Any, obs_norm: Any) -> tuple[Any, tuple[int, ...]]:
        spec = self.obs_shape
        try:
            leaves = spec.treedef.flatten_up_to(obs)
        except (ValueError, TypeError):
            raise ValueError(
                f"observations {jax.tree.structure(obs)} do not have the network's "
                f"observation structure {spec.treedef}"
            ) from None
        lead: tuple[int, ...] | None = None
        for path, shape, leaf in zip(spec.paths, spec.shapes, leaves, strict=True):
            leaf_shape = tuple(jnp.shape(leaf))
            nd = len(shape)
            if len(leaf_shape) < nd or leaf_shape[len(leaf_shape) - nd :] != shape:
                raise ValueError(
                    f"observation entry {path!r} of shape {leaf_shape} does not end in the "
                    f"network's shape {shape}"
                )
            this = leaf_shape[: len(leaf_shape) - nd]
            if lead is not None and this != lead:
                raise ValueError(
                    f"observation entries have different leading axes ({lead} and {this} "
                    f"at {path!r})"
                )
            lead = this
        assert lead is not None
        x = spec.treedef.unflatten([jnp.asarray(v, jnp.float32) for v in leaves])
        if obs_norm is not None:
            x = normalize_obs(obs_norm, x, self.norm_clip)
        flat = [
            v.reshape(math.prod(lead), *shape)
            for v, shape in zip(spec.treedef.flatten_up_to(x), spec.shapes, strict=True)
        ]
        return spec.treedef.unflatten(flat), lead

    def _distribution(self, params: Params, out: Array, mask: Any) -> Distribution:
        """The policy of the module's output ``out [..., P]``: one leaf's distribution, or a
        :class:`~ppo_jax.core.distributions.Composite` of every leaf's (``mask``: the
        environment's mask pytree, applied to discrete leaves)."""
        if not isinstance(self.action, CompositeAction):
            if not self.action.continuous:
                return masked_categorical(out, mask)
            if self.log_std_size and self.continuous_distribution == "gaussian":
                free = jnp.broadcast_to(params["log_std"], out.shape)
                return DiagGaussian(mean=out, log_std=free)
            return self._leaf_distribution(self.action, out, params.get("log_std"), None)
        masks = (
            [None] * len(self.leaves) if mask is None else self.action.treedef.flatten_up_to(mask)
        )
        parts, at, std_at = [], 0, 0
        for leaf, leaf_mask in zip(self.leaves, masks, strict=True):
            width = self._leaf_outputs(leaf)
            log_std: Array | None = None
            if self._free_log_std(leaf):
                log_std = params["log_std"][std_at : std_at + leaf.size]
                std_at += leaf.size
            chunk = out[..., at : at + width]
            parts.append(self._leaf_distribution(leaf, chunk, log_std, leaf_mask))
            at += width
        return Composite(parts=tuple(parts))

    def _leaf_distribution(
        self, leaf: ActionSpec, out: Array, log_std: Array | None, mask: Array | None
    ) -> Distribution:
        if not leaf.continuous:
            return masked_categorical(out, None if mask is None else jnp.asarray(mask, bool))
        a = leaf.size
        low = jnp.broadcast_to(jnp.asarray(leaf.low, jnp.float32), (*out.shape[:-1], a))
        high = jnp.broadcast_to(jnp.asarray(leaf.high, jnp.float32), (*out.shape[:-1], a))
        if self.continuous_distribution == "beta":
            alpha = 1.0 + jax.nn.softplus(out[..., :a])
            beta = 1.0 + jax.nn.softplus(out[..., a:])
            return Beta(alpha=alpha, beta=beta, low=low, high=high)
        if log_std is None:  # state-dependent: the second half of the head
            mean = out[..., :a]
            log_std = jnp.clip(self.log_std_init + out[..., a:], LOG_STD_MIN, LOG_STD_MAX)
        else:
            mean = out
            log_std = jnp.broadcast_to(log_std, mean.shape)
        if self.continuous_distribution == "tanh_gaussian":
            return TanhGaussian(mean=mean, log_std=log_std, low=low, high=high)
        return DiagGaussian(mean=mean, log_std=log_std)

    def env_action(self, dist: Distribution, action: Any) -> Any:
        """The action the environment takes for a stored ``action`` of ``dist``: squashed where
        the policy is a tanh-Gaussian, and the tuple of a composite action unflattened into
        the environment's action pytree."""
        action = dist_env_action(dist, action)
        if isinstance(self.action, CompositeAction):
            return self.action.treedef.unflatten(list(action))
        return action

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
        init = self.initial_state(math.prod(lead))
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
            x = jax.tree.map(lambda v: v.reshape(*lead, *v.shape[1:]), x)
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
    config: StaticConfig,
    obs_shape: Any,
    action: ActionSpec | CompositeAction,
    module: nn.Module | None = None,
    conv: str = "im2col",
) -> Network:
    """Bind ``module`` (default: :func:`default_module` of ``config``) to observations of
    ``obs_shape`` (a shape, or an :class:`~ppo_jax.core.types.ObsTree`) and ``action``.
    ``conv`` chooses the built-in CNN's convolution. ``ValueError`` naming the space's path
    when a bounded policy (``continuous_distribution`` ``"tanh_gaussian"`` or ``"beta"``)
    meets a ``Box`` with infinite bounds or ``low == high``
    (:func:`~ppo_jax.core.envs.check_action_bounds`)."""
    if conv not in CONV_IMPLEMENTATIONS:
        raise ValueError(f"conv must be one of {CONV_IMPLEMENTATIONS}, got {conv!r}")
    check_action_bounds(action, config.continuous_distribution)
    if module is None:
        module = default_module(config, obs_shape, action, conv)
    elif not isinstance(module, nn.Module):
        raise TypeError(
            f"network must be a flax.linen.Module whose __call__(obs) returns (logits or mean, "
            f"value), got {type(module).__name__}"
        )
    if not isinstance(obs_shape, ObsTree):
        obs_shape = tuple(int(d) for d in obs_shape)
    return Network(
        module=module,
        obs_shape=obs_shape,
        action=action,
        log_std_init=float(config.log_std_init),
        norm_clip=float(config.norm_clip),
        continuous_distribution=config.continuous_distribution,
        state_dependent_std=bool(config.state_dependent_std),
    )


def check_network(network: Network) -> None:
    """Trace ``init`` and ``apply`` abstractly (nothing is compiled or run) and raise a
    ``ValueError`` naming the argument and the shapes when the module's outputs do not fit:
    ``(out [B, A], value [B])``, and for a recurrent module a state that keeps its shapes."""
    batch, a = 3, network.output_size
    kind = "logits" if not network.action.continuous else "mean"
    if isinstance(network.action, CompositeAction) or a != network.action.size:
        kind = "policy outputs"
    where = f"network={type(network.module).__name__}"
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    try:
        params = jax.eval_shape(network.init, key)
        obs = jax.eval_shape(lambda: network.dummy_obs(batch))
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
            f"{where} fails on observations [{batch}, *{_describe_obs(network.obs_shape)}]: {err}"
        ) from None
    except Exception as err:  # flax/jax errors of a module that does not fit
        raise ValueError(
            f"{where} fails on observations [{batch}, *{_describe_obs(network.obs_shape)}]: "
            f"{type(err).__name__}: {err}"
        ) from None
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise ValueError(f"{where} must return ({kind} [B, {a}], value [B]), got {_shapes(out)}")
    head, value = out
    if getattr(head, "shape", None) != (batch, a):
        raise ValueError(
            f"{where} must return {kind} shaped [B, {a}] (B={batch} observations, {a} "
            f"{_output_words(network)}), got {_shapes(head)}"
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


def _output_words(network: Network) -> str:
    if isinstance(network.action, CompositeAction):
        return "outputs: the leaves' logits, means and std/concentration heads, in order"
    if network.output_size != network.action.size:
        kind = network.continuous_distribution
        return f"outputs for {kind} actions of {network.action.size} dimensions"
    return "action dimensions" if network.action.continuous else "actions"


def _shapes(tree: Any) -> Any:
    return jax.tree.map(lambda x: list(getattr(x, "shape", ())), tree)
