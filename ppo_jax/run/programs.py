"""Compiled programs: the init and update-range programs every experiment runs, and the
in-memory drivers :func:`train` and :func:`train_seeds`.

``train`` (one run) and ``train_seeds`` (many seeds, one compiled call) take the traced
hyperparameters as ``hp=`` (default: the config's). Compiled programs are cached by the static
part of the run only (:class:`~ppo_jax.core.spec.TrainSpec`: the
:class:`~ppo_jax.core.config.StaticConfig`, the environment, the network and the extension
points) and by the device layout: a new learning rate, gamma, clip_eps ..., passed as ``hp=`` or
as a changed config field, reuses the executable.

Every multi-run program is one of three, all mapped over runs by
:func:`ppo_jax.run.parallel.over_runs`: the whole run (``init`` and every update), the
initialisation alone, and a range of updates (checkpoint and progress segments; consecutive
ranges replay exactly the updates of the whole run). Sweeps and PBT compile the same programs
(``ppo_jax.run.sweep``, ``ppo_jax.run.pbt``).
"""

from __future__ import annotations

import concurrent.futures
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from ppo_jax.core.config import Hyperparams, PPOConfig
from ppo_jax.core.envs import is_batched_env, reset_envs
from ppo_jax.core.spec import Problem, ProblemKeywords, TrainSpec, problem_of
from ppo_jax.core.train import init_runner, scan_updates
from ppo_jax.core.types import Array, Metrics, Params, RunnerState, TrainState, metrics_dict
from ppo_jax.run import backend, parallel, progress
from ppo_jax.run.plan import (
    Plan,
    check_hyperparams,
    check_key,
    make_plan,
    plan_seeds,
    resolve_spec,
)

if TYPE_CHECKING:
    from typing import Unpack


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


RangeFn = Callable[..., tuple[Any, dict[str, Any]]]
"""``fn(runner, start[, hp]) -> (runner, metrics)``: :func:`compile_segments`'s function."""
SegmentFn = Callable[[Any, int], tuple[Any, dict[str, Any]]]
"""``fn(state, start) -> (state, metrics)``: a run of updates from ``start`` (the state is a
``RunnerState`` ``[R]``, or PBT's carry)."""


def compile_segments(
    plan: Plan, runner: Any, length: int, first: int = 0, programs: list[Any] | None = None
) -> RangeFn:
    """Compile ranges of ``length`` updates once: ``fn(runner, start) -> (runner, metrics
    [R, n])`` runs ``n = min(length, num_updates - start)`` updates. ``runner`` may be arrays
    or their shapes. ``fn(runner, start, hp)`` runs other runs of the same shapes with their
    own hyperparameters (a sweep's chunks, :mod:`ppo_jax.run.sweep`).

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

    def run(r: RunnerState, start: int, run_hp: Any = None) -> tuple[RunnerState, dict[str, Array]]:
        if not 0 <= start < num_updates:
            raise ValueError(f"start must be in [0, {num_updates}), got {start}")
        n = min(length, num_updates - start)
        masked = n < length or True in executables
        compiled = executable(masked, r)
        values = hp if run_hp is None else run_hp
        out, metrics = compiled(r, values, plan.env_params, jnp.int32(start), jnp.int32(start + n))
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


def train_seeds(
    config: PPOConfig,
    seeds: int | Sequence[int],
    *,
    hp: Any = None,
    problem: Problem | None = None,
    progress_every: int = 0,
    shard: bool | str = "auto",
    split_envs: bool = False,
    **keywords: Unpack[ProblemKeywords],
) -> TrainResult:
    """Train one agent per seed in ONE compiled call (``vmap`` over keys).

    Args:
      config: static settings (and the default hyperparameters).
      seeds: a list of ints in ``[0, 2**32)`` or an int count (``range(seeds)``).
      hp: traced hyperparameters (:class:`Hyperparams` or a dict of some of its fields);
        default ``config.hyperparams()``. A new value reuses the compiled program.
      problem: a :class:`~ppo_jax.Problem` (environment, its params, network, learning-rate
        schedule, metrics hook), or its parts as keywords: ``env``, ``env_params`` (a gymnax
        environment and params instead of ``config.env_name``), ``network`` (a flax Module
        ``obs -> (logits or mean, value)``), ``lr_schedule`` (an optax schedule of the
        gradient-step count), ``metrics_fn`` (``traj -> {name: scalar}`` logged per update).
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
        problem=problem_of(problem, keywords),
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
    problem: Problem | None = None,
    progress_every: int = 0,
    split_envs: bool = False,
    **keywords: Unpack[ProblemKeywords],
) -> TrainResult:
    """Train one PPO agent; the whole run is one compiled call (cached by the static part).

    Args:
      config: static settings (and the default hyperparameters).
      key: ``jax.random.PRNGKey(seed)``.
      hp, problem (or its parts as keywords), progress_every: as for :func:`train_seeds`.
      split_envs: split the environments (and every minibatch) over all local devices: one
        run on several devices with averaged gradients. Every random number is drawn as on one
        device, so the result equals the one-device run's up to float rounding (each device
        gathers the rollout to take its share of the one-device minibatches).
    """
    key = check_key(key)
    check_progress_every(progress_every)
    spec, params = resolve_spec(config, problem_of(problem, keywords))
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
