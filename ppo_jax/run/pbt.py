"""Population-based training (PBT) in one compiled program, and PBT experiments.

``pbt(config, space, population)`` trains ``population`` members whose traced hyperparameters
start from draws of ``space``; every ``interval`` updates, inside the compiled ``lax.scan`` over
intervals, the bottom ``fraction`` of the members (ranked by their training return over the
interval) copy the learner state of a top member and explore its hyperparameters (the pure
steps: ``ppo_jax.core.exploit``). Members are sharded over the devices like a sweep's runs; the
exploit step's gather crosses devices inside the same program.

:func:`run_pbt_experiment` (``ppo-jax pbt``) runs it as an experiment of the one pipeline
(``ppo_jax.run.experiment``): a run folder, checkpoints every multiple of the interval,
``resume`` bit for bit, metric sinks (``hp/<name>`` and ``pbt/parent`` columns beside the
metrics) and the plots of every member's return and hyperparameters.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.config import TRACED_FIELDS, Hyperparams, PPOConfig
from ppo_jax.core.exploit import (
    RANK_BY,
    PBTSettings,
    exploit_explore,
    initial_settings,
    interval_score,
    root_keys,
    search_dims,
    space_bounds,
)
from ppo_jax.core.search import Space, check_space
from ppo_jax.core.spec import Problem, ProblemKeywords, TrainSpec, problem_of
from ppo_jax.core.types import Array, RunnerState, metrics_dict
from ppo_jax.io import rundir
from ppo_jax.io.plotting import write_pbt_plots
from ppo_jax.run import backend, parallel, programs
from ppo_jax.run import experiment as pipeline
from ppo_jax.run import plan as planning

if TYPE_CHECKING:
    from typing import Unpack


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

    plan: planning.Plan
    """Members as the ``[P]`` runs of a plan (keys and initial hyperparameters)."""
    settings: PBTSettings
    interval: int
    num_intervals: int
    pbt_key: np.ndarray
    initial_settings: list[dict[str, float]]
    base_config: PPOConfig
    """The config as given (``plan.config`` is its static part)."""


def check_int_range(name: str, value: Any, low: int, high: int) -> int:
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
    devices: Sequence[Any] | None = None,
    problem: Problem | None = None,
    **keywords: Unpack[ProblemKeywords],
) -> PBTPlan:
    """Check every argument of :func:`pbt` and place the members, before compiling."""
    problem = problem_of(problem, keywords)
    config = planning.check_config(config)
    check_space(space)
    population = check_int_range("population", population, 2, planning.MAX_RUNS)
    (seed,) = planning.seed_list([seed], "seed")
    interval = check_int_range("interval", interval, 1, config.num_updates)
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
    if problem.lr_schedule is not None and "learning_rate" in space:
        raise ValueError(
            "space['learning_rate'] has no effect with lr_schedule= (the schedule sets the "
            "learning rate); search it, or pass a schedule, not both"
        )
    for dim_name, dist in space.items():  # both bounds must be valid values of the field
        for bound in space_bounds(dist):
            config.replace(**{dim_name: bound})
    spec, params_env = planning.resolve_spec(config, problem)
    _, pbt_key, members_key = root_keys(seed)
    initial = initial_settings(space, population, seed)
    base = config.hyperparams()._asdict()
    hp = Hyperparams(
        **{
            name: np.asarray([s.get(name, base[name]) for s in initial], np.float32)
            for name in TRACED_FIELDS
        }
    )
    keys = np.asarray(jax.random.split(members_key, population), np.uint32)
    plan = planning.make_plan(spec, params_env, keys, hp, hp_batched=True, devices=devices)
    settings = PBTSettings(search_dims(space), num_replaced, factors, resample_probability, rank_by)
    num_intervals = -(-config.num_updates // interval)
    return PBTPlan(
        plan, settings, interval, num_intervals, np.asarray(pbt_key, np.uint32), initial, config
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
    devices: Sequence[Any] | None = None,
    problem: Problem | None = None,
    **keywords: Unpack[ProblemKeywords],
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
      devices: devices to shard the members over (default: all, when they divide ``P``).
      problem: a :class:`~ppo_jax.Problem`, or its parts as keywords (``env``, ``env_params``,
        ``network``, ``lr_schedule``, ``metrics_fn``), as for :func:`ppo_jax.train_seeds`.

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
        devices=devices,
        problem=problem_of(problem, keywords),
    )
    return run_pbt(plan)


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
    segment = programs.range_traceable(spec, layout, True, interval)
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
    init = programs.init_traceable(spec, layout, True)
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
        p.spec, p.layout, plan.settings, plan.interval, plan.num_intervals, programs.cache_options()
    )
    keys, hp = programs.device_inputs(p)
    return program.lower(keys, hp, p.env_params, plan.pbt_key).compile()


def init_carry(plan: PBTPlan) -> PBTCarry:
    """The members' fresh state (what the whole-run program starts from)."""
    p = plan.plan
    _, hp = programs.device_inputs(p)
    runner = programs.init_runs(p)
    return PBTCarry(runner, jax.tree.map(jnp.asarray, hp), jnp.asarray(plan.pbt_key))


def carry_template(plan: PBTPlan) -> PBTCarry:
    """Shapes and dtypes of the carried state (nothing is compiled or run)."""
    runner = programs.runner_template(plan.plan)
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


def compile_pbt_segments(plan: PBTPlan, carry: Any, length: int) -> programs.SegmentFn:
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
        programs.cache_options(),
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
    keys, hp = programs.device_inputs(p)
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
        config=plan.base_config,
        interval=plan.interval,
        initial_settings=plan.initial_settings,
    )


# --------------------------------------------------------------------------- the experiment
def pbt_experiment(
    plan: PBTPlan,
    config: PPOConfig,
    space: Mapping[str, Any],
    options: dict[str, Any],
    problem: Problem,
    checkpoint_every: int | None = None,
) -> pipeline.Experiment:
    """The :class:`~ppo_jax.run.experiment.Experiment` of a planned PBT run (``ppo-jax
    pbt``): its rows are the members."""
    num_updates = plan.plan.config.num_updates
    every = pipeline.default_checkpoint_every(num_updates, checkpoint_every, plan.interval)
    pbt_doc = {
        "space": rundir.space_to_json(space),
        "population": plan.plan.num_runs,
        **options,
        "perturb": [float(f) for f in options["perturb"]],
    }
    members = list(range(plan.plan.num_runs))
    identity = pipeline.run_identity(
        "pbt", config, members, config.hyperparams()._asdict(), problem
    )
    identity.update(pbt_doc)
    record = rundir.RunConfig(
        "pbt",
        config,
        members,
        every,
        settings=plan.initial_settings,
        extra={"identity": identity, rundir.PBT_FILE_KEY: pbt_doc},
    )

    def outputs(out: Path, result: rundir.RunResult) -> dict[str, Any]:
        write_pbt_plots(out, result)
        return {}

    return pipeline.Experiment(
        kind="pbt",
        config=config,
        plan=plan.plan,
        rows=[(m,) for m in members],
        row_names=("member",),
        record=record,
        template=carry_template(plan),
        init=lambda: init_carry(plan),
        compile=lambda carry, length, first: compile_pbt_segments(plan, carry, length),
        unit=plan.interval,
        extra_metrics=rundir.PBT_METRICS,
        settings=plan.initial_settings,
        outputs=outputs,
    )


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
    problem: Problem | None = None,
    **keywords: Unpack[pipeline.ExperimentKeywords],
) -> rundir.RunResult:
    """Everything ``ppo-jax pbt`` does: :func:`pbt` as an experiment of the one pipeline, in a
    run folder, checkpointed every ``checkpoint_every`` updates (a multiple of ``interval``;
    default about 10% of the run), resumable bit for bit (``resume=True``: ``config``,
    ``space`` and ``population`` may be ``None``, read from the folder), with
    ``metrics.csv``/``metrics.jsonl`` (rows are members; ``hp/<name>`` and ``pbt/parent``
    columns beside the metrics), TensorBoard/W&B, and plots of every member's return and
    hyperparameters. The rows of the returned :class:`~ppo_jax.io.rundir.RunResult` are the
    members (``seeds`` holds member indices). Arguments as for :func:`pbt`; ``problem`` (or
    its parts) and the session's options (``resume``, ``stop_after``, ``checkpoint_every``,
    ``tensorboard``, ``wandb``, ``wandb_mode``, ``progress``, ``log``,
    ``trust_env_module``) as for :func:`ppo_jax.run_experiment`."""
    session, problem = pipeline.split_keywords(dict(keywords), problem)
    options: dict[str, Any] = {
        "seed": seed,
        "interval": interval,
        "fraction": fraction,
        "perturb": perturb,
        "resample_probability": resample_probability,
    }
    if rank_by != "episode_return":  # recorded only when not the default (older folders)
        options["rank_by"] = rank_by
    every = session.checkpoint_every
    if session.resume:
        saved = pipeline.saved_run(out_dir, "pbt", config, session)
        saved_space, saved_population, options = saved_pbt(Path(str(out_dir)), saved)
        if space is not None and rundir.space_to_json(space) != rundir.space_to_json(saved_space):
            raise ValueError("resume: space differs from the saved one")
        if population is not None and population != saved_population:
            raise ValueError(f"resume: population {population} differs from {saved_population}")
        config, space, population = saved.config, saved_space, saved_population
        every = saved.checkpoint_every
    elif config is None or space is None or population is None:
        raise ValueError("config, space and population are needed to start a PBT run")
    plan = plan_pbt(config, space, population, problem=problem, **options)
    planning.check_memory(plan.plan)
    experiment = pbt_experiment(plan, planning.check_config(config), space, options, problem, every)
    result = pipeline.run(experiment, out_dir, session)
    return result._replace(kind="pbt", settings=plan.initial_settings)


def saved_pbt(out: Path, saved: rundir.RunConfig) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Space, population and the other :func:`pbt` options a PBT folder records."""
    from ppo_jax.io.runload import saved_settings

    return saved_settings(out, saved)
