"""Population-based training (PBT) in one compiled program.

``pbt(config, space, population)`` trains ``population`` members whose traced hyperparameters
start from draws of ``space``; every ``interval`` updates, inside the compiled ``lax.scan`` over
intervals, the bottom ``fraction`` of the members (ranked by their training return over the
interval) copy the learner state of a top member and explore its hyperparameters
(``ppo_jax.core.pbt``). Members are sharded over the devices like a sweep's runs; the exploit
step's gather crosses devices inside the same program.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.config import TRACED_FIELDS, Hyperparams, PPOConfig
from ppo_jax.core.envs import trusted
from ppo_jax.core.pbt import (
    RANK_BY,
    PBTSettings,
    SearchDim,
    exploit_explore,
    interval_score,
)
from ppo_jax.core.spec import MetricsFn, Schedule, TrainSpec
from ppo_jax.core.types import Array, RunnerState, metrics_dict
from ppo_jax.io.rundir import RunResult
from ppo_jax.run import backend, drivers, parallel
from ppo_jax.run.sweep import LogUniform, Space, Uniform, check_space, random_settings


class PBTResult(NamedTuple):
    """Result of :func:`pbt`. ``P`` members, ``U`` updates, ``I`` intervals."""

    params: Any
    """Final parameters of every member, leaves ``[P, ...]``."""
    metrics: dict[str, np.ndarray]
    """``name -> [P, U]``: the built-in (and ``metrics_fn``) metrics of each member."""
    hyperparams: dict[str, np.ndarray]
    """``name -> [P, U]``: the value of every traced hyperparameter each member used at each
    update."""
    lineage: np.ndarray
    """``[P, I]`` int: whom each member copied at the end of each interval (itself when it was
    kept; the last interval has no exploit step, so its column is the identity)."""
    train_state: Any
    """Final learner states ``[P, ...]`` (optimiser state and observation statistics too)."""
    config: PPOConfig
    interval: int
    initial_settings: list[dict[str, float]]
    """The hyperparameters each member started from (draws of the space)."""

    def best_member(self, window: int = 10) -> int:
        """The member with the best mean training return over the last ``window`` updates."""
        tail = self.metrics["episode_return"][:, -window:]
        score = np.array([np.nanmean(r) if np.isfinite(r).any() else -np.inf for r in tail])
        return int(np.argmax(score))


class PBTPlan(NamedTuple):
    """A checked PBT run (from :func:`plan_pbt`), before anything is compiled."""

    plan: drivers.Plan
    """Members as the ``[P]`` runs of a plan (keys and initial hyperparameters)."""
    settings: PBTSettings
    interval: int
    num_intervals: int
    pbt_key: np.ndarray
    initial_settings: list[dict[str, float]]


def _search_dims(space: Space) -> tuple[SearchDim, ...]:
    dims = []
    for name, dist in space.items():
        if isinstance(dist, LogUniform):
            dims.append(SearchDim(name, "log", float(dist.low), float(dist.high)))
        elif isinstance(dist, Uniform):
            dims.append(SearchDim(name, "linear", float(dist.low), float(dist.high)))
        else:
            choices = tuple(sorted(float(v) for v in dist))
            dims.append(SearchDim(name, "choice", choices[0], choices[-1], choices))
    return tuple(dims)


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return int(value)


def _check_float(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    if not low <= float(value) <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def check_perturb(perturb: Any) -> tuple[float, ...]:
    """``perturb`` as a non-empty tuple of positive finite factors."""
    if isinstance(perturb, (str, bytes)) or not isinstance(perturb, Sequence) or not perturb:
        raise ValueError(f"perturb must be a non-empty list of factors > 0, got {perturb!r}")
    factors = []
    for f in perturb:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < float("inf"):
            raise ValueError(f"perturb must be a non-empty list of factors > 0, got {perturb!r}")
        factors.append(float(f))
    return tuple(factors)


def plan_pbt(
    config: PPOConfig,
    space: Space,
    population: int,
    *,
    seed: int = 0,
    interval: int = 10,
    fraction: float = 0.25,
    perturb: Sequence[float] = (0.8, 1.25),
    resample_probability: float = 0.25,
    rank_by: str = "episode_return",
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    devices: Sequence[Any] | None = None,
) -> PBTPlan:
    """Check every argument of :func:`pbt` and place the members, before compiling."""
    config = drivers.check_config(config)
    check_space(space)
    population = _check_int("population", population, 2, drivers.MAX_RUNS)
    (seed,) = drivers.seed_list([seed], "seed")
    interval = _check_int("interval", interval, 1, config.num_updates)
    fraction = _check_float("fraction", fraction, 0.0, 0.5)
    num_replaced = int(population * fraction)
    if fraction > 0 and num_replaced == 0:
        raise ValueError(
            f"fraction={fraction} of population={population} replaces no member; "
            f"use fraction >= {1 / population:.3g} or a larger population"
        )
    factors = check_perturb(perturb)
    resample_probability = _check_float("resample_probability", resample_probability, 0.0, 1.0)
    check_rank_by(rank_by, config, interval)
    if config.stop_at_return is not None:
        raise ValueError(
            "PPOConfig.stop_at_return does not combine with pbt: a member stopped at its target "
            "would still be ranked, and replaced, at every exploit step; set it to None"
        )
    if lr_schedule is not None and "learning_rate" in space:
        raise ValueError(
            "space['learning_rate'] has no effect with lr_schedule= (the schedule sets the "
            "learning rate); search it, or pass a schedule, not both"
        )
    for dim_name, dist in space.items():  # both bounds must be valid values of the field
        for bound in _bounds(dist):
            config.replace(**{dim_name: bound})
    spec, params_env = drivers.resolve_spec(
        config,
        env=env,
        env_params=env_params,
        network=network,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
    )
    _, pbt_key, members_key = _root_keys(seed)
    initial = initial_settings(space, population, seed)
    base = config.hyperparams()._asdict()
    hp = Hyperparams(
        **{
            name: np.asarray([s.get(name, base[name]) for s in initial], np.float32)
            for name in TRACED_FIELDS
        }
    )
    keys = np.asarray(jax.random.split(members_key, population), np.uint32)
    plan = drivers.make_plan(spec, params_env, keys, hp, hp_batched=True, devices=devices)
    settings = PBTSettings(
        _search_dims(space), num_replaced, factors, resample_probability, rank_by
    )
    num_intervals = -(-config.num_updates // interval)
    return PBTPlan(plan, settings, interval, num_intervals, np.asarray(pbt_key, np.uint32), initial)


def check_rank_by(rank_by: Any, config: PPOConfig, interval: int) -> None:
    """``ValueError`` unless ``rank_by`` is one of ``RANK_BY``; ``"eval_return"`` needs an
    evaluation at the end of every interval (``eval_every`` dividing ``interval``)."""
    if not isinstance(rank_by, str) or rank_by not in RANK_BY:
        raise ValueError(f"rank_by must be one of {RANK_BY}, got {rank_by!r}")
    if rank_by == "eval_return" and (not config.eval_every or interval % config.eval_every):
        raise ValueError(
            f"rank_by='eval_return' ranks members by the evaluations of each interval: "
            f"PPOConfig.eval_every (now {config.eval_every}) must be >= 1 and divide "
            f"interval={interval}"
        )


def _root_keys(seed: int) -> tuple[Array, Array, Array]:
    """``(settings, exploit/explore, members)`` keys of a PBT run's ``seed``."""
    settings_key, pbt_key, members_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    return settings_key, pbt_key, members_key


def initial_settings(space: Space, population: int, seed: int) -> list[dict[str, float]]:
    """The members' first hyperparameters, drawn from ``space`` with the run's ``seed``
    (nothing is built or compiled)."""
    return random_settings(space, population, _root_keys(seed)[0])


def _bounds(dist: Any) -> tuple[float, float]:
    """The smallest and largest value ``dist`` can take."""
    if isinstance(dist, (LogUniform, Uniform)):
        return float(dist.low), float(dist.high)
    return float(min(dist)), float(max(dist))


class PBTCarry(NamedTuple):
    """What the compiled PBT loop carries from interval to interval (leaves ``[P, ...]``,
    except ``key``)."""

    runner: RunnerState
    hp: Hyperparams
    """The traced hyperparameters each member uses in the next interval."""
    key: Array
    """Key of the exploit/explore choices."""

    @property
    def train_state(self) -> Any:
        return self.runner.train_state


def _intervals(
    spec: TrainSpec,
    layout: parallel.Layout,
    settings: PBTSettings,
    interval: int,
    num_intervals: int,
    count: int,
) -> Any:
    """``fn(carry, env_params, first) -> (carry, metrics, hps, parents)``: intervals
    ``first .. first + count - 1`` (each ``interval`` updates, then exploit/explore unless it is
    the last of the run), unjitted; outputs stacked over ``[count, P, ...]``."""
    segment = drivers.range_traceable(spec, layout, True, interval)
    num_updates = spec.config.num_updates

    def run(carry: PBTCarry, env_params: Any, first: Array) -> tuple[PBTCarry, Any, Any, Any]:
        def one_interval(c: PBTCarry, i: Array) -> tuple[PBTCarry, Any]:
            runner, metrics = segment(c.runner, c.hp, env_params, i * interval, num_updates)
            step_key, key = jax.random.split(c.key)
            scored = metrics_dict(metrics)[settings.rank_by]  # [P, interval]
            new_runner, new_hp, parents = exploit_explore(
                settings, runner, c.hp, interval_score(scored), step_key
            )
            last = i >= num_intervals - 1  # no exploit after the run's last interval
            keep = lambda new, old: jax.tree.map(  # noqa: E731
                lambda a, b: jnp.where(last, b, a), new, old
            )
            identity = jnp.arange(parents.shape[0], dtype=parents.dtype)
            parents = jnp.where(last, identity, parents)
            carry = PBTCarry(keep(new_runner, runner), keep(new_hp, c.hp), key)
            return carry, (metrics, c.hp, parents)

        steps = first + jnp.arange(count, dtype=jnp.int32)
        carry, (metrics, hps, parents) = jax.lax.scan(one_interval, carry, steps)
        return carry, metrics, hps, parents

    return run


@functools.lru_cache(maxsize=8)
def _whole_program(
    spec: TrainSpec,
    layout: parallel.Layout,
    settings: PBTSettings,
    interval: int,
    num_intervals: int,
    options: Any,
) -> Any:
    """Initialisation and every interval of the run: ONE compiled program."""
    init = drivers.init_traceable(spec, layout, True)
    intervals = _intervals(spec, layout, settings, interval, num_intervals, num_intervals)

    def program(keys: Array, hp: Hyperparams, env_params: Any, key: Array) -> Any:
        carry = PBTCarry(init(keys, hp, env_params), hp, key)
        return intervals(carry, env_params, jnp.int32(0))

    return backend.jit(program)


@functools.lru_cache(maxsize=8)
def _segment_program(
    spec: TrainSpec,
    layout: parallel.Layout,
    settings: PBTSettings,
    interval: int,
    num_intervals: int,
    count: int,
    options: Any,
) -> Any:
    """``count`` intervals from a given one (checkpointed sessions)."""
    return backend.jit(_intervals(spec, layout, settings, interval, num_intervals, count))


def compile_pbt(plan: PBTPlan) -> Any:
    """The compiled whole-run program of ``plan`` (cached: the same static settings reuse
    it): ``fn(keys, hp, env_params, key) -> (carry, metrics, hps, parents)``."""
    p = plan.plan
    program = _whole_program(
        p.spec, p.layout, plan.settings, plan.interval, plan.num_intervals, drivers._options()
    )
    keys, hp = drivers._inputs(p)
    return program.lower(keys, hp, p.env_params, plan.pbt_key).compile()


def init_carry(plan: PBTPlan) -> PBTCarry:
    """The members' fresh state (what the whole-run program starts from)."""
    p = plan.plan
    _, hp = drivers._inputs(p)
    runner = drivers.init_runs(p)
    return PBTCarry(runner, jax.tree.map(jnp.asarray, hp), jnp.asarray(plan.pbt_key))


def carry_template(plan: PBTPlan) -> PBTCarry:
    """Shapes and dtypes of the carried state (nothing is compiled or run)."""
    runner = drivers.runner_template(plan.plan)
    hp = jax.tree.map(lambda v: jax.ShapeDtypeStruct(np.shape(v), jnp.float32), plan.plan.hp)
    key: Any = jax.ShapeDtypeStruct((2,), jnp.uint32)
    return PBTCarry(runner, hp, key)


def _per_update(x: Any, num: int) -> np.ndarray:
    """``[I, P, interval]`` -> ``[P, I * interval]`` -> ``[P, :num]``."""
    x = np.asarray(x)
    return np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)[:, :num]


def segment_metrics(
    metrics: Any, hps: Any, parents: Any, interval: int, num: int
) -> dict[str, np.ndarray]:
    """The ``[P, num]`` rows of a run of intervals: the built-in (and custom) metrics, each
    traced hyperparameter as ``hp/<name>`` (the value used at that update) and ``pbt/parent``
    (whom the member copied after that update: itself except at an exploit step)."""
    out = {k: _per_update(v, num) for k, v in metrics_dict(metrics).items()}
    for name, v in hps._asdict().items():
        out[f"hp/{name}"] = _per_update(np.repeat(np.asarray(v)[:, :, None], interval, 2), num)
    per = np.asarray(parents)  # [I, P]
    rows = np.repeat(np.arange(per.shape[1])[None, :, None], interval, 2).repeat(
        per.shape[0], 0
    )  # [I, P, interval]: identity
    rows[:, :, -1] = per
    out["pbt/parent"] = _per_update(rows.astype(np.float32), num)
    return out


def compile_pbt_segments(plan: PBTPlan, carry: Any, length: int) -> drivers.SegmentFn:
    """Compile runs of ``length`` updates (a multiple of the interval) once: ``fn(carry,
    start) -> (carry, metrics [P, n])`` for ``start`` a multiple of the interval; a shorter
    last run reuses the executable."""
    p = plan.plan
    if length % plan.interval and length < p.config.num_updates:
        raise ValueError(f"segments must be multiples of the interval {plan.interval}")
    count = min(-(-length // plan.interval), plan.num_intervals)
    program = _segment_program(
        p.spec,
        p.layout,
        plan.settings,
        plan.interval,
        plan.num_intervals,
        count,
        drivers._options(),
    )
    compiled = program.lower(carry, p.env_params, jnp.int32(0)).compile()
    num_updates = p.config.num_updates

    def run(c: PBTCarry, start: int) -> tuple[PBTCarry, dict[str, np.ndarray]]:
        if start % plan.interval or not 0 <= start < num_updates:
            raise ValueError(f"start must be a multiple of {plan.interval} below {num_updates}")
        out, metrics, hps, parents = compiled(c, p.env_params, jnp.int32(start // plan.interval))
        n = min(count * plan.interval, num_updates - start)
        host = parallel.to_host((metrics, hps, parents))
        return out, segment_metrics(host[0], host[1], host[2], plan.interval, n)

    return run


def run_pbt(plan: PBTPlan) -> PBTResult:
    """Execute ``plan`` (one compiled call) and fetch the result to the host."""
    p = plan.plan
    keys, hp = drivers._inputs(p)
    carry, *outputs = compile_pbt(plan)(keys, hp, p.env_params, plan.pbt_key)
    carry, outputs = parallel.to_host((carry, outputs))
    metrics, hps, parents = outputs
    rows = segment_metrics(metrics, hps, parents, plan.interval, p.config.num_updates)
    return pbt_result(plan, carry, rows)


def pbt_result(plan: PBTPlan, carry: PBTCarry, rows: dict[str, np.ndarray]) -> PBTResult:
    """A :class:`PBTResult` from the final carry and the ``[P, U]`` rows of
    :func:`segment_metrics`."""
    metrics = {k: v for k, v in rows.items() if not k.startswith(("hp/", "pbt/"))}
    hyper = {k[3:]: v for k, v in rows.items() if k.startswith("hp/")}
    num_updates = rows["pbt/parent"].shape[1]
    ends = np.minimum(np.arange(plan.num_intervals) * plan.interval + plan.interval, num_updates)
    parents = rows["pbt/parent"][:, ends - 1]  # after each interval's last update
    return PBTResult(
        params=carry.runner.train_state.params,
        metrics=metrics,
        hyperparams=hyper,
        lineage=parents.astype(np.int64),
        train_state=carry.runner.train_state,
        config=plan.plan.config,
        interval=plan.interval,
        initial_settings=plan.initial_settings,
    )


def pbt(
    config: PPOConfig,
    space: Mapping[str, Any],
    population: int,
    *,
    seed: int = 0,
    interval: int = 10,
    fraction: float = 0.25,
    perturb: Sequence[float] = (0.8, 1.25),
    resample_probability: float = 0.25,
    rank_by: str = "episode_return",
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    devices: Sequence[Any] | None = None,
) -> PBTResult:
    """Population-based training of ``population`` members in ONE compiled program.

    Args:
      config: static settings; unsearched hyperparameters come from it.
      space: ``{field: LogUniform | Uniform | [choices]}`` over
        :data:`~ppo_jax.core.config.TRACED_FIELDS`, as for :func:`ppo_jax.random_settings`.
        Members start from independent draws; explored values stay inside its bounds.
      population: number of members ``P`` (>= 2).
      seed: seeds the initial draws, the members' runs and the exploit/explore choices.
      interval: updates between exploit/explore steps.
      fraction: the bottom ``int(P * fraction)`` members (by mean training return over the
        interval) copy a member of the top ``int(P * fraction)``; in ``[0, 0.5]``.
      perturb: factors an inherited continuous value is multiplied by (one drawn uniformly);
        a choice moves one step up or down its sorted list.
      resample_probability: chance that an inherited value is drawn afresh instead.
      rank_by: ``"episode_return"`` (the mean training return of the interval) or
        ``"eval_return"`` (the evaluations during training in it; needs
        ``config.eval_every`` dividing ``interval``).
      env, env_params, network, lr_schedule, metrics_fn: as for :func:`ppo_jax.train_seeds`.
      devices: devices to shard the members over (default: all, when they divide ``P``).

    Returns:
      :class:`PBTResult` with ``params`` ``[P, ...]``, ``metrics`` and ``hyperparams``
      ``name -> [P, U]`` and ``lineage`` ``[P, intervals]``.
    """
    plan = plan_pbt(
        config,
        space,
        population,
        seed=seed,
        interval=interval,
        fraction=fraction,
        perturb=perturb,
        resample_probability=resample_probability,
        rank_by=rank_by,
        env=env,
        env_params=env_params,
        network=network,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
        devices=devices,
    )
    return run_pbt(plan)


# --------------------------------------------------------------------------- sessions
PBT_METRICS = len(TRACED_FIELDS) + 1
"""Metric rows a PBT checkpoint holds beyond a train run's: ``hp/<name>`` and ``pbt/parent``."""
PBT_FILE_KEY = "pbt"
"""``config.json`` entry holding the PBT settings (space, population, seed, interval ...)."""


def space_to_json(space: Mapping[str, Any]) -> dict[str, Any]:
    """``space`` as JSON: ``{"log": [lo, hi]}``, ``{"uniform": [lo, hi]}`` or
    ``{"choices": [...]}`` per field."""
    out: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, LogUniform):
            out[name] = {"log": [float(dist.low), float(dist.high)]}
        elif isinstance(dist, Uniform):
            out[name] = {"uniform": [float(dist.low), float(dist.high)]}
        else:
            out[name] = {"choices": [float(v) for v in dist]}
    return out


def space_from_json(doc: Any, where: str) -> dict[str, Any]:
    """The inverse of :func:`space_to_json`; ``ValueError`` naming ``where`` if malformed."""
    if not isinstance(doc, dict) or not doc:
        raise ValueError(f"{where}: 'space' must be a non-empty object")
    space: dict[str, Any] = {}
    for name, entry in doc.items():
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ValueError(f"{where}: space[{name!r}] must be one of log/uniform/choices")
        (kind, values), *_ = entry.items()
        ok = isinstance(values, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e300
            for v in values
        )
        if kind in ("log", "uniform") and ok and len(values) == 2:
            space[name] = (LogUniform if kind == "log" else Uniform)(*map(float, values))
        elif kind == "choices" and ok and values:
            space[name] = [float(v) for v in values]
        else:
            raise ValueError(f"{where}: space[{name!r}] is malformed: {str(entry)[:80]}")
    check_space(space)
    return space


def run_pbt_experiment(
    config: PPOConfig | None,
    space: Mapping[str, Any] | None,
    population: int | None,
    out_dir: str | Path | None,
    *,
    seed: int = 0,
    interval: int = 10,
    fraction: float = 0.25,
    perturb: Sequence[float] = (0.8, 1.25),
    resample_probability: float = 0.25,
    rank_by: str = "episode_return",
    resume: bool = False,
    stop_after: int | None = None,
    checkpoint_every: int | None = None,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    tensorboard: str | Path | None = None,
    wandb: str | None = None,
    wandb_mode: str | None = None,
    progress: Any = None,
    log: Callable[[str], None] | None = None,
    trust_env_module: bool = False,
) -> RunResult:
    """Everything ``ppo-jax pbt`` does: :func:`pbt` in a run folder, checkpointed every
    ``checkpoint_every`` updates (a multiple of ``interval``; default about 10% of the run),
    resumable bit for bit (``resume=True``: ``config``, ``space`` and ``population`` may be
    ``None``, read from the folder), with ``metrics.csv``/``metrics.jsonl`` (rows are members;
    ``hp/<name>`` and ``pbt/parent`` columns beside the metrics), TensorBoard/W&B, and plots of
    every member's return and hyperparameters. The rows of the returned
    :class:`~ppo_jax.io.rundir.RunResult` are the members (``seeds`` holds member indices).
    Arguments as for :func:`pbt` and :func:`ppo_jax.run_experiment` (``trust_env_module``:
    resuming a folder whose config names a ``module:attribute`` environment imports it only
    when True)."""
    from ppo_jax.io import rundir
    from ppo_jax.io.console import resolve_style
    from ppo_jax.run import session

    say = log or (lambda _: None)
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be a bool, got {resume!r}")
    if not callable(progress):
        resolve_style(progress)
    if tensorboard is not None:
        rundir.check_output_folder(tensorboard, "tensorboard")
    stop = session._check_int("stop_after", stop_after, 1)
    every = session._check_int("checkpoint_every", checkpoint_every, 0)
    if stop is not None and every == 0:
        raise ValueError("stop_after pauses at a checkpoint: it needs checkpoint_every >= 1")
    options: dict[str, Any] = {
        "seed": seed,
        "interval": interval,
        "fraction": fraction,
        "perturb": perturb,
        "resample_probability": resample_probability,
    }
    if rank_by != "episode_return":  # recorded only when not the default (older folders)
        options["rank_by"] = rank_by
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs the run folder to continue (out_dir)")
        config, space, population, every, options = _saved_pbt(
            Path(out_dir), config, space, population, every
        )
        config = trusted(config, trust_env_module)
    elif config is None or space is None or population is None:
        raise ValueError("config, space and population are needed to start a PBT run")
    extensions = {"network": network, "lr_schedule": lr_schedule, "metrics_fn": metrics_fn}
    plan = plan_pbt(
        config, space, population, env=env, env_params=env_params, **extensions, **options
    )
    session._check_memory(plan.plan)
    num_updates = plan.plan.config.num_updates
    if every is None:
        every = plan.interval * max(
            1, round(num_updates / session.CHECKPOINTS_PER_RUN / plan.interval)
        )
        every = min(every, num_updates)
    elif every and every % plan.interval and every != num_updates:
        raise ValueError(
            f"checkpoint_every={every} must be a multiple of interval={plan.interval} (or 0)"
        )
    stop_at = num_updates if stop is None else min(num_updates, math.ceil(stop / every) * every)
    pbt_doc = {
        "space": space_to_json(space),
        "population": plan.plan.num_runs,
        **options,
        "perturb": [float(f) for f in options["perturb"]],
    }
    members = list(range(plan.plan.num_runs))
    hp_record = config.hyperparams()._asdict()
    identity = session._identity(config, members, hp_record, env, **extensions)
    identity.update(kind="pbt", **pbt_doc)
    template = carry_template(plan)
    state_bytes, bound = session.checkpoint_size(template, len(members), num_updates, PBT_METRICS)
    setup = session._Setup(
        drivers.check_config(config),
        plan.plan,
        members,
        every,
        stop_at,
        identity,
        template,
        state_bytes,
        bound,
        kind="pbt",
        init=lambda: init_carry(plan),
        compile=lambda carry, length: compile_pbt_segments(plan, carry, length),
        unit=plan.interval,
        row_label="member",
        extra={PBT_FILE_KEY: pbt_doc},
    )
    out, lock, ckpt = session._claim(setup, out_dir, resume, None)
    with lock:
        result = session._train(setup, out, ckpt, tensorboard, wandb, wandb_mode, progress, say)
        if result.metrics:
            write_pbt_plots(out, result)
    return result._replace(kind="pbt", settings=plan.initial_settings)


def _saved_pbt(
    out: Path, config: Any, space: Any, population: Any, every: int | None
) -> tuple[PPOConfig, dict[str, Any], int, int, dict[str, Any]]:
    """Config, space, population, checkpoint interval and options of a PBT folder to resume;
    what the caller gave must equal what was saved."""
    from ppo_jax.io import rundir
    from ppo_jax.run.session import check_config_equal

    saved = rundir.read_run_config(out)
    if saved.kind != "pbt":
        raise ValueError(f"{str(out)!r} holds a {saved.kind} run, not a PBT run")
    saved_space, saved_population, options = saved_settings(out, saved)
    if config is not None:
        differences = check_config_equal(config, saved.config)
        if differences:
            raise ValueError(f"resume: config differs from the saved one in {differences}")
        saved = saved._replace(config=config)  # the caller's: named on this call
    if space is not None and space_to_json(space) != space_to_json(saved_space):
        raise ValueError("resume: space differs from the saved one")
    if population is not None and population != saved_population:
        raise ValueError(f"resume: population {population} differs from {saved_population}")
    if every is not None and every != saved.checkpoint_every:
        raise ValueError(
            f"resume: checkpoint_every={every} differs from the saved {saved.checkpoint_every}"
        )
    return saved.config, saved_space, saved_population, saved.checkpoint_every, options


def saved_settings(out: Path, saved: Any) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Space, population and the other :func:`pbt` options recorded in a PBT folder's
    ``config.json`` (``saved``, its :class:`~ppo_jax.io.rundir.RunConfig`); ``ValueError``
    naming the file when they are missing or malformed."""
    from ppo_jax.io import rundir

    where = f"{str(out / rundir.CONFIG_FILE)!r}"
    doc = saved.extra.get(PBT_FILE_KEY)
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: missing the {PBT_FILE_KEY!r} settings")
    saved_space = space_from_json(doc.get("space"), where)
    try:
        options = {
            "seed": int(doc["seed"]),
            "interval": int(doc["interval"]),
            "fraction": float(doc["fraction"]),
            "perturb": tuple(float(f) for f in doc["perturb"]),
            "resample_probability": float(doc["resample_probability"]),
        }
        if "rank_by" in doc:
            options["rank_by"] = str(doc["rank_by"])
        saved_population = int(doc["population"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise ValueError(f"{where}: the {PBT_FILE_KEY!r} settings are incomplete") from None
    return saved_space, saved_population, options


def write_pbt_plots(out: Path, result: RunResult) -> Path:
    """``hyperparameters.png``: each member's return and searched hyperparameters over
    training."""
    from ppo_jax.io.plotting import hyperparameter_trajectories, save_figure, update_steps

    path = out / HYPERPARAMETERS_PLOT
    fig = hyperparameter_trajectories(
        update_steps(result.metrics),
        result.metrics["episode_return"],
        {k[3:]: v for k, v in result.metrics.items() if k.startswith("hp/")},
        f"{result.config.env_name}: PBT, {len(result.seeds)} members",
    )
    save_figure(fig, path)
    return path


HYPERPARAMETERS_PLOT = "hyperparameters.png"


def load_pbt(out: Path, saved: Any, results: Any) -> RunResult:
    """A PBT folder as a :class:`RunResult` (rows: members): metrics from ``results.json`` or
    the newest checkpoint, parameters from the newest checkpoint. Builds no environment (see
    :func:`ppo_jax.load_run`)."""
    from ppo_jax.run import session

    space, population, options = saved_settings(out, saved)  # the space checked as it is read
    population = _check_int("population", population, 2, drivers.MAX_RUNS)
    (seed,) = drivers.seed_list([options["seed"]], "seed")
    members = list(range(population))
    params = train_state = None
    metrics: dict[str, np.ndarray] = {}
    completed, status = False, "incomplete"
    num_updates = saved.config.num_updates
    loaded = session.newest_learner(out, ".runner.train_state", population)
    if loaded is not None:
        train_state, ckpt = loaded
        params = train_state.params
        metrics = session.check_metrics(ckpt.metrics, population, f"checkpoint of {str(out)!r}")
        completed, status = session.checkpoint_status(ckpt, num_updates)
    run = RunResult(
        config=saved.config,
        seeds=members,
        params=params,
        metrics=metrics,
        completed=completed,
        status=status,
        out_dir=out,
        train_state=train_state,
        kind="pbt",
        settings=initial_settings(space, population, seed),
    )
    best = session.read_best(out, population) or {}
    run = run._replace(best_params=best.get("params"), best_obs_norm=best.get("obs_norm"))
    return session.with_results(run, results)
