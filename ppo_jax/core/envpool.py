"""EnvPool (C++, thread-pooled: Atari, MuJoCo, classic control ...) as ``envpool:<task id>``.

EnvPool steps a whole *pool* of environments per call, from C++ threads, through an XLA
custom call (``pool.xla()``) that runs inside ``jax.jit``. :class:`EnvPoolEnv` presents it to
ppo_jax as a *batched* environment (``batched_env = True``): ``reset_batch`` and
``step_batch`` take and return ``[N, ...]`` arrays for all ``N`` environments at once, and
``ppo_jax.core.envs`` calls them where it would ``vmap`` a gymnax environment's ``reset`` and
``step``. The whole rollout and update stay one compiled program.

Episode ends (the contract of ``ppo_jax.core.envs``: same-step reset, pre-reset observation
for bootstrapping):

- ``terminated`` is EnvPool's ``done and not trunc``; ``truncated`` is its ``trunc`` (the
  time limit ``max_episode_steps``), bootstrapped from V(final observation). With Atari's
  ``episodic_life=True`` a lost life is a termination, as in EnvPool and CleanRL.
- EnvPool resets one call *late*: the call after an episode ended ignores that
  environment's action and returns the reset observation (reward 0, ``elapsed_step`` 0).
  ``step_batch`` issues that call at once, for the ended environments only, inside the same
  step (a host callback running EnvPool's own ``step`` on those ``env_id``; skipped when no
  episode ended): the step returns the reset observation as the next observation and the
  episode's last observation as ``info["final_observation"]``. Every action the policy takes
  reaches a running episode; no transition is lost or invented (tested against EnvPool's own
  Python API in random rollouts, ``tests/unit/test_envpool.py``).

Runs and seeds: a pool is a stateful C++ object, so ``vmap`` over runs (``train_seeds``,
seed-batched evaluation) cannot copy it. Instead the run axis becomes part of the pool's
batch: ``R`` runs of ``N`` environments step ONE pool of ``R * N`` environments (a
``jax.custom_batching.custom_vmap`` rule; run ``r`` owns ``env_id`` ``r*N .. r*N+N-1``). Each
environment of the pool has its own random stream (EnvPool seeds environment ``i`` with
``seed + i``; ``env_kwargs`` ``seed``, default 0), so the runs' episodes are independent, but
the run's ``key`` does not reach them: a run alone and the same run among others see
different episodes, and a second call in the same process continues the pool's streams.
Pools are built on first use for each batch size and kept for the life of the adapter.

Observations: images (``[C, H, W]`` uint8, Atari) are transposed to ``[H, W, C]`` and stay
uint8 (the networks cast; the ``"nature"`` torso divides by 255); other observations become
float32. Pools whose arrays are 64-bit (MuJoCo's float64) cannot use the XLA interface
unless jax runs with x64 (its buffers would be half the size EnvPool writes), so they are
stepped by a host callback into EnvPool's Python ``step``: the same contract, still inside
the compiled program, at the cost of one callback per step.

What cannot be: EnvPool's internal state (emulator RAM, MuJoCo bodies) is not part of the
carry, so a checkpoint cannot hold it. A resumed run starts every environment on a fresh
episode (``restart_episodes``); a pool's streams are not reproducible from the run's key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from ppo_jax.core.types import Array, PRNGKey

TOKEN_SHAPE = (8,)
"""Shape of the ordering token threaded through EnvPool's XLA calls (its "handle" argument;
EnvPool reads the pool's address from an attribute, so the token's bytes are never used)."""

KNOWN_KWARGS_NOTE = "see envpool.make's documentation of the task"

DEFAULT_SEED = 0
"""EnvPool ``seed`` of a pool when ``env_kwargs`` give none (environment ``i`` gets
``seed + i``)."""


class EnvPoolParams(NamedTuple):
    """Environment parameters of an EnvPool task: its time limit (what evaluation loops are
    bounded by). EnvPool's own settings are ``env_kwargs``, fixed when a pool is built."""

    max_steps_in_episode: int


class EnvPoolState(NamedTuple):
    """The carry of a batch of EnvPool environments: only the ordering token ``[8]`` uint8
    (the environments' state lives in the C++ pool)."""

    token: Array


class _Pool:
    """One C++ pool of ``size`` environments with its XLA step (when usable) and host calls."""

    def __init__(self, envpool: Any, task_id: str, kwargs: dict[str, Any], size: int) -> None:
        self.size = size
        self.pool = envpool.make(task_id, env_type="gymnasium", num_envs=size, **kwargs)
        self.xla_step: Callable[..., Any] | None = None
        if _x32_safe(self.pool):
            _, _, _, self.xla_step = self.pool.xla()

    def reset(self) -> np.ndarray:
        """Fresh episodes in every environment (EnvPool's ``reset``): ``obs [size, ...]``."""
        obs, _ = self.pool.reset()
        return np.asarray(obs)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, ...]:
        """EnvPool's own step of every environment: ``(obs, reward, terminated, truncated)``."""
        obs, reward, terminated, truncated, _ = self.pool.step(action)
        return np.asarray(obs), reward, terminated, truncated

    def reset_ended(self, done: np.ndarray) -> np.ndarray:
        """``obs [size, ...]`` (EnvPool's layout): the reset observations of the ``done``
        environments, zeros elsewhere. This is EnvPool's next-step reset issued now for them
        alone (their zero action is ignored, as EnvPool ignores the action of that call)."""
        space = self.pool.observation_space
        out = np.zeros((self.size, *space.shape), space.dtype)
        ids = np.flatnonzero(np.asarray(done)).astype(np.int32)
        if ids.size:
            action = np.zeros((ids.size, *self.pool.action_space.shape), self.action_dtype)
            obs, reward, terminated, truncated, info = self.pool.step(action, ids)
            reset = np.array_equal(info["env_id"], ids) and not np.any(reward)
            if not reset or np.any(terminated | truncated):
                raise RuntimeError("EnvPool did not reset the environments whose episode ended")
            out[ids] = obs
        return out

    @property
    def action_dtype(self) -> Any:
        return self.pool.action_space.dtype


def _x32_safe(pool: Any) -> bool:
    """Whether every array of the pool's XLA calls has a dtype jax keeps (no 64-bit dtype
    unless ``jax_enable_x64``)."""
    if jax.config.read("jax_enable_x64"):
        return True
    for _, (_, specs, _) in pool._xla():
        for part in specs:
            for dtype, _ in part:
                if np.dtype(dtype).itemsize == 8:
                    return False
    return True


class EnvPoolEnv:
    """An EnvPool task as a batched gymnax-style environment (see the module docstring).

    ``envpool.make(task_id, env_type="gymnasium", num_envs=..., **kwargs)`` builds its pools;
    ``kwargs`` are EnvPool's settings (``episodic_life``, ``reward_clip``, ``stack_num``,
    ``repeat_action_probability``, ``max_episode_steps``, ``seed`` ...). Two adapters are
    equal when they name the same task with the same settings (each still has its own pools).
    """

    batched_env = True
    suite = "envpool"

    def __init__(self, env_id: str, kwargs: tuple[tuple[str, Any], ...] = ()) -> None:
        self.env_id = env_id
        self.kwargs = kwargs
        settings = dict(kwargs)
        for reserved in ("num_envs", "batch_size", "env_type"):
            if reserved in settings:
                raise ValueError(
                    f"PPOConfig.env_kwargs {reserved}={settings[reserved]!r}: ppo_jax sets it "
                    f"for {self.name} (num_envs comes from PPOConfig.num_envs)"
                )
        settings.setdefault("seed", DEFAULT_SEED)
        self._settings = settings
        self._pools: dict[int, _Pool] = {}
        self._programs: dict[tuple[str, int], Callable[..., Any]] = {}
        try:
            probe = self._build_probe()
        except ValueError:
            raise
        except Exception as err:
            first = str(err).splitlines()[0][:200] if str(err) else ""
            given = f" with env_kwargs {dict(kwargs)}" if kwargs else ""
            raise ValueError(
                f"PPOConfig.env_name {self.name!r}{given}: envpool could not build it "
                f"({type(err).__name__}: {first})"
            ) from None
        space = probe.pool.observation_space
        self._image = len(space.shape) == 3 and np.dtype(space.dtype) == np.uint8
        self._obs_shape = (
            (space.shape[1], space.shape[2], space.shape[0]) if self._image else space.shape
        )
        self._obs_dtype = jnp.uint8 if self._image else jnp.float32
        self._space = probe.pool.action_space
        self._pools[1] = probe
        limit = int(probe.pool.spec.config.max_episode_steps)
        self._params = EnvPoolParams(max_steps_in_episode=limit)

    def _build_probe(self) -> _Pool:
        import envpool

        if self.env_id not in envpool.list_all_envs():
            raise ValueError(
                f"PPOConfig.env_name {self.name!r}: not an EnvPool task id; envpool has "
                f"{len(envpool.list_all_envs())} (envpool.list_all_envs()), e.g. Pong-v5, "
                "Breakout-v5, HalfCheetah-v4, CartPole-v1"
            )
        check_native_files(envpool, self.env_id, self._settings)
        try:
            probe = _Pool(envpool, self.env_id, self._settings, 1)
        except (TypeError, ValueError, AssertionError) as err:
            first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise ValueError(
                f"PPOConfig.env_kwargs {dict(self.kwargs)} do not fit {self.name}: {first}; "
                f"{self.env_id}'s settings: {_settings_of(envpool, self.env_id)}"
            ) from None
        space = probe.pool.action_space
        if not (space.__class__.__name__ == "Discrete" or len(space.shape) == 1):
            raise ValueError(
                f"PPOConfig.env_name {self.name!r} has action space {space}; ppo_jax handles "
                "Discrete and 1-D Box actions"
            )
        return probe

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        return f"envpool:{self.env_id}"

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs)
        return f"EnvPoolEnv({self.env_id!r}{extra})"

    def __hash__(self) -> int:
        return hash((EnvPoolEnv, self.env_id, self.kwargs))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, EnvPoolEnv)
            and other.env_id == self.env_id
            and other.kwargs == self.kwargs
        )

    # ------------------------------------------------------------------ spaces
    @property
    def default_params(self) -> EnvPoolParams:
        return self._params

    @property
    def image_observations(self) -> bool:
        """Whether observations are uint8 images ``[H, W, C]`` (EnvPool's ``[C, H, W]``)."""
        return self._image

    def action_space(self, params: Any = None) -> Any:
        from gymnax.environments import spaces

        space = self._space
        if space.__class__.__name__ == "Discrete":
            return spaces.Discrete(int(space.n))
        low = np.asarray(space.low, np.float32)
        high = np.asarray(space.high, np.float32)
        return spaces.Box(jnp.asarray(low), jnp.asarray(high), tuple(space.shape), jnp.float32)

    def observation_space(self, params: Any = None) -> Any:
        from gymnax.environments import spaces

        if self._image:
            return spaces.Box(0, 255, self._obs_shape, jnp.uint8)
        return spaces.Box(-jnp.inf, jnp.inf, tuple(self._obs_shape), jnp.float32)

    @property
    def num_actions(self) -> int:
        space = self._space
        return int(space.n) if space.__class__.__name__ == "Discrete" else int(space.shape[0])

    # ------------------------------------------------------------------ single environment
    def reset(self, key: PRNGKey, params: Any = None) -> tuple[Array, EnvPoolState]:
        """One environment's reset, for shapes only (``jax.eval_shape``): EnvPool environments
        run in batches (:meth:`reset_batch`)."""
        obs, state = self.reset_batch(key, 1, params)
        return obs[0], state

    def step(self, key: PRNGKey, state: Any, action: Any, params: Any = None) -> tuple:
        """One environment's step, for shapes only; see :meth:`step_batch`."""
        out = self.step_batch(key, state, jnp.asarray(action)[None], params)
        obs, state, reward, terminated, truncated, info = out
        info = {"final_observation": info["final_observation"][0]}
        return obs[0], state, reward[0], terminated[0], truncated[0], info

    # ------------------------------------------------------------------ batches
    def reset_batch(
        self, key: PRNGKey, num_envs: int, params: Any = None
    ) -> tuple[Array, EnvPoolState]:
        """Fresh episodes in all ``num_envs`` environments: ``(obs [N, *obs_shape], state)``.
        ``key`` is not used by EnvPool (see the module docstring); under ``vmap`` over runs it
        carries the run axis."""
        token = jnp.pad(jnp.asarray(key, jnp.uint32).astype(jnp.uint8).ravel()[:2], (0, 6))
        token, obs = self._program("reset", num_envs)(token)
        return obs, EnvPoolState(token=token)

    def step_batch(
        self, key: PRNGKey, state: EnvPoolState, action: Array, params: Any = None
    ) -> tuple[Array, EnvPoolState, Array, Array, Array, dict[str, Array]]:
        """Step all ``N`` environments with ``action [N]`` (or ``[N, A]``), resetting those
        whose episode ended in the same step: ``(obs [N, ...], state, reward [N], terminated
        [N], truncated [N], {"final_observation": [N, ...]})``."""
        action = self._env_action(action)
        out = self._program("step", action.shape[0])(state.token, action)
        token, obs, final_obs, reward, terminated, truncated = out
        info = {"final_observation": final_obs}
        return obs, EnvPoolState(token=token), reward, terminated, truncated, info

    def step_batch_no_reset(
        self, key: PRNGKey, state: EnvPoolState, action: Array, params: Any = None
    ) -> tuple[Array, EnvPoolState, Array, Array, Array]:
        """Step all ``N`` environments without the same-step reset (evaluation plays each
        episode to its first end): ``(obs, state, reward, terminated, truncated)``. An ended
        environment's next call is EnvPool's reset (its action ignored)."""
        action = self._env_action(action)
        out = self._program("step_no_reset", action.shape[0])(state.token, action)
        token, obs, reward, terminated, truncated = out
        return obs, EnvPoolState(token=token), reward, terminated, truncated

    def _env_action(self, action: Array) -> Array:
        if self._space.__class__.__name__ == "Discrete":
            return jnp.asarray(action).astype(jnp.int32)
        return jnp.asarray(action, jnp.float32)

    # ------------------------------------------------------------------ programs
    def pool(self, size: int) -> _Pool:
        """The pool of ``size`` environments (built on first use)."""
        if size not in self._pools:
            import envpool

            self._pools[size] = _Pool(envpool, self.env_id, self._settings, size)
        return self._pools[size]

    def _program(self, kind: str, size: int) -> Callable[..., Any]:
        """``kind``'s function of a pool of ``size`` environments (``token, *per-env args ->
        token, *per-env results``), whose ``vmap`` over ``R`` runs is the function of the pool
        of ``R * size`` environments on the flattened arguments."""
        if (kind, size) in self._programs:
            return self._programs[(kind, size)]

        @jax.custom_batching.custom_vmap
        def program(token: Array, *args: Array) -> tuple[Array, ...]:
            if kind == "reset":
                return self._reset_fn(size, token)
            (action,) = args
            return self._step_fn(size, token, action, reset=kind == "step")

        @program.def_vmap
        def rule(
            axis_size: int, in_batched: list[bool], token: Array, *args: Array
        ) -> tuple[tuple[Array, ...], tuple[bool, ...]]:
            token = token[0] if in_batched[0] else token
            flat = [
                (x if b else jnp.broadcast_to(x, (axis_size, *x.shape))).reshape(
                    axis_size * size, *x.shape[2 if b else 1 :]
                )
                for x, b in zip(args, in_batched[1:], strict=True)
            ]
            out = self._program(kind, axis_size * size)(token, *flat)
            token_out = jnp.broadcast_to(out[0], (axis_size, *out[0].shape))
            rest = tuple(y.reshape(axis_size, size, *y.shape[1:]) for y in out[1:])
            return (token_out, *rest), (True,) * len(out)

        self._programs[(kind, size)] = program
        return program

    def _obs_spec(self, size: int) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct((size, *self._obs_shape), self._obs_dtype)

    def _to_obs(self, obs: Any) -> Any:
        """EnvPool's observations ``[n, ...]`` in ppo_jax's layout and dtype (numpy or jax)."""
        if isinstance(obs, np.ndarray):
            obs = np.transpose(obs, (0, 2, 3, 1)) if self._image else obs
            return np.ascontiguousarray(obs, np.uint8 if self._image else np.float32)
        if self._image:
            return jnp.transpose(obs, (0, 2, 3, 1))
        return obs.astype(jnp.float32)

    def _reset_fn(self, size: int, token: Array) -> tuple[Array, Array]:
        pool = self.pool(size)
        token_spec = jax.ShapeDtypeStruct(TOKEN_SHAPE, jnp.uint8)

        def host(token: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return np.asarray(token), self._to_obs(pool.reset())

        return io_callback(host, (token_spec, self._obs_spec(size)), token, ordered=True)

    def _step_fn(
        self, size: int, token: Array, action: Array, reset: bool = True
    ) -> tuple[Array, ...]:
        pool = self.pool(size)
        if pool.xla_step is not None:
            token, final_obs, reward, terminated, truncated = self._xla_step(pool, token, action)
        else:
            token, final_obs, reward, terminated, truncated = self._host_step(pool, token, action)
        if not reset:
            return token, final_obs, reward, terminated, truncated
        done = terminated | truncated
        token_spec = jax.ShapeDtypeStruct(TOKEN_SHAPE, jnp.uint8)
        spec = self._obs_spec(size)

        def host(token: np.ndarray, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            fresh = self._to_obs(pool.reset_ended(done))
            return np.asarray(token), np.asarray(fresh, spec.dtype)

        def reset_ended(token: Array, done: Array) -> tuple[Array, Array]:
            return io_callback(host, (token_spec, spec), token, done, ordered=True)

        def none_ended(token: Array, done: Array) -> tuple[Array, Array]:
            return token, jnp.zeros(spec.shape, spec.dtype)

        token, fresh = jax.lax.cond(jnp.any(done), reset_ended, none_ended, token, done)
        where = done.reshape((size,) + (1,) * (final_obs.ndim - 1))
        obs = jnp.where(where, fresh, final_obs)
        return token, obs, final_obs, reward, terminated, truncated

    def _xla_step(self, pool: _Pool, token: Array, action: Array) -> tuple[Array, ...]:
        assert pool.xla_step is not None
        env_id = jnp.arange(pool.size, dtype=jnp.int32)
        token, (obs, reward, terminated, truncated, _) = pool.xla_step(token, action, env_id)
        terminated = jnp.asarray(terminated, bool)
        truncated = jnp.asarray(truncated, bool) & ~terminated
        obs = self._to_obs(obs).astype(self._obs_dtype)
        return token, obs, jnp.asarray(reward, jnp.float32), terminated, truncated

    def _host_step(self, pool: _Pool, token: Array, action: Array) -> tuple[Array, ...]:
        size = pool.size
        flags = jax.ShapeDtypeStruct((size,), jnp.bool_)
        specs = (
            jax.ShapeDtypeStruct(TOKEN_SHAPE, jnp.uint8),
            self._obs_spec(size),
            jax.ShapeDtypeStruct((size,), jnp.float32),
            flags,
            flags,
        )

        def host(token: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, ...]:
            obs, reward, terminated, truncated = pool.step(
                np.asarray(action).astype(pool.action_dtype)
            )
            terminated = np.asarray(terminated, bool)
            truncated = np.asarray(truncated, bool) & ~terminated
            obs = self._to_obs(obs).astype(specs[1].dtype)
            return np.asarray(token), obs, np.asarray(reward, np.float32), terminated, truncated

        return io_callback(host, specs, token, action, ordered=True)


def check_native_files(envpool: Any, task_id: str, settings: dict[str, Any]) -> None:
    """``ValueError`` naming the kwarg when ``base_path`` (or Atari's ``task``) points EnvPool
    at files that are not there: EnvPool's Atari loader ends the whole process on a missing
    ROM (``exit(1)``, before Python can catch anything), so it is looked for first.
    ``base_path`` must be a folder; an Atari task's ROM ``base_path/atari/roms/<task>.bin``
    must exist. (A missing MuJoCo model is a ``RuntimeError`` EnvPool raises itself.)"""
    if "base_path" not in settings and "task" not in settings:
        return
    base = settings.get("base_path")
    if base is not None and (not isinstance(base, str) or not os.path.isdir(base)):
        raise ValueError(
            f"PPOConfig.env_kwargs base_path={str(base)[:200]!r} for envpool:{task_id}: not a "
            "folder; EnvPool loads the task's files from it"
        )
    default = envpool.make_spec(task_id).config  # the registered settings: nothing loaded
    task = settings.get("task", getattr(default, "task", None))
    if not isinstance(getattr(default, "task", None), str) or not os.path.isfile(
        os.path.join(default.base_path, "atari", "roms", f"{default.task}.bin")
    ):
        return  # not an Atari task
    rom = os.path.join(base if base is not None else default.base_path, "atari", "roms")
    if not isinstance(task, str) or not os.path.isfile(os.path.join(rom, f"{task}.bin")):
        given = "base_path" if base is not None else "task"
        raise ValueError(
            f"PPOConfig.env_kwargs {given}: envpool:{task_id} needs the ROM "
            f"{os.path.join(rom, str(task)[:100] + '.bin')!r}, which is not there"
        )


def _settings_of(envpool: Any, task_id: str) -> str:
    """The names of a task's EnvPool settings (its spec's config fields)."""
    try:
        spec = envpool.make_spec(task_id)
        names = [k for k in spec.config._fields if k not in _POOL_FIELDS]
    except Exception:  # pragma: no cover - envpool's spec API
        return KNOWN_KWARGS_NOTE
    return ", ".join(names)


_POOL_FIELDS = (
    "num_envs",
    "batch_size",
    "num_threads",
    "max_num_players",
    "thread_affinity_offset",
    "base_path",
    "env_seed",
    "gym_reset_return_info",
)
"""EnvPool config fields about the pool itself, not the task (left out of error messages)."""
