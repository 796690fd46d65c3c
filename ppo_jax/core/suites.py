"""Adapters for other JAX environment suites, named ``suite:id`` (``brax:ant``).

Each adapter presents the gymnax >= 1.0 contract the rest of ppo_jax uses:
``reset(key, params) -> (obs, state)`` and
``step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)``,
resetting in the same step where an episode ended, with the pre-reset observation in
``info["final_observation"]``. The suites end episodes differently, and each adapter reads its
suite's own signals (see the class docstrings):

========== ===================================== ===============================================
suite      terminated                            truncated (bootstrapped from V(final obs))
========== ===================================== ===============================================
brax       the raw environment's ``done``        ``episode_length`` steps (default 1000) reached
                                                 without termination (what Brax's
                                                 ``EpisodeWrapper`` calls ``truncation``)
navix      ``step_type == TERMINATION``          ``step_type == TRUNCATION`` (``max_steps``)
jumanji    ``last()`` with discount 0            ``last()`` with discount > 0, or the
                                                 environment's ``time_limit`` reached (Snake
                                                 reports its time limit with discount 0)
craftax    the game is over for a reason other   ``max_timesteps`` reached alive
           than time (death, lava, boss beaten)
xminigrid  ``last()`` with discount 0            ``last()`` with discount 1 (``max_steps``)
envpool    ``done and not trunc`` (a lost life       ``trunc`` (``max_episode_steps``); EnvPool's
           with ``episodic_life``)               next-step reset is issued in the same step
                                                 (``ppo_jax.core.envpool``)
========== ===================================== ===============================================

The suites are optional extras (``pip install "ppo-jax[brax]"``), imported only when a name
with their prefix is built. Observations reach the network as float32 arrays; Jumanji's
structured observations keep their ``action_mask`` entry, which
:class:`ppo_jax.core.envs.ObservationMask` turns into the policy's action mask.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import math
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.config import SUITE_PREFIXES
from ppo_jax.core.envkwargs import check_params_fields
from ppo_jax.core.envpool import EnvPoolEnv
from ppo_jax.core.types import Array, PRNGKey

SUITE_MODULES = {
    "brax": "brax",
    "navix": "navix",
    "jumanji": "jumanji",
    "craftax": "craftax",
    "xminigrid": "xminigrid",
    "envpool": "envpool",
}
"""The module each suite prefix imports (and the extra of the same name that installs it)."""


class SuiteParams(NamedTuple):
    """Environment parameters of an adapted environment.

    ``max_steps_in_episode`` is the suite's time limit (what evaluation loops are bounded by);
    ``inner`` holds the suite's own parameters where it has any (Craftax, XLand-MiniGrid).
    """

    max_steps_in_episode: int
    inner: Any = None


def make_suite_env(name: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(env, env_params)`` for ``suite:id`` with the suite's constructor ``kwargs``.

    Raises ``ValueError`` (one line) when the suite is unknown, its extra is not installed,
    the id is not one of the suite's environments, or ``kwargs`` do not fit it.
    """
    prefix, _, env_id = name.partition(":")
    if prefix not in SUITE_PREFIXES:
        raise ValueError(f"PPOConfig.env_name {name!r}: unknown suite {prefix!r}")
    module = SUITE_MODULES[prefix]
    if importlib.util.find_spec(module) is None:
        raise ValueError(
            f"PPOConfig.env_name {name!r} needs the {prefix} suite, which is not installed: "
            f'pip install "ppo-jax[{prefix}]"'
        )
    adapter = _ADAPTERS[prefix]
    env = adapter(env_id, tuple(sorted(kwargs.items())))
    return env, env.default_params


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence what suites print and warn on import and construction (MuJoCo's "Failed to
    import warp", Brax's maintenance notice, deprecations of their dependencies)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _select(done: Array, a: Any, b: Any) -> Any:
    """``a`` where ``done`` else ``b``, leaf by leaf (``done`` is a scalar)."""
    return jax.tree.map(lambda x, y: jnp.where(done, x, y), a, b)


def _float_obs(obs: Any) -> Any:
    """Array observations as float32; pytrees (Jumanji's) left to ObservationMask."""
    return jnp.asarray(obs, jnp.float32) if hasattr(obs, "shape") else obs


class SuiteEnv:
    """A gymnax-style environment around another suite's environment.

    Subclasses build the suite's environment in ``_build`` and implement ``_reset(key,
    params) -> (obs, state)`` and ``_step(key, state, action, params) -> (obs, state, reward,
    terminated, truncated)`` without resetting; ``step`` adds the same-step reset and
    ``info["final_observation"]``. Two adapters are equal when they name the same
    environment with the same keyword arguments.
    """

    suite = ""
    reset_ratio = 1
    """``> 1``: batches of environments draw ``num_envs // reset_ratio`` fresh episodes per step
    instead of one per environment (``ppo_jax.core.envs.reset_pool_size``)."""

    def __init__(self, env_id: str, kwargs: tuple[tuple[str, Any], ...] = ()) -> None:
        self.env_id = env_id
        self.kwargs = kwargs
        try:
            with _quiet():
                self._build(env_id, dict(kwargs))
        except ValueError:
            raise
        except Exception as err:
            given = f" with env_kwargs {dict(kwargs)}" if kwargs else ""
            raise ValueError(
                f"PPOConfig.env_name {self.name!r}{given}: {self.suite} could not build it "
                f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''})"
            ) from None

    # ------------------------------------------------------------------ to implement
    def _build(self, env_id: str, kwargs: dict[str, Any]) -> None:
        raise NotImplementedError

    def _reset(self, key: PRNGKey, params: SuiteParams) -> tuple[Any, Any]:
        raise NotImplementedError

    def _step(self, key: PRNGKey, state: Any, action: Array, params: SuiteParams) -> tuple:
        raise NotImplementedError

    def _make(self, known: Any, factory: Any, *args: Any, **kwargs: Any) -> Any:
        """``factory(*args, **kwargs)`` once ``env_id`` is among the suite's ``known`` ids;
        ``ValueError`` listing them otherwise, or naming the kwargs that do not fit."""
        if self.env_id not in known:
            raise ValueError(
                f"PPOConfig.env_name {self.name!r}: not a {self.suite} environment; it has "
                + ", ".join(sorted(known))
            )
        try:
            return factory(*args, **kwargs)
        except TypeError as err:
            raise ValueError(f"PPOConfig.env_kwargs do not fit {self.name}: {err}") from None

    # ------------------------------------------------------------------ gymnax contract
    @property
    def name(self) -> str:
        return f"{self.suite}:{self.env_id}"

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs)
        return f"{type(self).__name__}({self.env_id!r}{extra})"

    def __hash__(self) -> int:
        return hash((type(self), self.env_id, self.kwargs))

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.env_id == self.env_id
            and other.kwargs == self.kwargs
        )

    @property
    def default_params(self) -> SuiteParams:
        return self._params

    def reset(self, key: PRNGKey, params: SuiteParams | None = None) -> tuple[Any, Any]:
        obs, state = self._reset(key, self._params if params is None else params)
        return _float_obs(obs), state

    def step_no_reset(
        self, key: PRNGKey, state: Any, action: Any, params: SuiteParams | None = None
    ) -> tuple[Any, Any, Array, Array, Array]:
        """One step without resetting: ``(obs, state, reward, terminated, truncated)``, where
        ``truncated`` excludes ``terminated``."""
        params = self._params if params is None else params
        obs, state, reward, terminated, truncated = self._step(key, state, action, params)
        terminated = jnp.asarray(terminated, bool)
        truncated = jnp.asarray(truncated, bool) & ~terminated
        return _float_obs(obs), state, jnp.asarray(reward, jnp.float32), terminated, truncated

    def step(
        self, key: PRNGKey, state: Any, action: Any, params: SuiteParams | None = None
    ) -> tuple[Any, Any, Array, Array, Array, dict[str, Any]]:
        params = self._params if params is None else params
        key_step, key_reset = jax.random.split(key)
        obs, state, reward, terminated, truncated = self.step_no_reset(
            key_step, state, action, params
        )
        done = terminated | truncated
        reset_obs, reset_state = self.reset(key_reset, params)
        info = {"final_observation": obs, "discount": 1.0 - terminated.astype(jnp.float32)}
        return (
            _select(done, reset_obs, obs),
            _select(done, reset_state, state),
            reward,
            terminated,
            truncated,
            info,
        )

    def action_space(self, params: Any = None) -> Any:
        from gymnax.environments import spaces

        if self._continuous:
            return spaces.Box(-1.0, 1.0, (self._num_actions,), jnp.float32)
        return spaces.Discrete(self._num_actions)

    def observation_space(self, params: Any = None) -> Any:
        from gymnax.environments import spaces

        obs, _ = jax.eval_shape(
            self.reset, jax.ShapeDtypeStruct((2,), jnp.uint32), params or self._params
        )
        if not hasattr(obs, "shape"):
            return jax.tree.map(lambda o: spaces.Box(-jnp.inf, jnp.inf, o.shape, o.dtype), obs)
        return spaces.Box(-jnp.inf, jnp.inf, obs.shape, jnp.float32)

    @property
    def num_actions(self) -> int:
        return self._num_actions

    # set by _build
    _params: SuiteParams
    _num_actions: int
    _continuous: bool = False


def _pop_int(kwargs: dict[str, Any], key: str, default: int, what: str) -> int:
    value = kwargs.pop(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**7:
        raise ValueError(
            f"PPOConfig.env_kwargs {key}={value!r} for {what}: need an int in [1, 1e7]"
        )
    return value


class BraxEnv(SuiteEnv):
    """A Brax environment (``brax.envs.get_environment``; keyword arguments such as
    ``backend="mjx"`` go to it). Actions are continuous in ``[-1, 1]``.

    Brax's raw environments only terminate (``state.done``: a fall, an unhealthy body); the
    time limit is ``episode_length`` (``env_kwargs``; default 1000, Brax's own), counted here:
    an episode reaching it without terminating is truncated, as ``EpisodeWrapper`` marks with
    ``info["truncation"]``. Brax's ``AutoResetWrapper`` would restart every episode from the
    same initial state and drop the final observation; this adapter draws a fresh initial
    state from the step key and keeps the final observation.
    """

    suite = "brax"

    def _build(self, env_id: str, kwargs: dict[str, Any]) -> None:
        import brax.envs

        episode_length = _pop_int(kwargs, "episode_length", 1000, self.name)
        self._env = self._make(brax.envs._envs, brax.envs.get_environment, env_id, **kwargs)
        self._num_actions = int(self._env.action_size)
        self._continuous = True
        self._params = SuiteParams(max_steps_in_episode=episode_length)

    def _reset(self, key: PRNGKey, params: SuiteParams) -> tuple[Any, Any]:
        state = self._env.reset(key)
        return state.obs, (state, jnp.int32(0))

    def _step(self, key: PRNGKey, state: Any, action: Array, params: SuiteParams) -> tuple:
        inner, t = state
        inner = self._env.step(inner, action)
        t = t + 1
        terminated = inner.done > 0.5
        truncated = t >= params.max_steps_in_episode
        return inner.obs, (inner, t), inner.reward, terminated, truncated


class NavixEnv(SuiteEnv):
    """A Navix environment (``navix.make``; keyword arguments such as ``max_steps`` go to it,
    whose default there is 100). Observations are its arrays as float32.

    Navix marks each timestep's ``step_type``: 1 is TRUNCATION (``max_steps`` reached), 2 is
    TERMINATION (the task's end; it wins when both happen). Navix itself resets one call
    late, ignoring that call's action; this adapter steps with ``_step`` and resets in the
    same call, so every action counts and the final timestep's observation is kept.
    """

    suite = "navix"

    def _build(self, env_id: str, kwargs: dict[str, Any]) -> None:
        import navix

        self._env = self._make(navix.registry(), navix.make, env_id, **kwargs)
        self._num_actions = len(self._env.action_set)
        self._params = SuiteParams(max_steps_in_episode=int(self._env.max_steps))

    def _reset(self, key: PRNGKey, params: SuiteParams) -> tuple[Any, Any]:
        timestep = self._env.reset(key)
        return timestep.observation, timestep

    def _step(self, key: PRNGKey, state: Any, action: Array, params: SuiteParams) -> tuple:
        timestep = self._env._step(state, action)
        terminated = timestep.step_type == 2
        truncated = timestep.step_type == 1
        return timestep.observation, timestep, timestep.reward, terminated, truncated


class JumanjiEnv(SuiteEnv):
    """A Jumanji environment (``jumanji.make``; keyword arguments go to its constructor).

    Action specs: ``DiscreteArray`` (one ``Discrete``) and ``MultiDiscreteArray`` (``[K]``
    components). A MultiDiscrete action becomes a ``spaces.Tuple`` of ``K`` Discretes (a
    product policy) when its ``action_mask`` is per component (``[K, max n]``, e.g.
    RobotWarehouse, LevelBasedForaging; each component gets its row, ``mask[k, :n_k]``) or
    when it has none. When the mask is joint, shaped like the product of the components
    (``[n_0, n_1, ...]``: Tetris, BinPack, Minesweeper: legality of one component depends on
    the others), no product of per-component policies can respect it, so the action becomes
    one ``Discrete`` over the product with the flattened joint mask (an illegal combination is
    never sampled) and is unravelled for Jumanji. A ``[2, n]`` mask of ``num_values`` ``(2,
    n)`` reads as joint.

    Jumanji ends an episode with ``step_type == LAST``: with discount 0 for a termination and
    discount > 0 for a truncation. Some environments (Snake) end at their ``time_limit``
    with discount 0 anyway; when the environment has a ``time_limit`` and its state a
    ``step_count``, reaching it counts as truncation here. Observations stay Jumanji's
    structured pytree; :class:`ppo_jax.core.envs.ObservationMask` flattens them for the
    network and turns their ``action_mask`` into the policy's mask.
    """

    suite = "jumanji"

    def _build(self, env_id: str, kwargs: dict[str, Any]) -> None:
        import jumanji
        from jumanji import specs

        known = jumanji.registered_environments()
        self._env = self._make(known, jumanji.make, env_id, **kwargs)
        action_spec = self._env.action_spec
        self._components: tuple[int, ...] = ()
        self._joint = False
        if isinstance(action_spec, specs.MultiDiscreteArray) and len(action_spec.shape) == 1:
            self._components = tuple(int(n) for n in np.asarray(action_spec.num_values))
            self._joint = self._mask_shape() == self._components
            self._num_actions = math.prod(self._components)
        elif isinstance(action_spec, specs.DiscreteArray):
            self._num_actions = int(action_spec.num_values)
        else:
            raise ValueError(
                f"PPOConfig.env_name {self.name!r} has action spec {type(action_spec).__name__}; "
                "ppo_jax handles Jumanji environments with DiscreteArray or 1-D "
                "MultiDiscreteArray actions"
            )
        time_limit = getattr(self._env, "time_limit", None)
        self._time_limit = int(time_limit) if isinstance(time_limit, int) else None
        self._params = SuiteParams(max_steps_in_episode=self._time_limit or 10_000)

    def _mask_shape(self) -> tuple[int, ...] | None:
        """Shape of the observations' ``action_mask`` (``None`` without one)."""
        key = jax.ShapeDtypeStruct((2,), jnp.uint32)
        obs = jax.eval_shape(lambda k: self._env.reset(k)[1].observation, key)
        mask = getattr(obs, "action_mask", None)
        return None if mask is None else tuple(int(d) for d in mask.shape)

    def action_space(self, params: Any = None) -> Any:
        from gymnax.environments import spaces

        if self._components and not self._joint:
            return spaces.Tuple([spaces.Discrete(n) for n in self._components])
        return super().action_space(params)

    def _observation(self, obs: Any) -> Any:
        """Jumanji's observation with the ``action_mask`` the action space needs: flattened
        (joint), or one row per component."""
        mask = getattr(obs, "action_mask", None)
        if not self._components or mask is None:
            return obs
        if self._joint:
            return obs._replace(action_mask=mask.reshape(-1))
        return obs._replace(action_mask=tuple(mask[k, :n] for k, n in enumerate(self._components)))

    def _jumanji_action(self, action: Any) -> Array:
        if not self._components:
            return action
        if self._joint:
            return jnp.stack(jnp.unravel_index(action, self._components)).astype(jnp.int32)
        return jnp.stack([jnp.asarray(a, jnp.int32) for a in action])

    def _reset(self, key: PRNGKey, params: SuiteParams) -> tuple[Any, Any]:
        state, timestep = self._env.reset(key)
        return self._observation(timestep.observation), state

    def _step(self, key: PRNGKey, state: Any, action: Array, params: SuiteParams) -> tuple:
        state, timestep = self._env.step(state, self._jumanji_action(action))
        last = timestep.last()
        truncated = last & (timestep.discount > 0)
        if self._time_limit is not None and hasattr(state, "step_count"):
            truncated = truncated | (last & (state.step_count >= self._time_limit))
        terminated = last & ~truncated
        return (
            self._observation(timestep.observation),
            state,
            timestep.reward,
            terminated,
            truncated,
        )


class CraftaxEnv(SuiteEnv):
    """A Craftax environment (``make_craftax_env_from_name(id, auto_reset=False)``; keyword
    arguments replace fields of its ``EnvParams``, e.g. ``max_timesteps``).

    Craftax reports only ``done`` (and ``discount`` 0 for every end). Whether the game ended
    for a reason other than time is Craftax's own ``is_terminal`` with the time limit lifted:
    that is a termination; an episode that reached ``max_timesteps`` otherwise is truncated.
    Craftax's auto-reset variant drops the final observation, so the adapter resets itself.

    A Craftax reset generates a world, which costs far more than a step; computed for every
    environment at every step (as a same-step reset under ``vmap`` must be), it makes stepping
    ~60x slower on this project's CPU. So a batch of environments draws ``num_envs //
    reset_ratio`` fresh worlds per step and hands them to the environments that ended (the
    "optimistic reset" of Craftax's own PPO baseline). ``env_kwargs`` ``reset_ratio`` (default
    16; 1 resets every environment itself) sets it; a single environment (``evaluate``) always
    resets itself.
    """

    suite = "craftax"

    def _build(self, env_id: str, kwargs: dict[str, Any]) -> None:
        from craftax.craftax_env import make_craftax_env_from_name

        try:
            self._env = make_craftax_env_from_name(env_id, auto_reset=False)
        except ValueError:
            raise ValueError(
                f"PPOConfig.env_name {self.name!r}: not a Craftax environment; Craftax has "
                "Craftax-Symbolic-v1, Craftax-Pixels-v1, Craftax-Classic-Symbolic-v1, "
                "Craftax-Classic-Pixels-v1"
            ) from None
        self.reset_ratio = _pop_int(kwargs, "reset_ratio", 16, self.name)
        inner = self._env.default_params
        unknown = sorted(set(kwargs) - set(vars(inner)))
        if unknown:
            raise ValueError(
                f"PPOConfig.env_kwargs {unknown} are not fields of {self.name}'s EnvParams; "
                "fields: " + ", ".join(vars(inner))
            )
        check_params_fields(self.name, inner, kwargs)  # traced int32 / float32 values
        inner = inner.replace(**kwargs)
        self._num_actions = int(self._env.num_actions)
        self._params = SuiteParams(max_steps_in_episode=int(inner.max_timesteps), inner=inner)

    def _reset(self, key: PRNGKey, params: SuiteParams) -> tuple[Any, Any]:
        return self._env.reset_env(key, params.inner)

    def _step(self, key: PRNGKey, state: Any, action: Array, params: SuiteParams) -> tuple:
        obs, state, reward, done, _ = self._env.step_env(key, state, action, params.inner)
        untimed = params.inner.replace(max_timesteps=jnp.iinfo(jnp.int32).max)
        terminated = done & self._env.is_terminal(state, untimed)
        return obs, state, reward, terminated, done & ~terminated


class XMinigridEnv(SuiteEnv):
    """An XLand-MiniGrid environment (``xminigrid.make``; keyword arguments replace fields of
    its ``EnvParams``, e.g. ``max_steps``).

    XLand-MiniGrid ends an episode with ``step_type == LAST``: discount 0 for a termination
    (goal reached), discount 1 for a truncation (``max_steps``). Its auto-reset wrappers
    either drop the final observation or reset one call late; this adapter resets itself.
    """

    suite = "xminigrid"

    def _build(self, env_id: str, kwargs: dict[str, Any]) -> None:
        import xminigrid

        known = xminigrid.registered_environments()
        self._env, inner = self._make(known, xminigrid.make, env_id, **kwargs)
        self._num_actions = int(self._env.num_actions(inner))
        max_steps = (
            inner.max_steps if inner.max_steps is not None else 4 * inner.width * inner.height
        )
        self._params = SuiteParams(max_steps_in_episode=int(max_steps), inner=inner)

    def _reset(self, key: PRNGKey, params: SuiteParams) -> tuple[Any, Any]:
        timestep = self._env.reset(params.inner, key)
        return timestep.observation, timestep

    def _step(self, key: PRNGKey, state: Any, action: Array, params: SuiteParams) -> tuple:
        timestep = self._env.step(params.inner, state, action)
        last = timestep.step_type == 2
        terminated = last & (timestep.discount == 0)
        truncated = last & (timestep.discount > 0)
        return timestep.observation, timestep, timestep.reward, terminated, truncated


_ADAPTERS: dict[str, type[SuiteEnv] | type[EnvPoolEnv]] = {
    "brax": BraxEnv,
    "navix": NavixEnv,
    "jumanji": JumanjiEnv,
    "craftax": CraftaxEnv,
    "xminigrid": XMinigridEnv,
    "envpool": EnvPoolEnv,
}
