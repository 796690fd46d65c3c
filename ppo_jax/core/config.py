"""Static training settings (:class:`PPOConfig`) and traced hyperparameters (:class:`Hyperparams`).

Two objects split what can be traced from what cannot:

* :class:`PPOConfig` is frozen and hashable. It holds everything that sets an array shape or a loop
  length (``num_envs``, ``num_steps``, ``update_epochs`` ...) plus the environment id, and, for
  convenience, the default values of the traced hyperparameters. Its static part is its own
  type, :class:`StaticConfig` (:meth:`PPOConfig.static`): compiled programs close over it and
  are cached by it, so two configs that differ only in a traced field share one executable,
  and reading a traced field inside a program is an ``AttributeError``, never a placeholder.
* :class:`Hyperparams` is a NamedTuple of floats. It is an *argument* of the compiled train
  function, so it can be batched with ``vmap`` (sweeps, population-based training) without
  recompiling. :meth:`PPOConfig.hyperparams` gives the config's values.

Every field is validated in ``__post_init__``; an invalid value raises ``ValueError`` (or
``TypeError`` for a wrong type) whose message names the field and what is allowed, before anything
is compiled. Each field's documentation is its ``metadata["doc"]`` (the command line's ``--help``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

VALUE_TARGETS = ("lambda_return", "reward_to_go")
ACTIVATIONS = ("tanh", "relu", "gelu", "silu")
TORSOS = ("auto", "mlp", "cnn", "nature")
SHUFFLES = ("sort", "hash")
CONTINUOUS_DISTRIBUTIONS = ("gaussian", "tanh_gaussian", "beta")
RECURRENT_CELLS = ("gru", "lstm", "lru")

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

INT32_MAX = 2**31 - 1
"""Counts (environments, steps, updates, gradient steps) are int32 inside the compiled program."""

SUITE_PREFIXES = ("brax", "navix", "jumanji", "craftax", "xminigrid", "envpool")
"""``env_name`` prefixes resolved by the environment-suite adapters (``"brax:ant"``)."""

_MODULE_ATTR = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")


def setting(default: Any, doc: str) -> Any:
    """A dataclass field with a default and its documentation (shown by ``--help``)."""
    return field(default=default, metadata={"doc": " ".join(doc.split())})


class Hyperparams(NamedTuple):
    """Traced hyperparameters: float scalars, or arrays with a leading batch axis for sweeps
    (inside a trace: tracers; for ahead-of-time lowering: ``jax.ShapeDtypeStruct``).

    Field names and defaults equal the :class:`PPOConfig` fields they come from.
    """

    learning_rate: Any = 2.5e-3
    gamma: Any = 0.99
    gae_lambda: Any = 0.95
    clip_eps: Any = 0.1
    ent_coef: Any = 0.01
    vf_coef: Any = 0.5
    max_grad_norm: Any = 0.5


_DEFAULT_HP = Hyperparams()


@dataclass(frozen=True, kw_only=True)
class StaticConfig:
    """The static part of a :class:`PPOConfig`: every field that sets an array shape, a loop
    length, the environment or the network, and none of the traced hyperparameters.

    A compiled program closes over a ``StaticConfig`` (``PPOConfig.static()``) and reads the
    traced values from its :class:`Hyperparams` argument only: ``static.clip_eps`` raises
    ``AttributeError`` instead of returning a placeholder. Equal static configs share one
    executable. Build one with :meth:`PPOConfig.static`.
    """

    env_name: str = setting(
        "CartPole-v1",
        """Environment: a gymnax id (see ``gymnax.registered_envs``), a suite-prefixed id
        (``brax:ant``, ``navix:Navix-Empty-5x5-v0``, ``jumanji:Snake-v1``, ``craftax:...``), or
        ``module:attribute`` naming a gymnax Environment (or a zero-argument factory returning
        one, or ``(env, env_params)``). Discrete actions get a categorical policy, continuous
        (``Box``) ones a diagonal Gaussian; ``ppo_jax.get_config`` holds tuned settings.""",
    )
    num_envs: int = setting(32, "Parallel environments per training run.")
    num_steps: int = setting(64, "Rollout length T per environment between updates.")
    total_timesteps: int = setting(
        262_144, "Environment steps per training run (rounded down to whole updates)."
    )
    update_epochs: int = setting(4, "Passes over each rollout batch per update.")
    num_minibatches: int = setting(
        4,
        """Minibatches per epoch; must divide ``num_envs * num_steps`` (recurrent policies:
        must divide ``num_envs``, whole sequences per minibatch).""",
    )
    anneal_lr: bool = setting(True, "Anneal the learning rate linearly to 0 over the run.")
    vf_clip_eps: float | None = setting(
        None,
        "Separate clipping range for the value loss (PPO2-style); ``None`` disables value "
        "clipping.",
    )
    normalize_advantages: bool = setting(
        True, "Normalise advantages to zero mean and unit std within each minibatch."
    )
    value_target: Literal["lambda_return", "reward_to_go"] = setting(
        "lambda_return",
        """Critic target: GAE lambda-returns ``A + V``, or the discounted reward-to-go
        bootstrapped at the rollout end and at truncation.""",
    )
    hidden_sizes: tuple[int, ...] = setting(
        (64, 64), "Hidden layer widths of both the actor and the critic MLPs."
    )
    activation: Literal["tanh", "relu", "gelu", "silu"] = setting(
        "tanh", "Hidden-layer activation of both MLPs."
    )
    adam_eps: float = setting(1e-5, "Adam epsilon.")
    torso: Literal["auto", "mlp", "cnn", "nature"] = setting(
        "auto",
        """Network torso: ``"auto"`` uses a CNN for image observations ``[H, W, C]`` (MinAtar)
        and an MLP on flattened observations otherwise; ``"nature"`` is the Nature DQN CNN
        shared by the policy and value heads, for 84x84 Atari frames (its layers are fixed:
        ``hidden_sizes``, ``cnn_channels`` and ``cnn_kernel`` do not apply).""",
    )
    cnn_channels: tuple[int, ...] = setting(
        (16,), "Channels of the CNN torso's convolutions (stride 1, VALID padding, ReLU)."
    )
    cnn_kernel: int = setting(3, "Square kernel size of the CNN torso's convolutions.")
    log_std_init: float = setting(
        0.0, "Initial log standard deviation of the Gaussian policy (continuous actions only)."
    )
    continuous_distribution: Literal["gaussian", "tanh_gaussian", "beta"] = setting(
        "gaussian",
        """Policy of continuous (``Box``) actions: ``"gaussian"``, a diagonal Gaussian sampled
        unbounded and clipped to the bounds only when stepping the environment;
        ``"tanh_gaussian"``, a Gaussian squashed by ``tanh`` into the bounds (log-probabilities
        with the exact change-of-variables correction); ``"beta"``, a Beta distribution scaled
        to the bounds (Chou et al. 2017; both concentrations >= 1). The bounded two need
        finite ``Box`` bounds.""",
    )
    state_dependent_std: bool = setting(
        False,
        """Gaussian and tanh-Gaussian policies: the log standard deviation is a head of the
        actor (one per action dimension, ``log_std_init`` plus the head's output, clipped to
        ``[-20, 2]``) instead of a free parameter ``log_std``.""",
    )
    normalize_observations: bool = setting(
        False,
        """Normalise observations by running mean/std (kept in the training state's
        ``obs_norm``, updated after every rollout, saved in checkpoints and applied at
        evaluation).""",
    )
    normalize_rewards: bool = setting(
        False,
        """Divide rewards by the running std of the discounted return (training targets only;
        logged episode returns stay raw).""",
    )
    norm_clip: float = setting(
        10.0, "Normalised observations and rewards are clipped to ``[-norm_clip, norm_clip]``."
    )
    shuffle: Literal["sort", "hash"] = setting(
        "hash",
        """How each epoch shuffles the rollout into minibatches: ``"hash"`` (the default) maps
        every index through a keyed bijection, no sort (every item in every position, every
        pair in one minibatch, at the uniform rates); ``"sort"`` is ``jax.random.permutation``
        (sorts random keys: slower updates, ppo_jax's default before 2026-11-30, and the way
        to replay runs made then).""",
    )
    recurrent: Literal["gru", "lstm", "lru"] | None = setting(
        None,
        """Recurrent policy: a memory cell (``recurrent_size`` units) after the torso of both
        the actor and the critic, its state carried through the rollout, reset at every
        episode start, and trained on whole sequences per environment. ``"gru"`` and
        ``"lstm"`` replay each sequence step by step in the update; ``"lru"``, a gated linear
        recurrence (``ppo_jax.core.memory``), replays it with a parallel scan
        (``jax.lax.associative_scan``), much faster. ``None``: a feed-forward policy.""",
    )
    recurrent_size: int = setting(128, "Hidden units of the recurrent cell.")
    env_kwargs: tuple[tuple[str, Any], ...] = setting(
        (),
        """Keyword arguments as ``(name, value)`` pairs: of ``gymnax.make``, or fields of the
        gymnax environment's ``EnvParams`` (``memory_length`` of MemoryChain); of a suite's
        constructor; or of a ``module:attribute`` factory.""",
    )
    eval_every: int = setting(
        0,
        """Evaluate the policy inside the compiled program every ``eval_every`` updates and
        after the last one (0: never): ``eval_episodes`` whole episodes on environment
        instances and keys of their own; metrics ``eval_return``, ``eval_length`` and
        ``eval_truncated`` (finite at those updates, NaN at the others), and the parameters
        of the best evaluation kept (the absolute metric re-evaluates them).""",
    )
    eval_episodes: int = setting(16, "Episodes per evaluation during training.")
    eval_greedy: bool = setting(
        True, "Evaluate the most probable action (the Gaussian mean); False samples actions."
    )
    eval_max_steps: int = setting(
        0,
        """Step budget of an evaluation episode (0: the environment's
        ``max_steps_in_episode``, else 1000); an episode still running then is cut and
        counted in ``eval_truncated``.""",
    )
    stop_at_return: float | None = setting(
        None,
        """Stop a run (keeping its state and a checkpoint) at its first evaluation whose mean
        return is >= this value; later updates of that run are skipped (NaN metrics; its
        ``env_steps`` stay at the count it stopped at). Needs ``eval_every > 0``. ``None``:
        train every update.""",
    )

    def __post_init__(self) -> None:
        _coerce_numpy_scalars(self)
        _validate_static(self)

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

    @property
    def gradient_steps(self) -> int:
        """Optimiser steps over the whole run."""
        return self.num_updates * self.update_epochs * self.num_minibatches


@dataclass(frozen=True, kw_only=True)
class PPOConfig(StaticConfig):
    """Settings of one PPO training run. Frozen, hashable and validated on construction.

    Defaults solve gymnax ``CartPole-v1`` (mean episodic return >= 475 at the end of training)
    across seeds.
    """

    learning_rate: float = setting(
        _DEFAULT_HP.learning_rate, "Adam step size (initial value when ``anneal_lr``)."
    )
    gamma: float = setting(_DEFAULT_HP.gamma, "Discount factor, in [0, 1].")
    gae_lambda: float = setting(_DEFAULT_HP.gae_lambda, "GAE lambda, in [0, 1].")
    clip_eps: float = setting(_DEFAULT_HP.clip_eps, "PPO ratio clipping epsilon (> 0).")
    ent_coef: float = setting(_DEFAULT_HP.ent_coef, "Entropy bonus coefficient (>= 0).")
    vf_coef: float = setting(_DEFAULT_HP.vf_coef, "Value loss coefficient (>= 0).")
    max_grad_norm: float = setting(
        _DEFAULT_HP.max_grad_norm, "Global gradient-norm clip (``optax.clip_by_global_norm``), > 0."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _validate_traced(self)

    def hyperparams(self) -> Hyperparams:
        """The traced hyperparameters of this config, as float scalars."""
        return Hyperparams(**{name: float(getattr(self, name)) for name in TRACED_FIELDS})

    def static(self) -> StaticConfig:
        """The static part of this config (every field but the traced ones): the compile-cache
        key. Compiled programs read traced values only from their :class:`Hyperparams`
        argument, so configs equal up to traced fields share one executable."""
        return StaticConfig(**{name: getattr(self, name) for name in static_field_names()})

    def replace(self, **changes: Any) -> PPOConfig:
        """A copy with ``changes`` applied (validated again); it keeps :attr:`env_origin`."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(
                f"unknown PPOConfig field(s) {unknown}; fields are {config_field_names()}"
            )
        return dataclasses.replace(self, **changes).with_env_origin(self.env_origin)

    # ----------------------------------------------------------------- provenance
    @property
    def env_origin(self) -> str | None:
        """The file this config was read from when that file is data that may come from
        someone else (a run folder's ``config.json``, e.g. ``"run folder 'runs/x'"``); ``None``
        for a config made on this call (in Python, from flags or from a TOML file the user
        gave). A ``module:attribute`` ``env_name`` of a config with an origin is never
        imported (``ppo_jax.make_env`` refuses it) until the user trusts it for the call:
        ``trust_env_module=True`` (``--trust-env-module``), or the environment object itself
        (``env=``). Not a field: equality, hashing and ``to_dict`` ignore it."""
        origin: str | None = self.__dict__.get("_env_origin")
        return origin

    def with_env_origin(self, origin: str | None) -> PPOConfig:
        """This config marked as read from ``origin`` (``None``: trusted, as if made here)."""
        if origin is not None and not isinstance(origin, str):
            raise TypeError(f"env_origin must be a str or None, got {type(origin).__name__}")
        if origin == self.env_origin:
            return self
        copy = dataclasses.replace(self)
        object.__setattr__(copy, "_env_origin", origin)
        return copy

    @classmethod
    def from_dict(cls, data: Any) -> PPOConfig:
        """Inverse of :meth:`to_dict` (lists become tuples again); validates like the
        constructor, and names unknown keys."""
        if not isinstance(data, dict):
            raise TypeError(f"a PPOConfig needs a dict of fields, got {type(data).__name__}")
        unknown = sorted(str(k) for k in set(data) - set(config_field_names()))
        if unknown:
            raise TypeError(
                f"unknown PPOConfig field(s) {_clip_text(str(unknown))}; fields are "
                f"{config_field_names()}"
            )
        fields = dict(data)
        for name in ("hidden_sizes", "cnn_channels"):
            if isinstance(fields.get(name), list):
                fields[name] = tuple(fields[name])
        if isinstance(fields.get("env_kwargs"), dict):
            fields["env_kwargs"] = tuple(fields["env_kwargs"].items())
        elif isinstance(fields.get("env_kwargs"), list):
            fields["env_kwargs"] = tuple(
                tuple(p) if isinstance(p, list) else p for p in fields["env_kwargs"]
            )
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


def static_field_names() -> list[str]:
    """Names of the :class:`StaticConfig` fields (every :class:`PPOConfig` field but
    :data:`TRACED_FIELDS`), in declaration order."""
    return [f.name for f in dataclasses.fields(StaticConfig)]


def field_docs() -> dict[str, str]:
    """``field -> documentation`` of every :class:`PPOConfig` field."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(PPOConfig)}


def registered_env_names() -> list[str]:
    """gymnax environment ids accepted as ``env_name``."""
    import gymnax

    return list(gymnax.registered_envs)


def env_name_kind(name: str) -> str:
    """``"gymnax"``, ``"suite"`` (``prefix:id`` of an adapter) or ``"module"``
    (``module:attribute``) for a syntactically valid ``env_name``; ``ValueError`` otherwise."""
    prefix, sep, rest = name.partition(":")
    if not sep:
        if name in registered_env_names():
            return "gymnax"
        raise ValueError(
            f"PPOConfig.env_name {_clip_text(repr(name))} is not a gymnax environment, a "
            f"suite id ({', '.join(p + ':ID' for p in SUITE_PREFIXES)}) or module:attribute; "
            "gymnax ids: " + ", ".join(registered_env_names())
        )
    if prefix in SUITE_PREFIXES:
        if not rest.strip():
            raise ValueError(f"PPOConfig.env_name {name!r} names no environment after {prefix}:")
        return "suite"
    if _MODULE_ATTR.match(name):
        return "module"
    raise ValueError(
        f"PPOConfig.env_name {_clip_text(repr(name))}: with a ':' it must be a suite id "
        f"({', '.join(p + ':ID' for p in SUITE_PREFIXES)}) or module:attribute (a dotted "
        "Python module path and an attribute name)"
    )


# --------------------------------------------------------------------------- validation
MAX_TEXT = 200
"""Longest user text echoed back in an error message."""


def _clip_text(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"... ({len(text)} characters)"


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _coerce_numpy_scalars(c: StaticConfig) -> None:
    """numpy ints and floats (``np.int64(8)``, ``np.float32(3e-4)``) become Python ones, so
    equal configs hash equally whatever built them."""
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        if isinstance(value, np.integer):
            object.__setattr__(c, f.name, int(value))
        elif isinstance(value, np.floating):
            object.__setattr__(c, f.name, float(value))
        elif isinstance(value, tuple) and any(isinstance(v, np.integer) for v in value):
            object.__setattr__(
                c, f.name, tuple(int(v) if isinstance(v, np.integer) else v for v in value)
            )


def _require_int(name: str, value: Any, minimum: int, maximum: int = INT32_MAX) -> None:
    if not _is_int(value):
        raise TypeError(
            f"PPOConfig.{name} must be an int, got {type(value).__name__} {_clip_text(repr(value))}"
        )
    if value < minimum or value > maximum:
        raise ValueError(
            f"PPOConfig.{name} must be in [{minimum}, {maximum}], got {_clip_text(str(value))}"
        )


def _require_real(
    name: str,
    value: Any,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
) -> None:
    if not _is_real(value):
        raise TypeError(
            f"PPOConfig.{name} must be a number, got {type(value).__name__} "
            f"{_clip_text(repr(value))}"
        )
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
        raise ValueError(
            f"PPOConfig.{name} must be in {left}{low}, {high}{right}, got {_clip_text(str(value))}"
        )
    with np.errstate(over="ignore"):
        as_f32 = np.float32(as_float)
    if not np.isfinite(as_f32) or (as_float != 0.0 and as_f32 == 0.0):
        raise ValueError(
            f"PPOConfig.{name}={value} is outside float32's range (about 1e-38 to 3e38 in "
            "magnitude): the compiled program computes in float32"
        )


def _require_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(
            f"PPOConfig.{name} must be a bool, got {type(value).__name__} {_clip_text(repr(value))}"
        )


def _require_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if not isinstance(value, str | type(None)) or value not in choices:
        raise ValueError(
            f"PPOConfig.{name} must be one of {choices}, got {_clip_text(repr(value))}"
        )


def _require_widths(
    name: str, value: Any, maximum: int, entry_error: type[Exception] = ValueError
) -> None:
    if not isinstance(value, tuple) or not value:
        raise TypeError(
            f"PPOConfig.{name} must be a non-empty tuple of positive ints, got "
            f"{_clip_text(repr(value))}"
        )
    for width in value:
        if not _is_int(width) or not 1 <= width <= maximum:
            raise entry_error(
                f"PPOConfig.{name} must hold ints in [1, {maximum}], got {_clip_text(repr(value))}"
            )


MAX_WIDTH = 2**16
"""Largest layer width or channel count accepted."""
MAX_LAYERS = 64
"""Most hidden layers (or convolutions) accepted."""


def _validate_traced(c: PPOConfig) -> None:
    """Checks of the traced hyperparameters (:data:`TRACED_FIELDS`)."""
    _require_real("learning_rate", c.learning_rate, low=0.0, low_open=True)
    _require_real("gamma", c.gamma, low=0.0, high=1.0)
    _require_real("gae_lambda", c.gae_lambda, low=0.0, high=1.0)
    _require_real("clip_eps", c.clip_eps, low=0.0, low_open=True)
    _require_real("ent_coef", c.ent_coef, low=0.0)
    _require_real("vf_coef", c.vf_coef, low=0.0)
    _require_real("max_grad_norm", c.max_grad_norm, low=0.0, low_open=True)


def _validate_static(c: StaticConfig) -> None:
    """Checks of every static field."""
    if not isinstance(c.env_name, str):
        raise TypeError(f"PPOConfig.env_name must be a str, got {type(c.env_name).__name__}")
    env_name_kind(c.env_name)
    for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches"):
        _require_int(name, getattr(c, name), 1)
    _require_int("total_timesteps", c.total_timesteps, 1)
    if c.batch_size > INT32_MAX:
        raise ValueError(
            f"PPOConfig.num_envs * num_steps = {c.batch_size} must be <= {INT32_MAX} (int32)"
        )
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
    if c.gradient_steps > INT32_MAX:
        raise ValueError(
            f"PPOConfig.update_epochs={c.update_epochs} x num_minibatches={c.num_minibatches} x "
            f"{c.num_updates} updates = {c.gradient_steps} gradient steps must be <= "
            f"{INT32_MAX} (int32)"
        )
    _require_real("adam_eps", c.adam_eps, low=0.0, low_open=True)
    if c.vf_clip_eps is not None:
        _require_real("vf_clip_eps", c.vf_clip_eps, low=0.0, low_open=True)
    for name in ("anneal_lr", "normalize_advantages"):
        _require_bool(name, getattr(c, name))
    _require_choice("value_target", c.value_target, VALUE_TARGETS)
    _require_choice("activation", c.activation, ACTIVATIONS)
    _require_widths("hidden_sizes", c.hidden_sizes, MAX_WIDTH)
    if len(c.hidden_sizes) > MAX_LAYERS:
        raise ValueError(f"PPOConfig.hidden_sizes may hold at most {MAX_LAYERS} layers")
    _validate_extensions(c)
    if not isinstance(c.env_kwargs, tuple) or not all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in c.env_kwargs
    ):
        raise TypeError(
            "PPOConfig.env_kwargs must be a tuple of (name, value) pairs, got "
            f"{_clip_text(repr(c.env_kwargs))}"
        )
    try:
        hash(c.env_kwargs)
    except TypeError:
        raise TypeError(
            "PPOConfig.env_kwargs values must be hashable (numbers, strings, tuples), got "
            f"{_clip_text(repr(c.env_kwargs))}"
        ) from None


def _validate_extensions(c: StaticConfig) -> None:
    """Checks of the torso, Gaussian-policy, recurrence and normalisation fields."""
    _require_real("log_std_init", c.log_std_init, low=-20.0, high=5.0)
    _require_real("norm_clip", c.norm_clip, low=0.0, low_open=True)
    _require_int("cnn_kernel", c.cnn_kernel, 1, 256)
    _require_choice("continuous_distribution", c.continuous_distribution, CONTINUOUS_DISTRIBUTIONS)
    for name in ("normalize_observations", "normalize_rewards", "state_dependent_std"):
        _require_bool(name, getattr(c, name))
    _require_choice("torso", c.torso, TORSOS)
    _require_choice("shuffle", c.shuffle, SHUFFLES)
    _require_widths("cnn_channels", c.cnn_channels, MAX_WIDTH, TypeError)
    if len(c.cnn_channels) > MAX_LAYERS:
        raise ValueError(f"PPOConfig.cnn_channels may hold at most {MAX_LAYERS} convolutions")
    _validate_evaluation(c)
    _require_choice("recurrent", c.recurrent, (*RECURRENT_CELLS, None))
    _require_int("recurrent_size", c.recurrent_size, 1, MAX_WIDTH)
    if c.torso == "nature" and c.recurrent is not None:
        raise ValueError(
            f"PPOConfig.torso='nature' is feed-forward; recurrent={c.recurrent!r} needs "
            "torso 'auto', 'mlp' or 'cnn'"
        )
    if c.recurrent is not None and c.num_envs % c.num_minibatches:
        raise ValueError(
            f"PPOConfig.num_minibatches={c.num_minibatches} must divide num_envs={c.num_envs} "
            "with a recurrent policy (each minibatch holds whole sequences of some environments)"
        )


MAX_EVAL_EPISODES = 2**16
"""Most episodes per evaluation during training."""


def _validate_evaluation(c: StaticConfig) -> None:
    """Checks of the evaluation-during-training fields."""
    _require_int("eval_every", c.eval_every, 0)
    _require_int("eval_episodes", c.eval_episodes, 1, MAX_EVAL_EPISODES)
    _require_bool("eval_greedy", c.eval_greedy)
    _require_int("eval_max_steps", c.eval_max_steps, 0, 10**7)
    if c.stop_at_return is not None:
        _require_real("stop_at_return", c.stop_at_return, low=-3e38, high=3e38)
        if not c.eval_every:
            raise ValueError(
                "PPOConfig.stop_at_return stops a run at an evaluation: it needs eval_every >= 1"
            )
