"""Environments: the contract, construction from ``env_name``, checks, and the one batched step.

**The contract** is gymnax >= 1.0's, written as the :class:`Environment` protocol:
``reset(key, params) -> (obs, state)`` and ``step(key, state, action, params) -> (obs, state,
reward, terminated, truncated, info)``, which resets automatically where ``terminated |
truncated`` and keeps the pre-reset observation in ``info["final_observation"]``, plus
``action_space``, ``observation_space`` and ``default_params``. Optional extras, each its own
protocol: :class:`MaskedEnvironment` (``action_mask(state, params) -> bool[num_actions]``: the
policy gives illegal actions zero probability), :class:`ResetlessEnvironment` (a suite adapter:
``step_no_reset`` and ``reset_ratio``), :class:`BatchedEnvironment` (EnvPool: one call steps a
whole batch) and :class:`GymnaxEnvironment` (gymnax's own ``Environment.step`` over
``step_env``/``reset_env``/``is_truncated``). Adapters of other suites
(``ppo_jax.core.suites``, ``ppo_jax.core.envpool``) present the same contract.

**One abstract trace per environment.** :func:`inspect_env` traces ``reset`` and ``step``
abstractly once (nothing is compiled or run), checks the contract and records what the
programs need (observation and action specs, the bytes of a reset, the mask's shapes) as an
:class:`EnvSignature`, cached per environment object; programs read the signature instead of
tracing the environment again.

**One step with named strategies.** :func:`step_envs` steps ``N`` environments once; how is
chosen by name, once, by :func:`step_strategy` (see :data:`STEP_STRATEGIES`): plain
``vmap(env.step)``, gymnax's step with its same-step resets drawn ahead of the rollout's loop,
pooled resets for environments whose reset is expensive, or the batched call of EnvPool.

An environment whose observations are a pytree with an ``action_mask`` entry (as Jumanji's are)
is wrapped by :class:`ObservationMask`, which moves the mask to ``action_mask`` and hands the
network the other entries flattened into one vector.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.config import PPOConfig, env_name_kind
from ppo_jax.core.envkwargs import check_env_kwargs, check_params_fields
from ppo_jax.core.types import (
    ActionSpec,
    Array,
    CompositeAction,
    EnvCarry,
    EpisodeStats,
    ObsTree,
    PRNGKey,
)


# --------------------------------------------------------------------------- the contract
@runtime_checkable
class Environment(Protocol):
    """The gymnax >= 1.0 environment contract ppo_jax trains on (one environment; batches
    are ``vmap``-ped)."""

    @property
    def default_params(self) -> Any:
        """The environment parameters used when none are given."""

    def reset(self, key: PRNGKey, params: Any) -> tuple[Any, Any]:
        """``(obs, state)`` of a fresh episode."""

    def step(self, key: PRNGKey, state: Any, action: Any, params: Any) -> tuple[Any, ...]:
        """``(obs, state, reward, terminated, truncated, info)``; resets where the episode
        ended, ``info["final_observation"]`` the pre-reset observation."""

    def action_space(self, params: Any) -> Any:
        """A gymnax ``spaces.Discrete``, 1-D ``spaces.Box``, or ``spaces.Tuple``/``Dict`` of
        them."""

    def observation_space(self, params: Any) -> Any:
        """The observations' space (their shapes are read from an abstract ``reset``)."""


@runtime_checkable
class MaskedEnvironment(Environment, Protocol):
    """An environment that restricts its actions."""

    def action_mask(self, state: Any, params: Any) -> Any:
        """``bool[num_actions]`` (a pytree of them for a composite action): legal actions."""


@runtime_checkable
class GymnaxEnvironment(Environment, Protocol):
    """gymnax's base ``Environment``: ``step`` is ``step_env`` + ``is_truncated`` + a
    same-step ``reset_env`` (what the ``"gymnax_resets_ahead"`` strategy reproduces)."""

    def step_env(self, key: PRNGKey, state: Any, action: Any, params: Any) -> tuple[Any, ...]:
        """``(obs, state, reward, terminated, info)`` without resetting."""

    def reset_env(self, key: PRNGKey, params: Any) -> tuple[Any, Any]:
        """``(obs, state)`` of a fresh episode."""

    def is_truncated(self, state: Any, params: Any) -> Any:
        """Whether the time limit ends the episode in ``state``."""


@runtime_checkable
class ResetlessEnvironment(Environment, Protocol):
    """A suite adapter (``ppo_jax.core.suites``) that can step without resetting."""

    reset_ratio: int
    """``> 1``: a batch of ``N`` environments draws ``N // reset_ratio`` fresh episodes per step
    (``"pooled_resets"``) instead of one reset per environment."""

    def step_no_reset(
        self, key: PRNGKey, state: Any, action: Any, params: Any
    ) -> tuple[Any, Any, Array, Array, Array]:
        """``(obs, state, reward, terminated, truncated)`` without the same-step reset."""


@runtime_checkable
class BatchedEnvironment(Protocol):
    """An environment that steps a whole batch itself (EnvPool's pools,
    ``ppo_jax.core.envpool``); its single-environment ``reset``/``step`` serve for shapes."""

    image_observations: bool
    """Whether observations are uint8 images (the networks scale them themselves)."""

    def reset_batch(self, key: PRNGKey, num_envs: int, params: Any) -> tuple[Any, Any]:
        """``(obs [N, ...], state)`` of ``num_envs`` fresh episodes."""

    def step_batch(self, key: PRNGKey, state: Any, action: Any, params: Any) -> tuple[Any, ...]:
        """``step`` of all ``N`` environments (``[N, ...]`` outputs), same-step resets."""

    def step_batch_no_reset(
        self, key: PRNGKey, state: Any, action: Any, params: Any
    ) -> tuple[Any, Any, Array, Array, Array]:
        """``step_no_reset`` of all ``N`` environments."""


def is_batched_env(env: Any) -> bool:
    """Whether ``env`` steps a whole batch of environments itself (:class:`BatchedEnvironment`:
    EnvPool's pools): ``reset_batch``/``step_batch`` take the place of ``vmap``-ped ``reset``
    and ``step``."""
    return isinstance(env, BatchedEnvironment)


def has_action_mask(env: Any) -> bool:
    """Whether ``env`` restricts its actions (:class:`MaskedEnvironment`)."""
    return callable(getattr(env, "action_mask", None))


def env_name_of(env: Any) -> str:
    """The name an environment gives itself in messages (its ``name``, else its ``repr``)."""
    name = getattr(env, "name", None)
    return name if isinstance(name, str) else repr(env)[:200]


def make_env(config: PPOConfig) -> tuple[Any, Any]:
    """``(env, env_params)`` for ``config.env_name``: ``gymnax.make`` for a gymnax id, the suite
    adapter for ``suite:id``, or the attribute of ``module:attribute`` (a gymnax Environment,
    or a factory called with ``config.env_kwargs`` returning one or ``(env, env_params)``).

    Raises ``ValueError`` naming ``env_name`` when it cannot be resolved, and, without
    importing anything, when a ``module:attribute`` name comes from a file that is data
    (:func:`check_env_trusted`).
    """
    check_env_trusted(config)
    name, kwargs = config.env_name, dict(config.env_kwargs)
    kind = env_name_kind(name)
    try:
        if kind == "gymnax":
            env, env_params = _from_gymnax(name, kwargs)
        elif kind == "suite":
            from ppo_jax.core.suites import make_suite_env

            env, env_params = make_suite_env(name, kwargs)
        else:
            env, env_params = _from_module(name, kwargs)
        env = wrap_observation_mask(env, env_params)
        check_env(env, env_params, f"PPOConfig.env_name {name!r}")
    except (ValueError, TypeError):
        raise
    except Exception as err:  # e.g. an OverflowError tracing a parameter a kwarg set
        raise building_failed(name, kwargs, err) from None
    check_env_settings(config, env)
    return env, env_params


def building_failed(name: str, kwargs: dict[str, Any], err: BaseException) -> ValueError:
    """One line for an environment that could not be built: its name, its ``env_kwargs`` (the
    usual cause) and the first line of what failed."""
    first = str(err).splitlines()[0][:200] if str(err) else ""
    given = f" with env_kwargs {_clipped(repr(kwargs))}" if kwargs else ""
    return ValueError(
        f"PPOConfig.env_name {name!r}{given}: building the environment failed "
        f"({type(err).__name__}: {first})"
    )


def _clipped(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def check_env_settings(config: PPOConfig, env: Any) -> None:
    """``ValueError`` (one line, nothing compiled) for settings a batched environment
    (EnvPool, :func:`is_batched_env`) cannot take: observation normalisation of uint8 images
    (the networks scale pixels themselves) and evaluation inside the training program
    (``eval_every``: its pool's host calls cannot sit in the ``vmap``-ped ``cond`` that skips
    updates without an evaluation)."""
    if not is_batched_env(env):
        return
    name = config.env_name
    if config.normalize_observations and getattr(env, "image_observations", False):
        raise ValueError(
            f"PPOConfig.normalize_observations=True: {name!r} gives uint8 images, which the "
            "networks scale themselves (torso='nature' divides by 255); set it to False"
        )
    if config.eval_every:
        raise ValueError(
            f"PPOConfig.eval_every={config.eval_every}: {name!r} runs in EnvPool pools, which "
            "cannot be evaluated inside the training program; set it to 0 and evaluate after "
            "training (ppo_jax.evaluate, ppo-jax eval)"
        )


def _from_gymnax(name: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``gymnax.make(name, **constructor kwargs)``; the other ``kwargs`` set fields of its
    ``EnvParams`` (``memory_length=30`` for MemoryChain, ``max_steps_in_episode`` ...)."""
    import dataclasses

    import gymnax

    try:
        env, env_params = gymnax.make(name)
    except Exception as err:  # e.g. MNISTBandit-bsuite downloading MNIST without network
        raise ValueError(
            f"PPOConfig.env_name {name!r}: gymnax could not build it ({type(err).__name__}: "
            f"{str(err)[:200]})"
        ) from None
    if not kwargs:
        return env, env_params
    fields = {f.name for f in dataclasses.fields(env_params)}
    constructor = {k: v for k, v in kwargs.items() if k not in fields}
    if constructor:
        try:
            env, env_params = gymnax.make(name, **constructor)
        except TypeError as err:
            raise ValueError(
                f"PPOConfig.env_kwargs {kwargs} do not fit {name}: {err}; EnvParams fields "
                f"are {sorted(fields)}"
            ) from None
    settings = {k: v for k, v in kwargs.items() if k in fields}
    check_params_fields(name, env_params, settings)  # traced: int32 / float32 values
    return env, env_params.replace(**settings) if settings else env_params


def check_env_trusted(config: PPOConfig) -> None:
    """``ValueError`` (one line; nothing imported) when building ``config``'s environment
    would import a module and call an attribute named by a file that is data: a
    ``module:attribute`` ``env_name`` of a config with an :attr:`~PPOConfig.env_origin` (read
    from a run folder). gymnax ids and suite ids (``brax:ant``) name no code of the file's
    choosing and pass. The message names the module, the attribute and the keyword arguments
    that would be passed, and the two ways to allow it.

    For gymnax and suite ids, the ``env_kwargs`` are checked here too
    (:func:`~ppo_jax.core.envkwargs.check_env_kwargs`): documented kwargs by type and range,
    and, read from a folder, kwargs that steer native loading (EnvPool's ``base_path`` ...) or
    are not plain values need the same trust."""
    if env_name_kind(config.env_name) != "module":
        check_env_kwargs(config.env_name, config.env_kwargs, config.env_origin)
        return
    if config.env_origin is None:
        return
    module_name, _, attribute = config.env_name.partition(":")
    kwargs = repr(dict(config.env_kwargs))
    kwargs = kwargs if len(kwargs) <= 300 else kwargs[:300] + f"... ({len(kwargs)} characters)"
    raise ValueError(
        f"{config.env_origin} names env_name {config.env_name!r}: building it would import "
        f"module {module_name!r} and call its attribute {attribute!r} with env_kwargs "
        f"{kwargs}; a run folder is data and never runs code on its own. "
        "If you trust it, pass --trust-env-module (Python: trust_env_module=True), or give "
        "the environment object (env=, env_params=)"
    )


def trusted(config: PPOConfig, trust_env_module: bool) -> PPOConfig:
    """``config``, its environment trusted for this call when ``trust_env_module`` is True
    (its :attr:`~PPOConfig.env_origin` cleared); ``TypeError`` unless a bool."""
    if not isinstance(trust_env_module, bool):
        raise TypeError(f"trust_env_module must be a bool, got {trust_env_module!r}")
    return config.with_env_origin(None) if trust_env_module else config


def _from_module(name: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The environment named ``module:attribute`` (imported from ``sys.path``)."""
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"PPOConfig.env_name {name!r}: cannot import module {module_name!r} ({err})"
        ) from None
    if not hasattr(module, attribute):
        raise ValueError(
            f"PPOConfig.env_name {name!r}: module {module_name!r} has no attribute {attribute!r}"
        )
    target = getattr(module, attribute)
    if is_environment(target) and not isinstance(target, type):
        if kwargs:
            raise ValueError(
                f"PPOConfig.env_kwargs {kwargs} given, but {name!r} is an environment object, "
                "not a factory that could take them"
            )
        return target, target.default_params
    if not callable(target):
        raise ValueError(
            f"PPOConfig.env_name {name!r} is a {type(target).__name__}, not a gymnax "
            "Environment or a factory returning one"
        )
    try:
        made = target(**kwargs)
    except Exception as err:
        raise ValueError(f"PPOConfig.env_name {name!r}: the factory failed: {err!r}") from None
    if isinstance(made, tuple) and len(made) == 2 and is_environment(made[0]):
        return made
    if is_environment(made):
        return made, made.default_params
    raise ValueError(
        f"PPOConfig.env_name {name!r}: the factory returned {type(made).__name__}; it must "
        "return a gymnax Environment or (env, env_params)"
    )


def is_environment(obj: Any) -> bool:
    """Whether ``obj`` has the gymnax Environment methods ppo_jax uses."""
    return all(
        hasattr(obj, attr)
        for attr in ("reset", "step", "action_space", "observation_space", "default_params")
    )


class EnvSignature(NamedTuple):
    """What one abstract trace of an environment tells (:func:`inspect_env`): hashable, so it
    is part of a compiled program's cache key."""

    obs: tuple[int, ...] | ObsTree
    """One observation's shape, or the :class:`ObsTree` of pytree observations."""
    action: ActionSpec | CompositeAction
    mask: Any
    """The treedef and ``(shape, dtype)`` leaves of one environment's action mask
    (:class:`MaskedEnvironment`), or ``None``."""
    reset_bytes: int
    """Bytes of one environment's ``reset`` output ``(obs, state)``."""


def _abstract_leaves(tree: Any) -> Any:
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple((tuple(x.shape), jnp.dtype(x.dtype).name) for x in leaves)


def _params_key(env_params: Any) -> Any:
    """A hashable description of ``env_params``' structure and leaf shapes (what an abstract
    trace depends on)."""
    leaves, treedef = jax.tree.flatten(env_params)
    shapes = tuple((tuple(np.shape(x)), str(getattr(x, "dtype", type(x).__name__))) for x in leaves)
    return treedef, shapes


def inspect_env(env: Any, env_params: Any, what: str = "env") -> EnvSignature:
    """Check that ``env`` fulfils the :class:`Environment` contract and describe it, from ONE
    abstract trace of ``reset`` and ``step`` (cached per environment and parameter shapes;
    nothing is compiled or run): the gymnax methods, a supported action space, array (or
    pytree) observations, a six-value step with ``info["final_observation"]``.

    Raises ``TypeError``/``ValueError`` naming ``what``."""
    for attr in ("reset", "step", "action_space", "observation_space"):
        if not hasattr(env, attr):
            raise TypeError(f"{what} must be a gymnax Environment (missing .{attr}), got {env!r}")
    try:
        key = (env, _params_key(env_params))
        hash(key)
    except TypeError:
        return _inspect(env, env_params, what)
    return _inspect_cached(key, env, env_params, what)


_INSPECTED: dict[Any, EnvSignature] = {}
"""Signatures of the environments inspected so far (an environment is traced once)."""


def _inspect_cached(key: Any, env: Any, env_params: Any, what: str) -> EnvSignature:
    found = _INSPECTED.get(key)
    if found is None:
        found = _inspect(env, env_params, what)
        if len(_INSPECTED) >= 256:
            _INSPECTED.clear()
        _INSPECTED[key] = found
    return found


def _inspect(env: Any, env_params: Any, what: str) -> EnvSignature:
    action = action_spec(env, env_params)
    batched = is_batched_env(env)
    masked = has_action_mask(env)

    def one(k: Array) -> Any:
        obs, state = env.reset(k, env_params)
        stepped = env.step(
            k, state, to_env_action(env, env_params, zero_action(action)), env_params
        )
        mask = env.action_mask(state, env_params) if masked and not batched else None
        return (obs, state), stepped, mask

    # A batched environment (EnvPool) steps its whole batch itself: traced on one environment.
    try:
        reset, out, mask = jax.eval_shape(
            one if batched else jax.vmap(one),
            jax.ShapeDtypeStruct((2,) if batched else (2, 2), jnp.uint32),
        )
    except Exception as err:
        raise ValueError(
            f"{what}: a step of the environment fails ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200] if str(err) else ''})"
        ) from None
    if not isinstance(out, tuple) or len(out) != 6:
        raise ValueError(
            f"{what}: step returns {len(out) if isinstance(out, tuple) else type(out).__name__} "
            "values; ppo_jax needs gymnax >= 1.0's (obs, state, reward, terminated, truncated, "
            "info) with info['final_observation']"
        )
    if "final_observation" not in out[5]:
        raise ValueError(f"{what}: step's info lacks 'final_observation' (gymnax >= 1.0 sets it)")
    one_env = (
        reset
        if batched
        else jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), reset)
    )
    if batched and masked:
        mask = jax.eval_shape(lambda s: env.action_mask(s, env_params), one_env[1])
    elif mask is not None:
        mask = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), mask)
    reset_bytes = sum(x.size * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(one_env))
    return EnvSignature(
        obs=obs_spec(one_env[0], env_name_of(env)),
        action=action,
        mask=None if mask is None else _abstract_leaves(mask),
        reset_bytes=int(reset_bytes),
    )


def check_env(env: Any, env_params: Any, what: str = "env") -> None:
    """``TypeError``/``ValueError`` unless ``env`` is a usable environment
    (:func:`inspect_env`: the gymnax methods, a supported action space, array observations,
    and a step that traces abstractly: nothing is compiled or run)."""
    inspect_env(env, env_params, what)


def action_spec(env: Any, env_params: Any) -> ActionSpec | CompositeAction:
    """:class:`ActionSpec` of a gymnax environment's action space, or a
    :class:`CompositeAction` of a ``spaces.Tuple``/``spaces.Dict`` of them (nested).

    Raises ``TypeError`` if the object is not a gymnax environment, ``ValueError`` if a leaf
    of its action space is neither ``Discrete`` nor a 1-D ``Box``.
    """
    for attr in ("reset", "step", "action_space", "observation_space"):
        if not hasattr(env, attr):
            raise TypeError(f"env must be a gymnax Environment (missing .{attr}), got {env!r}")
    space = env.action_space(env_params)
    name = env_name_of(env)
    tree = _space_tree(space, name, "action_space")
    if isinstance(tree, ActionSpec):
        return tree
    leaves, treedef = jax.tree.flatten(tree, is_leaf=_is_action_spec)
    if not leaves:
        raise ValueError(f"env {name!r} has an empty composite action space {space!r}")
    return CompositeAction(treedef=treedef, leaves=tuple(leaves))


def _is_action_spec(x: Any) -> bool:
    return isinstance(x, ActionSpec)


MAX_ACTION_DEPTH = 16
"""Deepest nesting of ``spaces.Tuple``/``spaces.Dict`` action spaces."""


def _space_tree(space: Any, name: Any, where: str, depth: int = 0) -> Any:
    """The action space as a pytree (tuples and dicts) of :class:`ActionSpec` leaves."""
    from gymnax.environments import spaces

    if depth > MAX_ACTION_DEPTH:
        raise ValueError(f"env {name!r}: {where} nests deeper than {MAX_ACTION_DEPTH} levels")
    if isinstance(space, spaces.Discrete):
        return ActionSpec(continuous=False, size=int(space.n))
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        size = int(space.shape[0])
        low = np.broadcast_to(np.asarray(space.low, np.float64), (size,))
        high = np.broadcast_to(np.asarray(space.high, np.float64), (size,))
        if np.isnan(low).any() or np.isnan(high).any():
            raise ValueError(
                f"env {name!r}: {where} has a Box with NaN bounds (low={_shown(low)}, "
                f"high={_shown(high)}); bounds are numbers (or -inf/inf for no bound)"
            )
        if np.any(low > high):
            raise ValueError(
                f"env {name!r}: {where} has a Box with low > high (low={_shown(low)}, "
                f"high={_shown(high)})"
            )
        return ActionSpec(True, size, tuple(map(float, low)), tuple(map(float, high)))
    if isinstance(space, spaces.Tuple):
        return tuple(
            _space_tree(s, name, f"{where}[{i}]", depth + 1) for i, s in enumerate(space.spaces)
        )
    if isinstance(space, spaces.Dict):
        if not all(isinstance(k, str) for k in space.spaces):
            raise ValueError(f"env {name!r}: {where} is a Dict space with non-string keys")
        return {
            k: _space_tree(s, name, f"{where}[{k!r}]", depth + 1) for k, s in space.spaces.items()
        }
    raise ValueError(
        f"env {name!r} has {where} {space!r}; ppo_jax handles gymnax spaces.Discrete, 1-D "
        "spaces.Box, and spaces.Tuple / spaces.Dict of these"
    )


def _shown(values: np.ndarray, limit: int = 8) -> str:
    """Up to ``limit`` bounds as a short list (``[nan, 1.0, ... (32 values)]``)."""
    shown = ", ".join(str(float(v)) for v in values[:limit])
    return f"[{shown}{f', ... ({values.size} values)' if values.size > limit else ''}]"


def action_paths(action: ActionSpec | CompositeAction) -> tuple[str, ...]:
    """Where each leaf of an action space sits, as :func:`action_spec` names it in errors:
    ``("action_space",)`` for one ``Discrete``/``Box``; ``"action_space[0]['amount']"`` ...
    (``jax.tree`` order, the order of ``CompositeAction.leaves``) for a composite one."""
    if not isinstance(action, CompositeAction):
        return ("action_space",)
    tree = action.treedef.unflatten(range(len(action.leaves)))
    paths, _ = zip(*jax.tree_util.tree_flatten_with_path(tree)[0], strict=True)
    return tuple("action_space" + jax.tree_util.keystr(path) for path in paths)


BOUNDED_DISTRIBUTIONS = ("tanh_gaussian", "beta")
"""Continuous policies that map onto ``[low, high]`` (need finite bounds, ``low < high``)."""


def check_action_bounds(action: ActionSpec | CompositeAction, distribution: str) -> None:
    """``ValueError`` naming the space's path and its bounds when a ``Box`` cannot take the
    continuous policy ``distribution``: the bounded ones (``"tanh_gaussian"``, ``"beta"``)
    scale onto ``[low, high]`` and need both finite with ``low < high`` (an infinite or empty
    range gives infinite or NaN log-probabilities); the Gaussian clips to the bounds, so
    infinite bounds are fine there. (NaN bounds are refused for every policy by
    :func:`action_spec`.)"""
    if distribution not in BOUNDED_DISTRIBUTIONS:
        return
    leaves = action.leaves if isinstance(action, CompositeAction) else (action,)
    for path, leaf in zip(action_paths(action), leaves, strict=True):
        if not leaf.continuous:
            continue
        low, high = np.asarray(leaf.low, np.float64), np.asarray(leaf.high, np.float64)
        if not (np.isfinite(low).all() and np.isfinite(high).all() and (low < high).all()):
            raise ValueError(
                f"PPOConfig.continuous_distribution={distribution!r} needs finite Box bounds "
                f"with low < high; {path} has low={_shown(low)}, high={_shown(high)} (use "
                "'gaussian', which clips to the bounds)"
            )


def env_spec(env: Any, env_params: Any) -> tuple[Any, ActionSpec | CompositeAction]:
    """``(obs_shape, action)`` of an environment (see :func:`action_spec`, which also raises
    here). ``obs_shape`` is the shape tuple of array observations, or an :class:`ObsTree` of
    pytree observations (``spaces.Dict``/``spaces.Tuple``); it is read from the abstract
    ``reset`` of :func:`inspect_env`, so it is what the environment really returns."""
    signature = inspect_env(env, env_params)
    return signature.obs, signature.action


def obs_spec(obs: Any, name: Any = "env") -> tuple[int, ...] | ObsTree:
    """The shape tuple of an array observation (or its abstract value), or the
    :class:`ObsTree` of a pytree observation. ``ValueError`` for an empty pytree or a leaf that
    is not an array."""
    if hasattr(obs, "shape"):
        return tuple(int(d) for d in obs.shape)
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(obs)
    if not path_leaves:
        raise ValueError(f"env {name!r} returns empty pytree observations ({treedef})")
    paths, shapes = [], []
    for path, leaf in path_leaves:
        if not hasattr(leaf, "shape"):
            raise ValueError(f"env {name!r}: observation leaf {leaf!r} is not an array")
        paths.append(path_name(path))
        shapes.append(tuple(int(d) for d in leaf.shape))
    return ObsTree(treedef=treedef, shapes=tuple(shapes), paths=tuple(paths))


def path_name(path: Any) -> str:
    """A key path of ``jax.tree_util.tree_flatten_with_path`` as ``"a/b/0"``."""
    parts = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
        else:
            parts.append(str(entry))
    return "/".join(parts)


def action_masks(env: Any, env_params: Any, env_state: Any) -> Array | None:
    """``[N, A]`` legal-action masks of a batch of states (for a composite action, the
    pytree of ``[N, n]`` masks of its discrete leaves), or ``None`` without masks."""
    if not has_action_mask(env):
        return None
    masks = jax.vmap(env.action_mask, in_axes=(0, None))(env_state, env_params)
    return jax.tree.map(lambda m: jnp.asarray(m, bool), masks)


class ObservationMask:
    """Wraps an environment whose observations are a pytree with an ``action_mask`` entry: the
    mask becomes the ``action_mask(state, params)`` method and the other entries are flattened
    and concatenated (float32) into the observation. The wrapped state carries the mask."""

    NOT_WRAPPED = ("step_no_reset", "reset_ratio", "step_env", "reset_env", "is_truncated")
    """Methods of the inner environment this wrapper does not present (they would hand out the
    unwrapped observations)."""

    def __init__(self, env: Any) -> None:
        self._env = env

    def __getattr__(self, name: str) -> Any:
        if name in ObservationMask.NOT_WRAPPED:
            raise AttributeError(name)
        return getattr(self._env, name)

    def __hash__(self) -> int:
        return hash((ObservationMask, self._env))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObservationMask) and other._env == self._env

    @staticmethod
    def split(obs: Any) -> tuple[Array, Array]:
        """``(flat observation [D], mask [A])`` of one pytree observation."""
        items = obs._asdict() if hasattr(obs, "_asdict") else dict(obs)
        mask = jax.tree.map(lambda m: jnp.asarray(m, bool), items.pop("action_mask"))
        parts = [
            jnp.ravel(jnp.asarray(leaf, jnp.float32))
            for _, v in sorted(items.items())
            for leaf in jax.tree.leaves(v)  # an entry may be a pytree (BinPack's ems)
        ]
        return jnp.concatenate(parts) if parts else jnp.zeros((0,), jnp.float32), mask

    def reset(self, key: PRNGKey, params: Any = None) -> tuple[Array, Any]:
        obs, state = self._env.reset(key, params)
        flat, mask = self.split(obs)
        return flat, (state, mask)

    def step(self, key: PRNGKey, state: Any, action: Any, params: Any = None) -> Any:
        inner, _ = state
        obs, inner, reward, terminated, truncated, info = self._env.step(key, inner, action, params)
        flat, mask = self.split(obs)
        info = dict(info)
        if "final_observation" in info:
            info["final_observation"] = self.split(info["final_observation"])[0]
        return flat, (inner, mask), reward, terminated, truncated, info

    def action_mask(self, state: Any, params: Any = None) -> Array:
        return state[1]

    def observation_space(self, params: Any) -> Any:
        from gymnax.environments import spaces

        obs, _ = jax.eval_shape(self.reset, jax.ShapeDtypeStruct((2,), jnp.uint32), params)
        return spaces.Box(-jnp.inf, jnp.inf, obs.shape, jnp.float32)


def wrap_observation_mask(env: Any, env_params: Any) -> Any:
    """``env`` wrapped in :class:`ObservationMask` when its observations are a pytree with an
    ``action_mask`` entry; otherwise ``env`` itself."""
    if isinstance(env, ObservationMask) or not hasattr(env, "reset"):
        return env
    try:
        obs, _ = jax.eval_shape(env.reset, jax.ShapeDtypeStruct((2,), jnp.uint32), env_params)
    except Exception:
        return env  # check_env reports what is wrong
    if hasattr(obs, "shape"):
        return env
    entries = obs._asdict() if hasattr(obs, "_asdict") else obs
    if isinstance(entries, dict) and "action_mask" in entries:
        return ObservationMask(env)
    return env


def to_env_action(env: Any, env_params: Any, action: Any) -> Any:
    """The action handed to ``env.step``: continuous actions clipped to the ``Box`` bounds
    (``[..., A]``); discrete actions unchanged; a composite action (the pytree of the
    ``spaces.Tuple``/``spaces.Dict``) leaf by leaf."""
    return _clip_to_space(env.action_space(env_params), action)


def _clip_to_space(space: Any, action: Any) -> Any:
    from gymnax.environments import spaces

    if isinstance(space, spaces.Box):
        return jnp.clip(action, space.low, space.high).astype(space.dtype)
    if isinstance(space, spaces.Tuple):
        return tuple(_clip_to_space(s, a) for s, a in zip(space.spaces, action, strict=True))
    if isinstance(space, spaces.Dict):
        return {k: _clip_to_space(s, action[k]) for k, s in space.spaces.items()}
    return action


def zero_action(action: ActionSpec | CompositeAction) -> Any:
    """One action of zeros (float ``[A]`` or int32 scalar per leaf), as the environment takes
    it: the pytree of a composite action."""

    def leaf(spec: ActionSpec) -> Array:
        return jnp.zeros((spec.size,), jnp.float32) if spec.continuous else jnp.int32(0)

    if isinstance(action, CompositeAction):
        return action.treedef.unflatten([leaf(s) for s in action.leaves])
    return leaf(action)


def reset_envs(env: Any, env_params: Any, key: PRNGKey, num_envs: int) -> EnvCarry:
    """Reset ``num_envs`` independent environments; returns the rollout carry (leading ``[N]``)."""
    if is_batched_env(env):
        obs, env_state = env.reset_batch(key, num_envs, env_params)
    else:
        keys = jax.random.split(key, num_envs)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
    zeros = jnp.zeros((num_envs,), jnp.float32)
    stats = EpisodeStats(episode_return=zeros, episode_length=jnp.zeros((num_envs,), jnp.int32))
    return EnvCarry(env_state=env_state, obs=obs, stats=stats, first=jnp.ones((num_envs,), bool))


class EnvDraws(NamedTuple):
    """The random numbers :func:`step_envs` uses for one step of ``n`` environments, which
    :func:`draw_env` computes from the step's key (``n`` may be a device's block of a run's
    environments). A rollout can draw every step's ahead of its loop (``[T, ...]`` stacked):
    the values are the same, and XLA:CPU runs one batched draw much faster than ``T`` small
    ones (each a loop of its own there)."""

    key: PRNGKey | None
    """The step's key ``[2]`` (pooled resets, :func:`reset_pool_size`, split it themselves);
    ``None`` for a block of a run's environments, which step without pooled resets."""
    env_keys: Array | None
    """``[n, 2]``: ``env.step``'s key per environment, or, with ``reset``, ``step_env``'s
    (``None`` for pooled resets, which split the step's key themselves)."""
    reset: Any = None
    """For a gymnax environment stepped by gymnax's own ``Environment.step``: the
    ``(obs, env_state)`` ``[n, ...]`` its same-step reset computes, else ``None``."""


def gymnax_base_step(env: Any) -> bool:
    """Whether ``env`` steps with gymnax's own ``Environment.step`` (split the key, ``step_env``,
    ``is_truncated``, ``reset_env``, select): :func:`draw_env` can then compute the resets
    ahead, and :func:`step_envs` does the rest exactly as that method does."""
    try:
        from gymnax.environments.environment import Environment as GymnaxBase
    except ImportError:  # pragma: no cover - gymnax is a dependency
        return False
    return isinstance(env, GymnaxBase) and type(env).step is GymnaxBase.step


STEP_STRATEGIES = ("vmap", "gymnax_resets_ahead", "pooled_resets", "batched")
"""How :func:`step_envs` steps a batch of environments, chosen once by :func:`step_strategy`:

* ``"vmap"``: ``vmap(env.step)`` with one key per environment;
* ``"gymnax_resets_ahead"``: gymnax's own ``Environment.step`` (``step_env``,
  ``is_truncated``, select) with the same-step resets computed ahead from the same keys
  (:func:`draw_env` with ``with_reset``): the values of ``vmap(env.step)``, and XLA:CPU runs
  the batched resets of a whole rollout much faster than one per step;
* ``"pooled_resets"``: environments whose reset is expensive
  (:class:`ResetlessEnvironment` with ``reset_ratio > 1``: Craftax) step without resetting and
  share ``N // reset_ratio`` fresh episodes per step (:func:`reset_pool_size`);
* ``"batched"``: one call of a :class:`BatchedEnvironment` (EnvPool) for all ``N``."""


def step_strategy(env: Any, num_envs: int, draws: EnvDraws | None = None) -> str:
    """The name (:data:`STEP_STRATEGIES`) of how :func:`step_envs` steps ``num_envs``
    environments with ``draws`` (``None``: drawn in the step, with the resets a gymnax
    environment's step computes). A device's block of a run's environments (``draws.key``
    ``None``) has no pooled resets."""
    if is_batched_env(env):
        return "batched"
    own_key = draws is None or draws.key is not None
    if reset_pool_size(env, num_envs) and own_key:
        return "pooled_resets"
    with_reset = draws.reset is not None if draws is not None else gymnax_base_step(env)
    return "gymnax_resets_ahead" if with_reset else "vmap"


def draw_env(
    env: Any,
    env_params: Any,
    key: PRNGKey,
    num_envs: int,
    select: Callable[[Array], Array] | None = None,
    with_reset: bool = True,
) -> EnvDraws:
    """:class:`EnvDraws` for one step of ``num_envs`` environments from the step's ``key``:
    ``jax.random.split(key, num_envs)`` (then ``select`` of it: a device's block of rows); for
    a :func:`gymnax_base_step` environment (and ``with_reset``), each key split as gymnax's
    ``step`` splits it and the reset that step computes. ``step_envs(env, params, key, ...)``
    and ``step_envs(env, params, key, ..., draws=draw_env(env, params, key, ...))`` give the
    same results."""
    keys = jax.random.split(key, num_envs)
    own_key: PRNGKey | None = key
    if select is not None:
        keys, own_key = select(keys), None
    if not (with_reset and gymnax_base_step(env)) or is_batched_env(env):
        return EnvDraws(key=own_key, env_keys=keys)
    pairs = jax.vmap(jax.random.split)(keys)  # gymnax: key_step, key_reset = split(key)
    reset = jax.vmap(env.reset_env, in_axes=(0, None))(pairs[:, 1], env_params)
    return EnvDraws(key=own_key, env_keys=pairs[:, 0], reset=reset)


def _gymnax_step(
    env: Any, env_params: Any, key_step: PRNGKey, reset: Any, state: Any, action: Array
) -> tuple[Any, ...]:
    """gymnax's ``Environment.step`` for one environment, its reset given (computed ahead)."""
    obs_st, state_st, reward, terminated, info = env.step_env(key_step, state, action, env_params)
    truncated = env.is_truncated(state_st, env_params)
    done = jnp.logical_or(terminated, truncated)
    obs_re, state_re = reset
    state = jax.tree.map(lambda x, y: jax.lax.select(done, x, y), state_re, state_st)
    obs = jax.tree.map(lambda x, y: jax.lax.select(done, x, y), obs_re, obs_st)
    info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs_st}
    return obs, state, reward, terminated, truncated, info


def _step_vmap(env: Any, env_params: Any, state: Any, action: Any, draws: EnvDraws) -> Any:
    return jax.vmap(env.step, in_axes=(0, 0, 0, None))(draws.env_keys, state, action, env_params)


def _step_gymnax_resets_ahead(
    env: Any, env_params: Any, state: Any, action: Any, draws: EnvDraws
) -> Any:
    return jax.vmap(lambda k, r, s, a: _gymnax_step(env, env_params, k, r, s, a))(
        draws.env_keys, draws.reset, state, action
    )


def _step_batched(env: Any, env_params: Any, state: Any, action: Any, draws: EnvDraws) -> Any:
    return env.step_batch(draws.key, state, action, env_params)


def _step_pooled_resets(env: Any, env_params: Any, state: Any, action: Any, draws: EnvDraws) -> Any:
    num_envs = jax.tree.leaves(action)[0].shape[0]
    if draws.key is None:
        raise ValueError("pooled resets need the step's key (a device block has none)")
    return _step_pooled(env, env_params, draws.key, state, action, reset_pool_size(env, num_envs))


_STEPPERS: dict[str, Callable[..., Any]] = {
    "vmap": _step_vmap,
    "gymnax_resets_ahead": _step_gymnax_resets_ahead,
    "pooled_resets": _step_pooled_resets,
    "batched": _step_batched,
}


def step_envs(
    env: Any,
    env_params: Any,
    key: PRNGKey | None,
    carry: EnvCarry,
    action: Array,
    draws: EnvDraws | None = None,
) -> tuple[EnvCarry, dict[str, Array]]:
    """Step every environment once with ``action [N]`` (or ``[N, A]``, already within bounds),
    the way :func:`step_strategy` names.

    ``draws``: the step's random numbers computed ahead (``draw_env(env, env_params, key,
    N)``, or a device's block of them); ``key`` is then unused. Without, they are drawn here.

    Returns the new carry (its ``policy_state`` unchanged) and a dict of ``[N]`` arrays:
    ``reward``, ``terminated``, ``truncated``, ``final_obs`` ``[N, *obs_shape]``,
    ``completed_return`` and ``completed_length`` (the return and length of the episode that
    ended at this step, 0 where none ended).
    """
    num_envs = carry.first.shape[0]
    strategy = step_strategy(env, num_envs, draws)
    if draws is None:
        if key is None:
            raise ValueError("step_envs needs a key, or the step's draws (draw_env)")
        if strategy == "pooled_resets":  # it splits the step's key itself
            draws = EnvDraws(key=key, env_keys=None)
        else:
            draws = draw_env(env, env_params, key, num_envs, with_reset=strategy != "vmap")
    stepped = _STEPPERS[strategy](env, env_params, carry.env_state, action, draws)
    obs, env_state, reward, terminated, truncated, info = stepped
    reward = jnp.asarray(reward, jnp.float32).reshape(num_envs)
    terminated = jnp.asarray(terminated, bool).reshape(num_envs)
    truncated = jnp.asarray(truncated, bool).reshape(num_envs) & ~terminated
    done = terminated | truncated
    ep_return = carry.stats.episode_return + reward
    ep_length = carry.stats.episode_length + 1
    out = {
        "reward": reward,
        "terminated": terminated,
        "truncated": truncated,
        "final_obs": info["final_observation"],
        "completed_return": jnp.where(done, ep_return, 0.0),
        "completed_length": jnp.where(done, ep_length, 0),
    }
    stats = EpisodeStats(
        episode_return=jnp.where(done, 0.0, ep_return),
        episode_length=jnp.where(done, 0, ep_length),
    )
    new_carry = EnvCarry(
        env_state=env_state, obs=obs, stats=stats, first=done, policy_state=carry.policy_state
    )
    return new_carry, out


def step_no_reset(env: Any) -> Callable[..., tuple[Any, ...]]:
    """``fn(keys [N], state, action [N], params) -> (obs, state, reward, terminated,
    truncated)`` stepping ``N`` environments without the same-step reset (evaluation plays each
    episode to its first end): a batched environment's ``step_batch_no_reset`` (``keys`` is
    then one key), a :class:`ResetlessEnvironment`'s ``step_no_reset``, else ``env.step``
    with its reset ignored."""
    if is_batched_env(env):
        return env.step_batch_no_reset
    if isinstance(env, ResetlessEnvironment):
        return jax.vmap(env.step_no_reset, in_axes=(0, 0, 0, None))

    def step(*args: Any) -> tuple[Any, ...]:
        return tuple(env.step(*args)[:5])

    return jax.vmap(step, in_axes=(0, 0, 0, None))


def reset_pool_size(env: Any, num_envs: int) -> int:
    """How many fresh episodes :func:`step_envs` draws per step for a batch of ``num_envs``
    environments whose reset is expensive (0: each environment resets itself, in ``step``).

    A :class:`ResetlessEnvironment` with ``reset_ratio > 1`` (Craftax, whose reset generates a
    world) is stepped without its reset, and ``max(1, num_envs // reset_ratio)`` resets are
    drawn per step for the environments whose episode ended (see :func:`_step_pooled`)."""
    ratio = env.reset_ratio if isinstance(env, ResetlessEnvironment) else 1
    if ratio <= 1 or num_envs <= 1:
        return 0
    return max(1, num_envs // ratio)


def _step_pooled(
    env: Any, env_params: Any, key: PRNGKey, env_state: Any, action: Array, pool: int
) -> tuple[Any, ...]:
    """``vmap(env.step)`` with ``pool`` resets per step shared by the environments that ended:
    the ``j``-th ending environment (in index order) takes fresh episode ``j % pool``, so up to
    ``pool`` endings per step start distinct episodes (more share one start; a fresh key every
    step keeps the starts independent across steps). The final observation is kept as in
    ``step``."""
    num_envs = jax.tree.leaves(action)[0].shape[0]
    step_key, reset_key = jax.random.split(key)
    keys = jax.random.split(step_key, num_envs)
    final_obs, state, reward, terminated, truncated = jax.vmap(
        env.step_no_reset, in_axes=(0, 0, 0, None)
    )(keys, env_state, action, env_params)
    done = jnp.asarray(terminated, bool) | jnp.asarray(truncated, bool)
    fresh_obs, fresh_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, pool), env_params
    )
    slot = (jnp.cumsum(done) - 1) % pool

    def pick(fresh: Array, current: Array) -> Array:
        chosen = fresh[slot]
        where = done.reshape((num_envs,) + (1,) * (current.ndim - 1))
        return jnp.where(where, chosen, current)

    obs = jax.tree.map(pick, fresh_obs, final_obs)
    state = jax.tree.map(pick, fresh_state, state)
    info = {"final_observation": final_obs}
    return obs, state, reward, terminated, truncated, info


def obs_size(obs_shape: tuple[int, ...] | ObsTree) -> int:
    """Number of floats in one observation (all leaves of a pytree observation)."""
    if isinstance(obs_shape, ObsTree):
        return sum(math.prod(shape) for shape in obs_shape.shapes) or 1
    return math.prod(obs_shape) if obs_shape else 1
