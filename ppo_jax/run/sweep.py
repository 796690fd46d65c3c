"""Hyperparameter sweeps: every setting x seed in one compiled program, sharded over devices.

The settings x seeds grid is flattened to one runs axis of size ``P = settings * seeds``. Each
run gets its own key (``PRNGKey(seed)``) and its own traced :class:`Hyperparams`; the compiled
programs are the ones every experiment runs (``ppo_jax.run.programs``), mapped over the runs
(``ppo_jax.run.parallel``), so 1, 2 host devices, 8 GPUs or several hosts (``jax.distributed``)
run the same code. If the runs do not fit in memory at once, they are split into equal chunks
run one after another by one compiled function.

:func:`sweep` trains in memory; :func:`run_sweep_experiment` (``ppo-jax sweep``) runs the sweep
as an experiment of the one pipeline (``ppo_jax.run.experiment``): a run folder with
checkpoints, ``resume`` that continues bit for bit, ``stop_after``, a checkpoint on SIGTERM,
TensorBoard and W&B with one series per setting and seed, evaluation and stopping at a target,
then ``sweep.csv`` (the settings ranked), ``metrics.csv``, ``results.json`` and the plots. Search
spaces and settings tables: :mod:`ppo_jax.core.search`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import numpy as np

from ppo_jax.core.config import Hyperparams, PPOConfig
from ppo_jax.core.envs import is_batched_env
from ppo_jax.core.search import (
    Setting,
    normalize_settings,
    settings_hyperparams,
)
from ppo_jax.core.spec import Problem, ProblemKeywords, problem_of
from ppo_jax.io import rundir
from ppo_jax.io.plotting import setting_curves
from ppo_jax.io.stats import final_return, iqm_interval, solved_threshold, steps_to_solve
from ppo_jax.run import experiment as pipeline
from ppo_jax.run import parallel, programs
from ppo_jax.run import plan as planning
from ppo_jax.run.programs import TrainResult

if TYPE_CHECKING:
    from typing import Unpack

MEMORY_BUDGET_FRACTION = 0.5
"""Share of the free device memory a sweep chunk may plan to use."""


class SweepResult(NamedTuple):
    """Result of :func:`sweep`. Leaves of ``params``/``metrics``/``train_state`` have leading
    ``[settings, seeds]`` axes; ``settings[i]`` is the hyperparameter setting of row ``i``."""

    settings: list[Setting]
    seeds: list[int]
    params: Any
    metrics: dict[str, np.ndarray]
    train_state: Any
    chunk_size: int
    """Runs per compiled call (a multiple of the device count)."""
    num_chunks: int
    """Compiled calls made one after another (1: everything ran at once)."""
    num_devices: int
    config: PPOConfig | None = None
    """The base config of the sweep."""
    status: str = "finished"
    """``finished``, ``paused ...``, ``interrupted ...`` or ``stopped: ...`` (a sweep run in a
    folder, :func:`run_sweep_experiment`); the metrics hold the updates done."""
    out_dir: Path | None = None
    """The run folder (:func:`run_sweep_experiment`), else ``None``."""
    checkpoint: Path | None = None
    """The newest checkpoint written (``None`` if none was)."""

    def row(self, i: int) -> TrainResult:
        """Setting ``i`` as a :class:`TrainResult` with a leading seed axis."""
        pick = lambda x: x[i]  # noqa: E731
        return TrainResult(
            params=jax.tree.map(pick, self.params),
            metrics={k: v[i] for k, v in self.metrics.items()},
            train_state=jax.tree.map(pick, self.train_state),
        )


def plan_chunks(
    num_runs: int,
    num_devices: int,
    run_bytes: int,
    free_bytes: int,
    chunk_size: int | None = None,
) -> tuple[int, int]:
    """``(chunk_size, num_chunks)``: the largest chunk (a multiple of ``num_devices``) whose
    runs fit in ``MEMORY_BUDGET_FRACTION`` of each device's free memory, or the forced size."""
    if chunk_size is not None:
        if (
            isinstance(chunk_size, bool)
            or not isinstance(chunk_size, int)
            or not 1 <= chunk_size <= planning.MAX_RUNS
        ):
            raise ValueError(
                f"chunk_size must be an int in [1, {planning.MAX_RUNS}], got {chunk_size!r}"
            )
        if chunk_size % num_devices:
            raise ValueError(
                f"chunk_size={chunk_size} must be a multiple of the device count {num_devices}"
            )
        size = chunk_size
    else:
        per_device = max(1, int(MEMORY_BUDGET_FRACTION * free_bytes // max(run_bytes, 1)))
        needed_per_device = math.ceil(num_runs / num_devices)
        size = min(per_device, needed_per_device) * num_devices
    size = min(size, math.ceil(num_runs / num_devices) * num_devices)
    return size, math.ceil(num_runs / size)


class SweepPlan(NamedTuple):
    """How :func:`run_sweep` will execute a sweep (from :func:`plan_sweep`)."""

    base_config: PPOConfig
    """The config as given (its traced fields are the unswept hyperparameters)."""
    plan: planning.Plan
    """The first chunk's plan (keys and hyperparameters of its runs)."""
    settings: list[Setting]
    seeds: list[int]
    chunk_size: int
    num_chunks: int
    run_bytes: int
    """Estimated device memory of one run."""
    free_bytes: int
    """Free memory per device the plan was made for."""

    @property
    def config(self) -> PPOConfig:
        return self.base_config

    @property
    def num_runs(self) -> int:
        return len(self.settings) * len(self.seeds)

    @property
    def num_devices(self) -> int:
        return self.plan.layout.size

    def chunk(self, c: int) -> planning.Plan:
        """The plan of chunk ``c`` (runs ``c * chunk_size ...``; padding repeats run 0)."""
        n_seed = len(self.seeds)
        keys = np.asarray(planning.seed_keys(self.seeds))
        flat_keys = np.tile(keys, (len(self.settings), 1))  # run p = i * n_seed + j
        hp_all = settings_hyperparams(self.base_config, self.settings)
        flat_hp = [np.repeat(np.asarray(v), n_seed) for v in hp_all]
        idx = np.arange(c * self.chunk_size, (c + 1) * self.chunk_size)
        idx = np.where(idx < self.num_runs, idx, 0)
        return self.plan._replace(
            keys=flat_keys[idx], hp=Hyperparams(*[v[idx] for v in flat_hp]), hp_batched=True
        )


# --------------------------------------------------------------------------- planning
def plan_sweep(
    config: PPOConfig,
    grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
    seeds: int | Sequence[int],
    *,
    chunk_size: int | None = None,
    devices: Sequence[Any] | None = None,
    memory_bytes: int | None = None,
    problem: Problem | None = None,
    **keywords: Unpack[ProblemKeywords],
) -> SweepPlan:
    """Validate a sweep and decide how to split it, before anything is compiled.

    See :func:`sweep` for the arguments.
    """
    config = planning.check_config(config)
    settings = normalize_settings(config, grid)
    seed_list = planning.seed_list(seeds)
    if len(settings) * len(seed_list) > planning.MAX_RUNS:
        raise ValueError(
            f"{len(settings)} settings x {len(seed_list)} seeds = "
            f"{len(settings) * len(seed_list)} runs; at most {planning.MAX_RUNS}"
        )
    spec, params_env = planning.resolve_spec(config, problem_of(problem, keywords))
    devs = list(jax.devices()) if devices is None else list(devices)
    if not devs:
        raise ValueError("devices must not be empty")
    if is_batched_env(spec.env):  # one C++ pool steps every run's environments: one device
        devs = devs[:1]
    num_runs = len(settings) * len(seed_list)
    run_bytes = planning.estimate_run_bytes(spec)
    if memory_bytes is None:
        local = [d for d in devs if d.process_index == jax.process_index()]
        memory_bytes = min(planning.free_device_memory(d) for d in local)
    size, num_chunks = plan_chunks(num_runs, len(devs), run_bytes, memory_bytes, chunk_size)
    layout = parallel.Layout(tuple(devs), len(devs), 1)
    first = planning.Plan(
        spec,
        params_env,
        layout,
        np.zeros((size, 2), np.uint32),
        settings_hyperparams(config, settings[:1] * size),
        True,
    )
    plan = SweepPlan(config, first, settings, seed_list, size, num_chunks, run_bytes, memory_bytes)
    return plan._replace(plan=plan.chunk(0))


def compile_sweep_chunk(plan: SweepPlan) -> Any:
    """Compile one chunk of the sweep ahead of time (for timing compilation)."""
    return programs.compile_whole(plan.plan)


def run_sweep(plan: SweepPlan, *, progress_every: int = 0) -> SweepResult:
    """Execute ``plan`` in memory: one compiled function, called once per chunk."""
    programs.check_progress_every(progress_every)
    pieces = [
        parallel.to_host(programs.execute(plan.chunk(c), progress_every))
        for c in range(plan.num_chunks)
    ]
    state, metrics = jax.tree.map(lambda *xs: np.concatenate(xs)[: plan.num_runs], *pieces)
    return sweep_result(plan, state, metrics)


def sweep_result(
    plan: SweepPlan, state: Any, metrics: dict[str, np.ndarray], **fields: Any
) -> SweepResult:
    """A :class:`SweepResult` from the ``[P]`` learner states and ``[P, U]`` metrics of the
    flattened runs (setting slowest)."""
    n_set, n_seed = len(plan.settings), len(plan.seeds)

    def unflat(x: Any) -> np.ndarray:
        x = np.asarray(x)
        return x.reshape(n_set, n_seed, *x.shape[1:])

    state = jax.tree.map(unflat, state)
    return SweepResult(
        settings=plan.settings,
        seeds=plan.seeds,
        params=state.params,
        metrics={k: unflat(v) for k, v in metrics.items()},
        train_state=state,
        chunk_size=plan.chunk_size,
        num_chunks=plan.num_chunks,
        num_devices=plan.num_devices,
        config=plan.base_config,
        **fields,
    )


def sweep(
    config: PPOConfig,
    grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
    seeds: int | Sequence[int],
    *,
    chunk_size: int | None = None,
    devices: Sequence[Any] | None = None,
    memory_bytes: int | None = None,
    problem: Problem | None = None,
    progress_every: int = 0,
    **keywords: Unpack[ProblemKeywords],
) -> SweepResult:
    """Train every setting of ``grid`` with every seed: one compiled program, sharded.

    Args:
      config: base settings; unswept hyperparameters come from it.
      grid: ``{field: [values]}`` (full Cartesian product) or a list of settings dicts (see
        also :func:`random_settings`). Only :data:`ppo_jax.core.config.TRACED_FIELDS` may be
        swept.
      seeds: an int count or a list of seeds; run (i, j) uses ``PRNGKey(seeds[j])``.
      chunk_size: force this many runs per compiled call (a multiple of the device count);
        default: as many as fit in memory.
      devices: devices to shard the runs over (default: all, across every process).
      memory_bytes: free memory per device to plan chunks for (default: measured).
      problem: a :class:`~ppo_jax.Problem`, or its parts as keywords (``env``, ``env_params``,
        ``network``, ``lr_schedule``, ``metrics_fn``), as for :func:`ppo_jax.train_seeds`.
      progress_every: report to :mod:`ppo_jax.run.progress` every that many updates.

    Returns:
      :class:`SweepResult`; row ``i`` equals ``train_seeds(config.replace(**settings[i]),
      seeds)`` up to float tolerance.
    """
    plan = plan_sweep(
        config,
        grid,
        seeds,
        chunk_size=chunk_size,
        devices=devices,
        memory_bytes=memory_bytes,
        problem=problem_of(problem, keywords),
    )
    return run_sweep(plan, progress_every=progress_every)


# --------------------------------------------------------------------------- ranking
def rank_settings(result: SweepResult) -> list[dict[str, Any]]:
    """One row per setting, best first (by the IQM of the seeds' final returns): the setting,
    mean +- std and IQM with its 95% CI of the final returns
    (:func:`~ppo_jax.io.stats.iqm_interval`; ``n`` seeds with a finite final return,
    the method and whether n is enough for it), the share of seeds that solved the
    environment and the median env steps to solve."""
    env_name = None if result.config is None else result.config.env_name
    return rank_rows(result.metrics, result.settings, env_name)


def rank_rows(
    metrics: Mapping[str, np.ndarray], settings: Sequence[Setting], env_name: str | None
) -> list[dict[str, Any]]:
    """:func:`rank_settings` of metrics ``[settings, seeds, updates]``."""
    final = final_return(metrics)  # [settings, seeds]
    threshold = None if env_name is None else solved_threshold(env_name)
    to_solve = steps_to_solve(metrics, threshold) if threshold is not None else None
    rows: list[dict[str, Any]] = []
    for i, setting in enumerate(settings):
        finite = final[i][np.isfinite(final[i])]
        hit = [] if to_solve is None else [int(s) for s in to_solve[i] if s >= 0]
        interval = iqm_interval(final[i])
        rows.append(
            {
                "setting": i,
                **setting,
                "final_return_mean": float(finite.mean()) if finite.size else float("nan"),
                "final_return_std": float(finite.std()) if finite.size else float("nan"),
                "iqm": interval.point,
                "iqm_ci_low": interval.low,
                "iqm_ci_high": interval.high,
                "seeds": int(final[i].size),
                "n": interval.n,
                "iqm_method": interval.method,
                "iqm_reliable": interval.reliable,
                "solved_fraction": None
                if threshold is None
                else float(np.mean(final[i] >= threshold)),
                "median_steps_to_solve": float(np.median(hit)) if hit else None,
            }
        )
    return sorted(rows, key=lambda r: -np.nan_to_num(r["iqm"], nan=-np.inf))


# --------------------------------------------------------------------------- the experiment
def _padded(tree: Any, rows: int) -> Any:
    """``[P]`` leaves padded to ``[rows]`` by repeating run 0 (what a chunk's padding runs:
    run 0's key and hyperparameters, so its state is run 0's)."""

    def pad(x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.shape[0] >= rows:
            return x
        return np.concatenate([x, np.repeat(x[:1], rows - x.shape[0], axis=0)])

    return jax.tree.map(pad, tree)


def _chunked_segments(plan: SweepPlan, template: Any, length: int, first: int) -> Any:
    """The segment function of a sweep in ``num_chunks > 1`` chunks: the state ``[C*K]`` stays
    on the host, each chunk runs its updates on the devices in turn with its own keys and
    hyperparameters (one compiled executable)."""
    size = plan.chunk_size
    chunk_shapes = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((size, *x.shape[1:]), x.dtype), template
    )
    ranges = programs.compile_segments(plan.plan, chunk_shapes, length, first)
    chunk_hp = [programs.device_inputs(plan.chunk(c))[1] for c in range(plan.num_chunks)]

    def run(state: Any, start: int) -> tuple[Any, dict[str, np.ndarray]]:
        states, metrics = [], []
        for c in range(plan.num_chunks):
            piece = jax.tree.map(lambda x, c=c: x[c * size : (c + 1) * size], state)
            new, seg = ranges(piece, start, chunk_hp[c])
            states.append(parallel.to_host(new))
            host = parallel.to_host(seg)  # a dict comes back with sorted keys
            metrics.append({k: host[k] for k in seg})
        joined = jax.tree.map(lambda *xs: np.concatenate(xs), *states)
        return joined, {k: np.concatenate([m[k] for m in metrics]) for k in metrics[0]}

    return run


def _chunked_init(plan: SweepPlan) -> Any:
    """Every chunk's fresh runs, joined on the host (``[C*K]``)."""
    states = [parallel.to_host(programs.init_runs(plan.chunk(c))) for c in range(plan.num_chunks)]
    return jax.tree.map(lambda *xs: np.concatenate(xs), *states)


def sweep_experiment(
    plan: SweepPlan,
    problem: Problem,
    checkpoint_every: int | None = None,
    writer: bool = True,
) -> pipeline.Experiment:
    """The :class:`~ppo_jax.run.experiment.Experiment` of a planned sweep (``ppo-jax
    sweep``): its rows are (setting, seed), setting slowest."""
    config = plan.base_config
    rows = [(i, s) for i in range(len(plan.settings)) for s in plan.seeds]
    row_settings = [dict(plan.settings[i]) for i, _ in rows]
    identity = pipeline.run_identity("sweep", config, plan.seeds, None, problem)
    identity["settings"] = [dict(s) for s in plan.settings]
    every = pipeline.default_checkpoint_every(config.num_updates, checkpoint_every)
    record = rundir.RunConfig(
        "sweep",
        config,
        list(plan.seeds),
        every,
        settings=plan.settings,
        extra={"identity": identity, "chunk_size": plan.chunk_size},
    )
    chunk = programs.runner_template(plan.plan)  # [K]
    total = plan.chunk_size * plan.num_chunks
    template = jax.tree.map(lambda x: jax.ShapeDtypeStruct((total, *x.shape[1:]), x.dtype), chunk)
    saved_template = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((plan.num_runs, *x.shape[1:]), x.dtype), chunk
    )
    if plan.num_chunks == 1:

        def init() -> Any:
            return programs.init_runs(plan.plan)

        def compile_fn(state: Any, length: int, first: int) -> Any:
            return programs.compile_segments(plan.plan, state, length, first)
    else:

        def init() -> Any:
            return _chunked_init(plan)

        def compile_fn(state: Any, length: int, first: int) -> Any:
            return _chunked_segments(plan, template, length, first)

    def outputs(out: Path, result: rundir.RunResult) -> dict[str, Any]:
        metrics = {
            k: v.reshape(len(plan.settings), len(plan.seeds), -1) for k, v in result.metrics.items()
        }
        ranked = rank_rows(metrics, plan.settings, config.env_name)
        rundir.write_table_csv(out / rundir.SWEEP_CSV, ranked)
        return {
            "settings": plan.settings,
            "ranked": ranked,
            "final_return": final_return(metrics).tolist(),
            "chunk_size": plan.chunk_size,
            "num_chunks": plan.num_chunks,
            "num_devices": plan.num_devices,
            pipeline.CURVES: setting_curves(result.metrics, row_settings, ranked),
        }

    return pipeline.Experiment(
        kind="sweep",
        config=config,
        plan=plan.plan,
        rows=rows,
        row_names=("setting", "seed"),
        record=record,
        template=template,
        init=init,
        compile=compile_fn,
        settings=row_settings,
        outputs=outputs,
        saved_state=lambda state: jax.tree.map(lambda x: np.asarray(x)[: plan.num_runs], state),
        restored_state=lambda state: _padded(state, total),
        saved_template=saved_template,
        writer=writer,
    )


def _saved_chunk_size(saved: rundir.RunConfig) -> int | None:
    """The chunk size a sweep folder was run with (``None`` when it does not say, or when the
    devices here cannot take it: then the sweep is planned afresh)."""
    size = saved.extra.get("chunk_size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        return None
    return size if size % jax.device_count() == 0 and size <= planning.MAX_RUNS else None


def run_sweep_experiment(
    config: PPOConfig | None,
    grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]] | None,
    seeds: int | Sequence[int] | None,
    out_dir: str | Path | None,
    *,
    chunk_size: int | None = None,
    problem: Problem | None = None,
    write: bool = True,
    **keywords: Unpack[pipeline.ExperimentKeywords],
) -> tuple[SweepResult, list[dict[str, Any]]]:
    """Everything ``ppo-jax sweep`` does, as an experiment of the one pipeline: plan (every
    input checked first), claim the folder, run with checkpoints, then write ``sweep.csv``
    (ranked, with IQM and 95% CIs), ``metrics.csv`` (one row per setting x seed x update),
    ``results.json`` and the plots.

    Args:
      config, grid, seeds: what to sweep, as for :func:`sweep`. With ``resume=True`` all three
        may be ``None`` (taken from the folder); if given they must equal the saved ones.
      out_dir: a new (or empty) folder; ``None`` makes ``runs/sweep-ENV-TIMESTAMP``.
      chunk_size: runs per compiled call (default: as many as fit in memory; with
        ``resume``, the chunks the folder was run with, so that it continues bit for bit).
      problem: a :class:`~ppo_jax.Problem`, or its parts as keywords.
      write: ``False`` for the other processes of a multi-process sweep (they run the same
        loop and write nothing).
      **keywords: the problem's parts and the session's options, as for
        :func:`ppo_jax.run_experiment`: ``resume``, ``stop_after``, ``checkpoint_every``,
        ``tensorboard`` and ``wandb`` (one series per setting and seed), ``wandb_mode``,
        ``progress``, ``log``, ``trust_env_module``.

    Returns:
      The :class:`SweepResult` (its ``status``, ``out_dir`` and newest ``checkpoint`` set) and
      the ranked settings.
    """
    session, problem = pipeline.split_keywords(dict(keywords), problem)
    every = session.checkpoint_every
    if session.resume:
        saved = pipeline.saved_run(out_dir, "sweep", config, session)
        settings = saved.settings or []
        if grid is not None and normalize_settings(saved.config, grid) != settings:
            raise ValueError("resume: the sweep's settings differ from the saved ones")
        if seeds is not None and planning.seed_list(seeds) != saved.seeds:
            raise ValueError(f"resume: seeds {seeds} differ from the saved {saved.seeds}")
        config, grid, seeds, every = saved.config, settings, saved.seeds, saved.checkpoint_every
        if chunk_size is None:  # the same chunks: the same programs, the same floats
            chunk_size = _saved_chunk_size(saved)
    elif config is None or grid is None or seeds is None:
        raise ValueError("config, grid and seeds are needed to start a sweep")
    plan = plan_sweep(config, grid, seeds, chunk_size=chunk_size, problem=problem)
    if plan.num_chunks > 1:
        per_run = f"{plan.run_bytes / 2**20:.1f} MiB"
        session.say(
            f"  memory: ~{per_run} per run, {plan.free_bytes / 2**30:.1f} GiB free per device "
            f"-> {plan.num_chunks} chunks of {plan.chunk_size} runs, one after another"
        )
    experiment = sweep_experiment(plan, problem, every, writer=write)
    t0 = time.perf_counter()
    result = pipeline.run(experiment, out_dir, session)
    wall = time.perf_counter() - t0
    metrics = result.metrics
    ranked = (
        rank_rows(
            {k: v.reshape(len(plan.settings), len(plan.seeds), -1) for k, v in metrics.items()},
            plan.settings,
            plan.base_config.env_name,
        )
        if metrics
        else []
    )
    swept = sweep_result(
        plan,
        result.train_state,
        metrics,
        status=result.status,
        out_dir=result.out_dir,
        checkpoint=result.checkpoint,
    )
    if write and metrics:
        done = metrics["env_steps"].shape[-1] * plan.base_config.batch_size * plan.num_runs
        timing = result.summary[0] if result.summary else {}
        rate = timing.get("env_steps_per_s")  # this session's updates / its run time
        if not {"compile_s", "run_s", "env_steps_per_s"} <= set(timing):
            session.say(
                f"{plan.num_runs} runs, {done:,} env steps in {wall:.1f}s wall (compile "
                f"included): {done / wall:,.0f} env-steps/s in total on {plan.num_devices} "
                "device(s)"
            )
        elif rate is None or not math.isfinite(rate) or not timing["run_s"]:
            # Resumed after its last update (killed while writing its outputs): nothing ran.
            session.say(
                f"{plan.num_runs} runs, {done:,} env steps, all trained before this session"
            )
        else:
            session.say(
                f"{plan.num_runs} runs, {done:,} env steps: compile {timing['compile_s']:.1f}s, "
                f"run {timing['run_s']:.1f}s, {rate * plan.num_runs:,.0f} env-steps/s in total "
                f"({rate:,.0f} per run) on {plan.num_devices} device(s)"
            )
    return swept, ranked
