"""Drivers: turn a config into compiled programs, run them, hand back results.

``train`` (one run) and ``train_seeds`` (many seeds, one compiled call) take the traced
hyperparameters as ``hp=`` (default: the config's). Compiled programs are cached by the static
part of the run only (:class:`~ppo_jax.core.spec.TrainSpec`: the config with its traced fields
at their defaults, the environment, the network and the extension points) and by the device
layout: a new learning rate, gamma, clip_eps ..., passed as ``hp=`` or as a changed config
field, reuses the executable.

Every multi-run program here is one of three, all mapped over runs by
:func:`ppo_jax.run.parallel.over_runs`: the whole run (``init`` and every update), the
initialisation alone, and a range of updates (checkpoint and progress segments; consecutive
ranges replay exactly the updates of the whole run).
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from ppo_jax.core.config import TRACED_FIELDS, Hyperparams, PPOConfig
from ppo_jax.core.envs import (
    check_env,
    check_env_settings,
    check_env_trusted,
    is_batched_env,
    make_env,
    obs_size,
    reset_envs,
)
from ppo_jax.core.spec import MetricsFn, Schedule, TrainSpec, make_spec
from ppo_jax.core.train import init_runner, scan_updates
from ppo_jax.core.types import (
    EVAL_METRIC_NAMES,
    METRIC_NAMES,
    Array,
    Metrics,
    Params,
    RunnerState,
    TrainState,
    Transition,
    metrics_dict,
)
from ppo_jax.run import backend, parallel, progress

SEED_LIMIT = 2**32
"""Seeds are ints in ``[0, SEED_LIMIT)`` (``jax.random.PRNGKey`` takes 32 bits)."""
MAX_RUNS = 2**20
"""Most runs (seeds x settings) one call accepts."""


class TrainResult(NamedTuple):
    """Result of :func:`train` / :func:`train_seeds`.

    ``params``: final trained parameters (``{"network": ..., "log_std"?}``; a leading ``[S]``
    seed axis from :func:`train_seeds`). ``metrics``: ``name -> array`` of shape
    ``[num_updates]`` (or ``[S, num_updates]``): the built-in metrics of
    :class:`ppo_jax.core.types.Metrics` and those of ``metrics_fn``. ``train_state``: the full
    final learner state (params, optimiser state, step, observation statistics).
    """

    params: Params
    metrics: dict[str, Array]
    train_state: TrainState

    @property
    def obs_norm(self) -> Any:
        """Running observation statistics (``None`` unless ``normalize_observations``)."""
        return self.train_state.obs_norm


# --------------------------------------------------------------------------- argument checks
def check_config(config: Any) -> PPOConfig:
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a ppo_jax.PPOConfig, got {type(config).__name__}")
    return config


def check_key(key: Any) -> Array:
    """A ``uint32[2]`` key from a ``jax.random.PRNGKey`` or a typed key."""
    key = key if isinstance(key, jax.Array) else jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if key.shape != (2,) or key.dtype != jnp.uint32:
        raise ValueError(
            "key must be a jax.random.PRNGKey (uint32[2]) or a typed key, got "
            f"{key.dtype}{list(key.shape)}"
        )
    return key


def seed_list(seeds: Any, what: str = "seeds") -> list[int]:
    """The seeds of an int count (``range(seeds)``) or a sequence of ints in
    ``[0, 2**32)``, without duplicates; ``TypeError``/``ValueError`` naming ``what``."""
    if isinstance(seeds, np.integer):
        seeds = int(seeds)
    if isinstance(seeds, bool) or not isinstance(seeds, int | Sequence) or isinstance(seeds, str):
        raise TypeError(f"{what} must be an int count or a list of ints, got {seeds!r}")
    if isinstance(seeds, int):
        if not 1 <= seeds <= MAX_RUNS:
            raise ValueError(f"{what} as a count must be in [1, {MAX_RUNS}], got {seeds}")
        return list(range(seeds))
    out = []
    for s in seeds:
        if isinstance(s, np.integer):
            s = int(s)
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < SEED_LIMIT:
            raise ValueError(f"{what} must be ints in [0, 2**32), got {s!r}")
        out.append(s)
    if not out:
        raise ValueError(f"{what} must not be empty")
    if len(out) > MAX_RUNS:
        raise ValueError(f"{what}: at most {MAX_RUNS} seeds, got {len(out)}")
    if len(set(out)) != len(out):
        dupes = sorted({s for s in out if out.count(s) > 1})
        raise ValueError(f"{what} holds duplicates {dupes[:10]}: each seed would run twice")
    return out


def seed_keys(seeds: Any) -> Array:
    """``[S, 2]`` keys ``PRNGKey(s)`` for a list of int seeds, or for ``range(seeds)``."""
    return jnp.asarray(np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seed_list(seeds)]))


def check_hyperparams(config: PPOConfig, hp: Any) -> Hyperparams:
    """``hp`` (default ``config.hyperparams()``) validated like the config's fields: a
    :class:`Hyperparams` or a mapping of some of its fields (the rest from ``config``)."""
    if hp is None:
        return config.hyperparams()
    if isinstance(hp, Hyperparams):
        values = hp._asdict()
    elif isinstance(hp, Mapping):
        unknown = sorted(set(hp) - set(TRACED_FIELDS))
        if unknown:
            raise ValueError(f"hp: unknown field(s) {unknown}; fields are {list(TRACED_FIELDS)}")
        values = {**config.hyperparams()._asdict(), **hp}
    else:
        raise TypeError(f"hp must be a ppo_jax.Hyperparams or a dict, got {type(hp).__name__}")
    for name, value in values.items():
        if not isinstance(value, int | float | np.number) or isinstance(value, bool):
            raise TypeError(
                f"hp.{name} must be a number (arrays of settings go to ppo_jax.sweep), got "
                f"{type(value).__name__}"
            )
    checked = config.replace(**{k: float(v) for k, v in values.items()})  # validates each
    return checked.hyperparams()


# --------------------------------------------------------------------------- the static part
@functools.lru_cache(maxsize=64)
def _named_env(env_name: str, env_kwargs: tuple[tuple[str, Any], ...]) -> tuple[Any, Any]:
    """One environment object per ``(env_name, env_kwargs)``: a stable compile-cache key."""
    config = PPOConfig(env_name=env_name, env_kwargs=env_kwargs)
    return make_env(config)


def config_env(config: PPOConfig) -> tuple[Any, Any]:
    """``(env, default env_params)`` of ``config.env_name`` (cached); refused, before any
    import, for a ``module:attribute`` name read from a run folder
    (:func:`~ppo_jax.core.envs.check_env_trusted`)."""
    check_env_trusted(config)
    return _named_env(config.env_name, config.env_kwargs)


def resolve_env(config: PPOConfig, env: Any = None, env_params: Any = None) -> tuple[Any, Any]:
    """``(env, env_params)``: ``env`` (checked) or the config's environment; ``env_params``
    default to the environment's."""
    if env is None:
        env_obj, default_params = config_env(config)
    else:
        if not hasattr(env, "default_params"):
            raise TypeError(
                f"env must be a gymnax Environment (missing .default_params), got {env!r}"
            )
        env_obj, default_params = env, env.default_params
        check_env(env_obj, default_params if env_params is None else env_params, "env")
    return env_obj, default_params if env_params is None else env_params


def resolve_spec(
    config: Any,
    *,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
) -> tuple[TrainSpec, Any]:
    """The :class:`TrainSpec` and environment parameters of a run, with every extension point
    checked abstractly (a ``ValueError``/``TypeError`` names what is wrong before anything
    compiles)."""
    config = check_config(config)
    env_obj, params = resolve_env(config, env, env_params)
    check_env_settings(config, env_obj)
    spec = make_spec(
        config,
        env_obj,
        params,
        network=network,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
        conv=backend.conv_implementation(),
    )
    check_extensions(spec, params)
    return spec, params


def check_extensions(spec: TrainSpec, env_params: Any) -> None:
    """Abstract checks of ``lr_schedule`` (a float scalar per step) and ``metrics_fn`` (named
    scalars, names distinct from the built-in metrics)."""
    if spec.lr_schedule is not None:
        try:
            out = jax.eval_shape(spec.lr_schedule, jax.ShapeDtypeStruct((), jnp.int32))
        except Exception as err:
            raise ValueError(f"lr_schedule fails on a step count: {err!r}") from None
        if getattr(out, "shape", None) != () or not jnp.issubdtype(out.dtype, jnp.floating):
            raise ValueError(
                f"lr_schedule must return a float scalar per step, got {_describe(out)}"
            )
    if spec.metrics_fn is not None:
        traj = _transition_template(spec, env_params)
        try:
            out = jax.eval_shape(spec.metrics_fn, traj)
        except Exception as err:
            raise ValueError(f"metrics_fn fails on the rollout Transition: {err!r}") from None
        if not isinstance(out, Mapping):
            raise ValueError(f"metrics_fn must return a dict of scalars, got {type(out).__name__}")
        for name, value in out.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"metrics_fn: metric names must be strings, got {name!r}")
            if name in (*METRIC_NAMES, *EVAL_METRIC_NAMES, "step", "seed", "update", "setting"):
                raise ValueError(f"metrics_fn: {name!r} is a built-in metric name; rename it")
            if getattr(value, "shape", None) != ():
                raise ValueError(f"metrics_fn must return scalars; {name!r} is {_describe(value)}")


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return (
        f"{getattr(value, 'dtype', type(value).__name__)}{list(shape)}"
        if shape is not None
        else repr(value)
    )


def _transition_template(spec: TrainSpec, env_params: Any) -> Transition:
    """Shapes of a rollout ``Transition`` ``[T, N, ...]`` (abstract)."""
    from ppo_jax.core.rollout import collect_rollout

    def rollout(key: Array) -> Transition:
        runner = init_runner(spec, env_params, Hyperparams(), key)
        return collect_rollout(spec, env_params, runner.train_state, runner.env, key)[1]

    return jax.eval_shape(rollout, jax.ShapeDtypeStruct((2,), jnp.uint32))


# --------------------------------------------------------------------------- plans
class Plan(NamedTuple):
    """Everything a multi-run program needs, checked, before anything is compiled."""

    spec: TrainSpec
    env_params: Any
    layout: parallel.Layout
    keys: np.ndarray
    """``[R, 2]`` uint32 run keys."""
    hp: Hyperparams
    """Float32 scalars shared by every run, or ``[R]`` arrays (``hp_batched``)."""
    hp_batched: bool

    @property
    def num_runs(self) -> int:
        return int(self.keys.shape[0])

    @property
    def config(self) -> PPOConfig:
        return self.spec.config


def make_plan(
    spec: TrainSpec,
    env_params: Any,
    keys: Any,
    hp: Hyperparams,
    *,
    hp_batched: bool = False,
    shard: bool | str = "auto",
    split_envs: bool = False,
    devices: Sequence[Any] | None = None,
) -> Plan:
    """Place ``R`` runs (``keys [R, 2]``) on devices."""
    keys = np.asarray(keys, np.uint32)
    config = spec.config
    if is_batched_env(spec.env):  # one C++ pool steps every run's environments: one device
        if shard is True or split_envs:
            raise ValueError(
                f"{'split_envs' if split_envs else 'shard'}=True: {config.env_name} steps one "
                "EnvPool pool for all runs, from one device; leave it False"
            )
        shard = False
    layout = parallel.plan_layout(
        keys.shape[0],
        num_envs=config.num_envs,
        num_steps=config.num_steps,
        num_minibatches=config.num_minibatches,
        recurrent=spec.network.recurrent,
        shard=shard,
        split_envs=split_envs,
        devices=devices,
    )
    if layout.size == 1 and keys.shape[0] > 1 and shard is not False:
        parallel.hint_single_cpu_device(f"{keys.shape[0]} runs run")
    dtype = np.float32
    leaves = [np.asarray(v, dtype) for v in hp]
    return Plan(spec, env_params, layout, keys, Hyperparams(*leaves), hp_batched)


def _hp_axis(plan: Plan) -> int | None:
    return 0 if plan.hp_batched else None


def _hp_spec(plan: Plan) -> PartitionSpec:
    return PartitionSpec(parallel.RUNS_AXIS) if plan.hp_batched else PartitionSpec()


def cache_options() -> tuple[tuple[str, Any], ...]:
    """The compiler options of new programs (part of the compile-cache key)."""
    return tuple(sorted(backend.compiler_options().items()))


def _init_program(spec: TrainSpec, layout: parallel.Layout, hp_batched: bool) -> Any:
    """The (cached) program initialising ``[R]`` runs."""
    return _init_program_for(spec, layout, hp_batched, cache_options())


def _range_program(
    spec: TrainSpec, layout: parallel.Layout, hp_batched: bool, length: int, masked: bool = True
) -> Any:
    """The (cached) program running ``length`` updates of ``[R]`` runs (``masked``: see
    :func:`range_traceable`)."""
    return _range_program_for(spec, layout, hp_batched, length, masked, cache_options())


@functools.lru_cache(maxsize=32)
def _init_program_for(
    spec: TrainSpec, layout: parallel.Layout, hp_batched: bool, options: Any
) -> Any:
    return parallel.over_runs(*_init_parts(spec, layout, hp_batched))


def _init_parts(spec: TrainSpec, layout: parallel.Layout, hp_batched: bool) -> tuple[Any, ...]:
    """``over_runs`` arguments of the program initialising ``[R]`` runs."""
    axis_name = layout.axis_name

    def init(key: Array, hp: Hyperparams, env_params: Any) -> RunnerState:
        return init_runner(spec, env_params, hp, key, axis_name)

    runs, shared = PartitionSpec(parallel.RUNS_AXIS), PartitionSpec()
    return (
        init,
        layout,
        (0, 0 if hp_batched else None, None),
        (runs, runs if hp_batched else shared, shared),
        parallel.runner_specs(),
    )


@functools.lru_cache(maxsize=32)
def _range_program_for(
    spec: TrainSpec,
    layout: parallel.Layout,
    hp_batched: bool,
    length: int,
    masked: bool,
    options: Any,
) -> Any:
    return parallel.over_runs(*_range_parts(spec, layout, hp_batched, length, masked))


def _range_parts(
    spec: TrainSpec, layout: parallel.Layout, hp_batched: bool, length: int, masked: bool = True
) -> tuple[Any, ...]:
    """``over_runs`` arguments of the program running ``length`` updates of ``[R]`` runs."""
    axis_name = layout.axis_name

    def run(
        runner: RunnerState, hp: Hyperparams, env_params: Any, start: Array, stop: Array
    ) -> tuple[RunnerState, Metrics]:
        until = stop if masked else None
        return scan_updates(spec, env_params, hp, runner, start, length, until, axis_name)

    runs, shared = PartitionSpec(parallel.RUNS_AXIS), PartitionSpec()
    return (
        run,
        layout,
        (0, 0 if hp_batched else None, None, None, None),
        (parallel.runner_specs(), runs if hp_batched else shared, shared, shared, shared),
        (parallel.runner_specs(), runs),
    )


def init_traceable(spec: TrainSpec, layout: parallel.Layout, hp_batched: bool) -> Any:
    """The ``[R]``-run initialisation, unjitted, to call inside a larger compiled program."""
    return parallel.over_runs_traceable(*_init_parts(spec, layout, hp_batched))


def range_traceable(
    spec: TrainSpec, layout: parallel.Layout, hp_batched: bool, length: int, masked: bool = True
) -> Any:
    """``length`` updates of ``[R]`` runs, unjitted, to call inside a larger compiled program:
    ``fn(runner, hp, env_params, start, stop)``. ``masked``: updates from ``stop`` on are
    discarded (:func:`~ppo_jax.core.train.scan_updates`); without, ``stop`` is ignored and every
    call runs all ``length`` updates (cheaper, when every range is whole)."""
    return parallel.over_runs_traceable(*_range_parts(spec, layout, hp_batched, length, masked))


def device_inputs(plan: Plan) -> tuple[Any, Hyperparams]:
    """The keys and hyperparameters as (global, sharded) device arrays when the layout spans
    other processes' devices; as host arrays otherwise (``jit`` places them)."""
    here = jax.process_index()
    if all(getattr(d, "process_index", here) == here for d in plan.layout.devices):
        return plan.keys, plan.hp
    sharding = parallel.run_sharding(plan.layout)
    keys = parallel.global_array(plan.keys, sharding)
    if not plan.hp_batched:
        return keys, plan.hp
    return keys, Hyperparams(*[parallel.global_array(v, sharding) for v in plan.hp])


def compile_whole(
    plan: Plan, programs: list[Any] | None = None
) -> Callable[[], tuple[TrainState, dict[str, Array]]]:
    """Compile the whole run ahead of time (initialisation and one range of every update);
    returns a zero-argument function that runs it. Lets a caller time compilation apart.
    ``programs``: a list that receives the compiled executables (``jax.stages.Compiled``:
    their cost and memory analyses), as :func:`compile_init_and_segments`."""
    init, segment = compile_init_and_segments(plan, plan.config.num_updates, programs)

    def run() -> tuple[TrainState, dict[str, Array]]:
        runner, metrics = segment(init(), 0)
        return runner.train_state, metrics

    return run


def compile_init_and_segments(
    plan: Plan, length: int, programs: list[Any] | None = None
) -> tuple[Callable[[], RunnerState], SegmentFn]:
    """The compiled initialisation (``init() -> runner [R]``, as :func:`init_runs`) and
    :func:`compile_segments` of ``length``, compiled side by side: the initialisation
    compiles in a thread while the range program is traced and compiled from the shapes of
    its result (XLA releases the GIL, so a second core shortens the wait). ``programs``: a
    list that receives every compiled executable (``jax.stages.Compiled``), the
    initialisation's last."""
    keys, hp = device_inputs(plan)
    lowered = _init_program(plan.spec, plan.layout, plan.hp_batched).lower(
        keys, hp, plan.env_params
    )
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        init_compiling = pool.submit(lowered.compile)
        segment = compile_segments(plan, lowered.out_info, length, programs=programs)
        compiled_init = init_compiling.result()
    if programs is not None:
        programs.append(compiled_init)

    def init() -> RunnerState:
        return compiled_init(keys, hp, plan.env_params)

    return init, segment


def init_runs(plan: Plan) -> RunnerState:
    """Fresh ``[R]`` runner states, as the whole-run program starts."""
    keys, hp = device_inputs(plan)
    return _init_program(plan.spec, plan.layout, plan.hp_batched)(keys, hp, plan.env_params)


def restart_episodes(plan: Any, state: Any) -> Any:
    """``state`` restored from a checkpoint, ready to go on: itself, except where the plan's
    environment keeps its state outside the carry (EnvPool's C++ pool, which a checkpoint
    cannot hold): then every run's environments start fresh episodes (episode statistics
    and recurrent states restart too; learner state, keys and metrics are kept). ``plan``: a
    :class:`Plan` or an object with one as ``.plan`` (PBT); ``state``: a ``[R]``
    :class:`RunnerState` or an object holding one as ``.runner``."""
    inner = plan if isinstance(plan, Plan) else plan.plan
    runner = state if isinstance(state, RunnerState) else state.runner
    if not is_batched_env(inner.spec.env):
        return state
    spec, env_params, num_envs = inner.spec, inner.env_params, inner.config.num_envs

    def fresh(key: Array) -> Any:
        carry = reset_envs(spec.env, env_params, key, num_envs)  # the key only marks the run
        return carry._replace(policy_state=spec.network.initial_state(num_envs))

    runner = runner._replace(env=backend.jit(jax.vmap(fresh))(jnp.asarray(runner.key)))
    return runner if isinstance(state, RunnerState) else state._replace(runner=runner)


def runner_template(plan: Plan) -> RunnerState:
    """Shapes and dtypes of the ``[R]`` runner state (nothing is compiled or run)."""
    program = _init_program(plan.spec, plan.layout, plan.hp_batched)
    keys = jax.ShapeDtypeStruct(plan.keys.shape, jnp.uint32)
    return jax.eval_shape(program, keys, plan.hp, plan.env_params)


SegmentFn = Callable[[Any, int], tuple[Any, dict[str, Any]]]
"""``fn(state, start) -> (state, metrics)``: a run of updates from ``start`` (the state is a
``RunnerState`` ``[R]``, or PBT's carry)."""


def compile_segments(
    plan: Plan, runner: Any, length: int, first: int = 0, programs: list[Any] | None = None
) -> SegmentFn:
    """Compile ranges of ``length`` updates once: ``fn(runner, start) -> (runner, metrics
    [R, n])`` runs ``n = min(length, num_updates - start)`` updates. ``runner`` may be arrays
    or their shapes.

    Ranges from ``first`` on, ``length`` apart, use one executable: compiled without the mask
    that discards updates past the run's end when they are all whole, with it when the last is
    shorter. A call from another start that needs the mask compiles it then. ``programs``: a
    list that receives each executable (``jax.stages.Compiled``) as it is compiled."""
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be an int >= 1, got {length!r}")
    num_updates = plan.config.num_updates
    length = min(length, num_updates)
    _, hp = device_inputs(plan)
    zero = jnp.int32(0)
    executables: dict[bool, Any] = {}

    def executable(masked: bool, r: Any) -> Any:
        # ``masked``: updates from ``stop`` on are discarded, which only a range shorter than
        # ``length`` needs; a whole range runs without the mask (cheaper).
        if masked not in executables:
            program = _range_program(plan.spec, plan.layout, plan.hp_batched, length, masked)
            executables[masked] = program.lower(r, hp, plan.env_params, zero, zero).compile()
            if programs is not None:
                programs.append(executables[masked])
        return executables[masked]

    executable((num_updates - first) % length != 0, runner)

    def run(r: RunnerState, start: int) -> tuple[RunnerState, dict[str, Array]]:
        if not 0 <= start < num_updates:
            raise ValueError(f"start must be in [0, {num_updates}), got {start}")
        n = min(length, num_updates - start)
        masked = n < length or True in executables
        compiled = executable(masked, r)
        out, metrics = compiled(r, hp, plan.env_params, jnp.int32(start), jnp.int32(start + n))
        if n == length:
            return out, metrics_dict(metrics)
        return out, {k: v[:, :n] for k, v in metrics_dict(metrics).items()}

    return run


def run_segments(
    plan: Plan, every: int, report: bool = True
) -> tuple[TrainState, dict[str, Array]]:
    """The whole run in segments of ``every`` updates (one compiled range, called again), with
    a :class:`~ppo_jax.run.progress.ProgressEvent` after each when ``report``. Consecutive
    segments replay the updates of one long segment bit for bit, so the result does not depend
    on ``every``."""
    init, segment = compile_init_and_segments(plan, every)
    runner = init()
    num_updates = plan.config.num_updates
    parts: list[dict[str, Array]] = []
    start = 0
    while start < num_updates:
        runner, metrics = segment(runner, start)
        start = min(start + every, num_updates)
        parts.append(metrics)
        if report:  # every process fetches (a collective across processes), the listener prints
            host = parallel.to_host(metrics)
            progress.report(progress.segment_event(host, start, num_updates))
    if len(parts) == 1:
        return runner.train_state, parts[0]
    return runner.train_state, {k: jnp.concatenate([p[k] for p in parts], 1) for k in parts[0]}


def execute(plan: Plan, progress_every: int = 0) -> tuple[TrainState, dict[str, Array]]:
    """Run every update of ``plan``'s runs: one compiled range of all updates, or segments of
    ``progress_every`` updates with a progress report after each (the same result). Returns
    the final ``[R]`` learner states and the metrics ``[R, num_updates]``."""
    every = check_progress_every(progress_every)
    return run_segments(plan, every or plan.config.num_updates, report=bool(every))


def check_progress_every(progress_every: Any) -> int:
    if (
        isinstance(progress_every, bool)
        or not isinstance(progress_every, int)
        or progress_every < 0
    ):
        raise ValueError(f"progress_every must be an int >= 0, got {progress_every!r}")
    return progress_every


# --------------------------------------------------------------------------- public drivers
def plan_seeds(
    config: Any,
    seeds: Any,
    *,
    hp: Any = None,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    shard: bool | str = "auto",
    split_envs: bool = False,
) -> Plan:
    """The :class:`Plan` of :func:`train_seeds` (everything checked, nothing compiled)."""
    spec, params = resolve_spec(
        config,
        env=env,
        env_params=env_params,
        network=network,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
    )
    keys = seed_keys(seeds)
    return make_plan(
        spec,
        params,
        keys,
        check_hyperparams(config, hp),
        shard=shard,
        split_envs=split_envs,
    )


def train_seeds(
    config: PPOConfig,
    seeds: int | Sequence[int],
    *,
    hp: Any = None,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    progress_every: int = 0,
    shard: bool | str = "auto",
    split_envs: bool = False,
) -> TrainResult:
    """Train one agent per seed in ONE compiled call (``vmap`` over keys).

    Args:
      config: static settings (and the default hyperparameters).
      seeds: a list of ints in ``[0, 2**32)`` or an int count (``range(seeds)``).
      hp: traced hyperparameters (:class:`Hyperparams` or a dict of some of its fields);
        default ``config.hyperparams()``. A new value reuses the compiled program.
      env, env_params: a gymnax environment (and params) instead of ``config.env_name``.
      network: a flax Module ``obs -> (logits or mean, value)`` instead of the built-in one.
      lr_schedule: an optax schedule of the gradient-step count (sets the learning rate).
      metrics_fn: ``traj -> {name: scalar}`` logged per update beside the built-in metrics.
      progress_every: report to :mod:`ppo_jax.run.progress` every that many updates (0: never).
      shard: split the seeds over the devices (``"auto"``: when more than one device divides
        the seed count; ``True``/``False`` to force).
      split_envs: split every seed's environments and minibatches over all devices instead.

    Every leaf of the result has a leading ``[S]`` seed axis; entry ``i`` equals
    ``train(config, PRNGKey(seeds[i]))`` up to float tolerance, whatever the layout.
    """
    check_progress_every(progress_every)
    plan = plan_seeds(
        config,
        seeds,
        hp=hp,
        env=env,
        env_params=env_params,
        network=network,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
        shard=shard,
        split_envs=split_envs,
    )
    state, metrics = execute(plan, progress_every)
    return TrainResult(params=state.params, metrics=metrics, train_state=state)


def compile_train_seeds(
    config: PPOConfig,
    seeds: int | Sequence[int],
    **kwargs: Any,
) -> Callable[[], TrainResult]:
    """Compile :func:`train_seeds` ahead of time (same arguments, no progress); returns a
    zero-argument function that runs it. Lets a caller time compilation and execution apart."""
    run = compile_whole(plan_seeds(config, seeds, **kwargs))

    def result() -> TrainResult:
        state, metrics = run()
        return TrainResult(params=state.params, metrics=metrics, train_state=state)

    return result


def train(
    config: PPOConfig,
    key: Any,
    *,
    hp: Any = None,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    progress_every: int = 0,
    split_envs: bool = False,
) -> TrainResult:
    """Train one PPO agent; the whole run is one compiled call (cached by the static part).

    Args:
      config: static settings (and the default hyperparameters).
      key: ``jax.random.PRNGKey(seed)``.
      hp, env, env_params, network, lr_schedule, metrics_fn, progress_every: as for
        :func:`train_seeds`.
      split_envs: split the environments (and every minibatch) over all local devices: one
        run on several devices with averaged gradients. Every random number is drawn as on one
        device, so the result equals the one-device run's up to float rounding (each device
        gathers the rollout to take its share of the one-device minibatches).
    """
    key = check_key(key)
    check_progress_every(progress_every)
    spec, params = resolve_spec(
        config,
        env=env,
        env_params=env_params,
        network=network,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
    )
    plan = make_plan(
        spec,
        params,
        np.asarray(key)[None],
        check_hyperparams(config, hp),
        shard=False,
        split_envs=split_envs,
    )
    state, metrics = execute(plan, progress_every)
    state = jax.tree.map(lambda x: x[0], state)
    return TrainResult(
        params=state.params,
        metrics={k: v[0] for k, v in metrics.items()},
        train_state=state,
    )


def estimate_run_bytes(plan_or_spec: Plan | TrainSpec) -> int:
    """An upper estimate of the device memory one run needs while it trains: the learner state
    (parameters, Adam moments, gradients), the rollout and its flattened and shuffled copies,
    the activations of one minibatch, the metrics."""
    spec = plan_or_spec.spec if isinstance(plan_or_spec, Plan) else plan_or_spec
    config, net = spec.config, spec.network
    params = jax.eval_shape(net.init, jax.ShapeDtypeStruct((2,), jnp.uint32))
    n_params = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
    obs = obs_size(net.obs_shape)
    state = 4 * n_params
    transition = config.batch_size * (2 * obs + 12 + 2 * net.action.size)
    batch = 2 * config.batch_size * (obs + 6 + net.action.size)
    hidden = config.recurrent_size if config.recurrent else 0
    widest = max([*config.hidden_sizes, hidden, obs])
    activations = 2 * 3 * config.minibatch_size * widest * (len(config.hidden_sizes) + 2)
    metrics = config.num_updates * (len(METRIC_NAMES) + 8)
    return int(MEMORY_SAFETY_FACTOR * 4 * (state + transition + batch + activations + metrics))


MEMORY_SAFETY_FACTOR = 3.0
"""Multiplier on the analytic per-run estimate (XLA keeps temporaries alive beside the carry)."""
