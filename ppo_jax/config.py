"""Static training settings (:class:`PPOConfig`) and traced hyperparameters (:class:`Hyperparams`).

Two objects split what can be traced from what cannot:

* :class:`PPOConfig` is frozen and hashable. It holds everything that sets an array shape or a loop
  length (``num_envs``, ``num_steps``, ``update_epochs`` ...) plus the environment id. It is closed
  over by :func:`ppo_jax.train.make_train`, so changing it recompiles.
* :class:`Hyperparams` is a NamedTuple of floats. It is an *argument* of the compiled train
  function, so it can be batched with ``vmap`` (hyperparameter sweeps) without recompiling.

Every field is validated in ``__post_init__``; an invalid value raises ``ValueError`` (or
``TypeError`` for a wrong type) whose message names the field and what is allowed, before anything
is compiled.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

VALUE_TARGETS = ("lambda_return", "reward_to_go")
ACTIVATIONS = ("tanh", "relu", "gelu", "silu")
TORSOS = ("auto", "mlp", "cnn")
SHUFFLES = ("sort", "hash")

#: Fields of :class:`PPOConfig` whose values are floats that set no array shape; they are
#: carried in :class:`Hyperparams` at run time and may be swept without recompiling.
TRACED_FIELDS = (
    "learning_rate",
    "gamma",
    "gae_lambda",
    "clip_eps",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
)


class Hyperparams(NamedTuple):
    """Traced hyperparameters: float scalars, or arrays with a leading batch axis for sweeps
    (inside a trace: tracers; for ahead-of-time lowering: ``jax.ShapeDtypeStruct``).

    Field names equal the :class:`PPOConfig` fields they come from.
    """

    learning_rate: Any
    gamma: Any
    gae_lambda: Any
    clip_eps: Any
    ent_coef: Any
    vf_coef: Any
    max_grad_norm: Any


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class PPOConfig:
    """Settings of one PPO training run. Frozen, hashable and validated on construction.

    Defaults solve gymnax ``CartPole-v1`` (mean episodic return >= 475 at the end of training)
    across seeds.
    """

    env_name: str = "CartPole-v1"
    """gymnax environment id (see ``gymnax.registered_envs``). Discrete action spaces get a
    categorical policy, continuous (``Box``) ones a diagonal Gaussian; ``ppo_jax.configs`` holds
    tuned settings per environment."""
    num_envs: int = 32
    """Parallel environments per training run."""
    num_steps: int = 64
    """Rollout length T per environment between updates."""
    total_timesteps: int = 262_144
    """Environment steps per training run (rounded down to whole updates)."""
    update_epochs: int = 4
    """Passes over each rollout batch per update."""
    num_minibatches: int = 4
    """Minibatches per epoch; must divide ``num_envs * num_steps``."""
    learning_rate: float = 2.5e-3
    """Adam step size (initial value when ``anneal_lr``)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run."""
    gamma: float = 0.99
    """Discount factor, in [0, 1]."""
    gae_lambda: float = 0.95
    """GAE lambda, in [0, 1]."""
    clip_eps: float = 0.2
    """PPO ratio clipping epsilon (> 0)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient (>= 0)."""
    vf_coef: float = 0.5
    """Value loss coefficient (>= 0)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip (``optax.clip_by_global_norm``), > 0."""
    vf_clip_eps: float | None = None
    """Separate clipping range for the value loss (PPO2-style); ``None`` disables value clipping."""
    normalize_advantages: bool = True
    """Normalise advantages to zero mean and unit std within each minibatch."""
    value_target: Literal["lambda_return", "reward_to_go"] = "lambda_return"
    """Critic target: GAE lambda-returns ``A + V``, or the discounted reward-to-go bootstrapped
    at the rollout end and at truncation."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of both the actor and the critic MLPs."""
    activation: Literal["tanh", "relu", "gelu", "silu"] = "tanh"
    """Hidden-layer activation of both MLPs."""
    adam_eps: float = 1e-5
    """Adam epsilon."""
    torso: Literal["auto", "mlp", "cnn"] = "auto"
    """Network torso: ``"auto"`` uses a CNN for image observations ``[H, W, C]`` (MinAtar) and an
    MLP on flattened observations otherwise."""
    cnn_channels: tuple[int, ...] = (16,)
    """Channels of the CNN torso's convolutions (stride 1, VALID padding, ReLU)."""
    cnn_kernel: int = 3
    """Square kernel size of the CNN torso's convolutions."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions only)."""
    normalize_observations: bool = False
    """Normalise observations by running mean/std (kept in ``params["obs_norm"]``, updated after
    every rollout, saved in checkpoints and applied at evaluation)."""
    normalize_rewards: bool = False
    """Divide rewards by the running std of the discounted return (training targets only;
    logged episode returns stay raw)."""
    norm_clip: float = 10.0
    """Normalised observations and rewards are clipped to ``[-norm_clip, norm_clip]``."""
    shuffle: Literal["sort", "hash"] = "sort"
    """How each epoch shuffles the rollout into minibatches: ``"sort"`` is
    ``jax.random.permutation`` (sorts random keys); ``"hash"`` maps every index through a keyed
    bijection (:func:`ppo_jax.update.random_permutation`), no sort: the same minibatch
    statistics, ~20% faster updates on CPU, but a different random stream (so different runs
    for the same seed; the tuned configs were verified with ``"sort"``)."""
    env_kwargs: tuple[tuple[str, Any], ...] = field(default=())
    """Keyword arguments passed to ``gymnax.make`` as ``(name, value)`` pairs."""

    def __post_init__(self) -> None:
        _validate(self)

    # ----------------------------------------------------------------- derived values
    @property
    def batch_size(self) -> int:
        """Transitions per update: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        """Transitions per minibatch."""
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        """Rollout-and-update iterations: ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    @property
    def env_steps(self) -> int:
        """Environment steps actually taken: ``num_updates * batch_size``."""
        return self.num_updates * self.batch_size

    def hyperparams(self) -> Hyperparams:
        """The traced hyperparameters of this config, as float scalars."""
        return Hyperparams(**{name: float(getattr(self, name)) for name in TRACED_FIELDS})

    def replace(self, **changes: Any) -> PPOConfig:
        """A copy with ``changes`` applied (validated again)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(
                f"unknown PPOConfig field(s) {unknown}; fields are {config_field_names()}"
            )
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PPOConfig:
        """Inverse of :meth:`to_dict` (lists become tuples again); validates like the
        constructor."""
        fields = dict(data)
        for name in ("hidden_sizes", "cnn_channels"):
            if isinstance(fields.get(name), list):
                fields[name] = tuple(fields[name])
        if isinstance(fields.get("env_kwargs"), dict):
            fields["env_kwargs"] = tuple(fields["env_kwargs"].items())
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of the fields (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "env_kwargs":
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def config_field_names() -> list[str]:
    """Names of all :class:`PPOConfig` fields, in declaration order."""
    return [f.name for f in dataclasses.fields(PPOConfig)]


def registered_env_names() -> list[str]:
    """gymnax environment ids accepted as ``env_name``."""
    import gymnax

    return list(gymnax.registered_envs)


def _require_int(name: str, value: Any, minimum: int) -> None:
    if not _is_int(value):
        raise TypeError(f"PPOConfig.{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"PPOConfig.{name} must be >= {minimum}, got {value}")


def _require_real(
    name: str,
    value: Any,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
) -> None:
    if not _is_real(value):
        raise TypeError(f"PPOConfig.{name} must be a number, got {type(value).__name__} {value!r}")
    try:
        as_float = float(value)
    except OverflowError:
        raise ValueError(
            f"PPOConfig.{name} must be a finite number representable as a float, got an int "
            f"with {len(str(abs(value)))} digits"
        ) from None
    if math.isnan(as_float) or math.isinf(as_float):
        raise ValueError(f"PPOConfig.{name} must be finite, got {value}")
    low_ok = value > low if low_open else value >= low
    if not low_ok or value > high:
        left = "(" if low_open else "["
        right = "]" if math.isfinite(high) else ")"
        raise ValueError(f"PPOConfig.{name} must be in {left}{low}, {high}{right}, got {value}")


def _require_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"PPOConfig.{name} must be a bool, got {type(value).__name__} {value!r}")


def _validate_env_name(c: PPOConfig) -> None:
    if not isinstance(c.env_name, str):
        raise TypeError(f"PPOConfig.env_name must be a str, got {type(c.env_name).__name__}")
    known = registered_env_names()
    if c.env_name not in known:
        raise ValueError(
            f"PPOConfig.env_name {c.env_name!r} is not a gymnax environment; available: "
            + ", ".join(known)
        )


def _validate(c: PPOConfig) -> None:
    _validate_env_name(c)
    for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches"):
        _require_int(name, getattr(c, name), 1)
    _require_int("total_timesteps", c.total_timesteps, 1)
    if c.batch_size % c.num_minibatches:
        raise ValueError(
            f"PPOConfig.num_minibatches={c.num_minibatches} must divide num_envs * num_steps = "
            f"{c.num_envs} * {c.num_steps} = {c.batch_size}"
        )
    if c.total_timesteps < c.batch_size:
        raise ValueError(
            f"PPOConfig.total_timesteps={c.total_timesteps} must be >= num_envs * num_steps = "
            f"{c.batch_size} (at least one update)"
        )
    _require_real("learning_rate", c.learning_rate, low=0.0, low_open=True)
    _require_real("gamma", c.gamma, low=0.0, high=1.0)
    _require_real("gae_lambda", c.gae_lambda, low=0.0, high=1.0)
    _require_real("clip_eps", c.clip_eps, low=0.0, low_open=True)
    _require_real("ent_coef", c.ent_coef, low=0.0)
    _require_real("vf_coef", c.vf_coef, low=0.0)
    _require_real("max_grad_norm", c.max_grad_norm, low=0.0, low_open=True)
    _require_real("adam_eps", c.adam_eps, low=0.0, low_open=True)
    if c.vf_clip_eps is not None:
        _require_real("vf_clip_eps", c.vf_clip_eps, low=0.0, low_open=True)
    for name in ("anneal_lr", "normalize_advantages"):
        _require_bool(name, getattr(c, name))
    if c.value_target not in VALUE_TARGETS:
        raise ValueError(
            f"PPOConfig.value_target must be one of {VALUE_TARGETS}, got {c.value_target!r}"
        )
    if c.activation not in ACTIVATIONS:
        raise ValueError(f"PPOConfig.activation must be one of {ACTIVATIONS}, got {c.activation!r}")
    if not isinstance(c.hidden_sizes, tuple) or not c.hidden_sizes:
        raise TypeError(
            "PPOConfig.hidden_sizes must be a non-empty tuple of positive ints, "
            f"got {c.hidden_sizes!r}"
        )
    for width in c.hidden_sizes:
        if not _is_int(width) or width < 1:
            raise ValueError(
                f"PPOConfig.hidden_sizes must hold positive ints, got {c.hidden_sizes!r}"
            )
    _validate_extensions(c)
    if not isinstance(c.env_kwargs, tuple) or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in c.env_kwargs
    ):
        raise TypeError(
            f"PPOConfig.env_kwargs must be a tuple of (name, value) pairs, got {c.env_kwargs!r}"
        )


def _validate_extensions(c: PPOConfig) -> None:
    """Checks of the torso, Gaussian-policy and normalisation fields."""
    _require_real("log_std_init", c.log_std_init, low=-20.0, high=5.0)
    _require_real("norm_clip", c.norm_clip, low=0.0, low_open=True)
    _require_int("cnn_kernel", c.cnn_kernel, 1)
    for name in ("normalize_observations", "normalize_rewards"):
        _require_bool(name, getattr(c, name))
    if c.torso not in TORSOS:
        raise ValueError(f"PPOConfig.torso must be one of {TORSOS}, got {c.torso!r}")
    if c.shuffle not in SHUFFLES:
        raise ValueError(f"PPOConfig.shuffle must be one of {SHUFFLES}, got {c.shuffle!r}")
    if (
        not isinstance(c.cnn_channels, tuple)
        or not c.cnn_channels
        or not all(_is_int(w) and w >= 1 for w in c.cnn_channels)
    ):
        raise TypeError(
            "PPOConfig.cnn_channels must be a non-empty tuple of positive ints, "
            f"got {c.cnn_channels!r}"
        )
