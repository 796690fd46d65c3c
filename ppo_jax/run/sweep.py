"""Hyperparameter sweeps: every setting x seed in one compiled program, sharded over devices.

The settings x seeds grid is flattened to one runs axis of size ``P = settings * seeds``. Each
run gets its own key (``PRNGKey(seed)``) and its own traced :class:`Hyperparams`; the compiled
program is the drivers' whole-run program mapped over the runs (``ppo_jax.run.parallel``), so 1,
2 host devices, 8 GPUs or several hosts (``jax.distributed``) run the same code. If the runs do
not fit in memory at once, they are split into equal chunks run one after another by one
compiled function.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from ppo_jax.core.config import TRACED_FIELDS, Hyperparams, PPOConfig, config_field_names
from ppo_jax.core.spec import MetricsFn, Schedule
from ppo_jax.run import drivers, parallel
from ppo_jax.run.drivers import TrainResult

MEMORY_BUDGET_FRACTION = 0.5
"""Share of the free device memory a sweep chunk may plan to use."""

Setting = dict[str, float]


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

    def row(self, i: int) -> TrainResult:
        """Setting ``i`` as a :class:`TrainResult` with a leading seed axis."""
        pick = lambda x: x[i]  # noqa: E731
        return TrainResult(
            params=jax.tree.map(pick, self.params),
            metrics={k: v[i] for k, v in self.metrics.items()},
            train_state=jax.tree.map(pick, self.train_state),
        )


# --------------------------------------------------------------------------- settings tables
def check_sweep_field(name: Any) -> None:
    """Raise ``ValueError`` unless ``name`` is a sweepable (traced) config field."""
    if name in TRACED_FIELDS:
        return
    if name in config_field_names():
        raise ValueError(
            f"PPOConfig.{name} cannot be swept: it sets an array shape, a loop length or the "
            f"environment, so it is static. Sweepable fields: {', '.join(TRACED_FIELDS)}"
        )
    raise ValueError(
        f"unknown sweep field {str(name)[:100]!r}; sweepable fields: {', '.join(TRACED_FIELDS)}"
    )


def grid_settings(grid: Mapping[str, Sequence[float]]) -> list[Setting]:
    """Full Cartesian product of ``grid`` (field -> list of values), first field slowest."""
    if not grid:
        raise ValueError("the sweep grid is empty: give at least one field and its values")
    names = list(grid)
    for name in names:
        check_sweep_field(name)
        values = grid[name]
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of numbers, got {values!r}")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


class LogUniform(NamedTuple):
    """Random-search distribution: log-uniform on ``[low, high]`` (both > 0)."""

    low: float
    high: float


class Uniform(NamedTuple):
    """Random-search distribution: uniform on ``[low, high]``."""

    low: float
    high: float


Space = Mapping[str, LogUniform | Uniform | Sequence[float]]


def check_space(space: Any) -> None:
    """``ValueError`` unless every entry of ``space`` is a sweepable field with a valid
    distribution or a non-empty list of choices."""
    if not isinstance(space, Mapping) or not space:
        raise ValueError("the search space must be a non-empty dict of field -> distribution")
    for name, dist in space.items():
        check_sweep_field(name)
        if isinstance(dist, LogUniform):
            if not 0 < dist.low <= dist.high:
                raise ValueError(f"space[{name!r}]: LogUniform needs 0 < low <= high, got {dist}")
        elif isinstance(dist, Uniform):
            if not dist.low <= dist.high:
                raise ValueError(f"space[{name!r}]: Uniform needs low <= high, got {dist}")
        elif not (isinstance(dist, Sequence) and not isinstance(dist, str) and dist):
            raise ValueError(
                f"space[{name!r}] must be LogUniform, Uniform or a list of choices, got {dist!r}"
            )


def random_settings(space: Space, num_samples: int, key: Any) -> list[Setting]:
    """``num_samples`` settings drawn independently from ``space`` with ``key``.

    Each field maps to :class:`LogUniform`, :class:`Uniform` or a list of choices.
    """
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, int)
        or not 1 <= num_samples <= drivers.MAX_RUNS
    ):
        raise ValueError(
            f"num_samples must be an int in [1, {drivers.MAX_RUNS}], got {num_samples!r}"
        )
    check_space(space)
    rng = np.random.default_rng(np.asarray(drivers.check_key(key), np.uint32))
    columns: dict[str, np.ndarray] = {}
    for name, dist in space.items():
        if isinstance(dist, LogUniform):
            columns[name] = np.exp(rng.uniform(np.log(dist.low), np.log(dist.high), num_samples))
        elif isinstance(dist, Uniform):
            columns[name] = rng.uniform(dist.low, dist.high, num_samples)
        else:
            columns[name] = np.asarray(dist, np.float64)[rng.integers(0, len(dist), num_samples)]
    return [{k: float(v[i]) for k, v in columns.items()} for i in range(num_samples)]


def normalize_settings(
    config: PPOConfig, grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]]
) -> list[Setting]:
    """A list of settings from a grid dict (Cartesian product) or an explicit list; every
    setting is validated by building ``config.replace(**setting)``."""
    if isinstance(grid, Mapping):
        settings = grid_settings(grid)
    elif isinstance(grid, Sequence) and not isinstance(grid, str):
        settings = []
        for s in grid:
            if not isinstance(s, Mapping):
                raise TypeError(f"each explicit setting must be a dict, got {s!r}")
            for name in s:
                check_sweep_field(name)
            settings.append(dict(s))
    else:
        raise TypeError(
            f"grid must be a dict of field -> values or a list of settings, got {grid!r}"
        )
    if not settings:
        raise ValueError("the sweep has no settings")
    if len(settings) > drivers.MAX_RUNS:
        raise ValueError(f"the sweep has {len(settings)} settings; at most {drivers.MAX_RUNS}")
    out = []
    for s in settings:
        checked = config.replace(**s)  # raises ValueError naming the field
        out.append({k: float(getattr(checked, k)) for k in s})
    return out


def settings_hyperparams(config: PPOConfig, settings: Sequence[Setting]) -> Hyperparams:
    """``Hyperparams`` with ``[len(settings)]`` float32 leaves (unswept fields from ``config``)."""
    base = config.hyperparams()._asdict()
    return Hyperparams(
        **{
            name: np.asarray([s.get(name, base[name]) for s in settings], np.float32)
            for name in TRACED_FIELDS
        }
    )


# --------------------------------------------------------------------------- memory planning
def free_device_memory(device: Any) -> int:
    """Free memory of ``device`` in bytes: ``memory_stats`` on accelerators, MemAvailable
    (split over the host's devices) on CPU."""
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    total = int(line.split()[1]) * 1024
                    return total // max(1, jax.local_device_count())
    except OSError:
        pass
    return 8 * 1024**3


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
            or not 1 <= chunk_size <= drivers.MAX_RUNS
        ):
            raise ValueError(
                f"chunk_size must be an int in [1, {drivers.MAX_RUNS}], got {chunk_size!r}"
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
    plan: drivers.Plan
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

    def chunk(self, c: int) -> drivers.Plan:
        """The plan of chunk ``c`` (runs ``c * chunk_size ...``; padding repeats run 0)."""
        n_seed = len(self.seeds)
        keys = np.asarray(drivers.seed_keys(self.seeds))
        flat_keys = np.tile(keys, (len(self.settings), 1))  # run p = i * n_seed + j
        hp_all = settings_hyperparams(self.base_config, self.settings)
        flat_hp = [np.repeat(np.asarray(v), n_seed) for v in hp_all]
        idx = np.arange(c * self.chunk_size, (c + 1) * self.chunk_size)
        idx = np.where(idx < self.num_runs, idx, 0)
        return self.plan._replace(
            keys=flat_keys[idx], hp=Hyperparams(*[v[idx] for v in flat_hp]), hp_batched=True
        )


def plan_sweep(
    config: PPOConfig,
    grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
    seeds: int | Sequence[int],
    *,
    chunk_size: int | None = None,
    devices: Sequence[Any] | None = None,
    memory_bytes: int | None = None,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
) -> SweepPlan:
    """Validate a sweep and decide how to split it, before anything is compiled.

    See :func:`sweep` for the arguments.
    """
    config = drivers.check_config(config)
    settings = normalize_settings(config, grid)
    seed_list = drivers.seed_list(seeds)
    if len(settings) * len(seed_list) > drivers.MAX_RUNS:
        raise ValueError(
            f"{len(settings)} settings x {len(seed_list)} seeds = "
            f"{len(settings) * len(seed_list)} runs; at most {drivers.MAX_RUNS}"
        )
    spec, params_env = drivers.resolve_spec(
        config,
        env=env,
        env_params=env_params,
        network=network,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
    )
    devs = list(jax.devices()) if devices is None else list(devices)
    if not devs:
        raise ValueError("devices must not be empty")
    num_runs = len(settings) * len(seed_list)
    run_bytes = drivers.estimate_run_bytes(spec)
    if memory_bytes is None:
        local = [d for d in devs if d.process_index == jax.process_index()]
        memory_bytes = min(free_device_memory(d) for d in local)
    size, num_chunks = plan_chunks(num_runs, len(devs), run_bytes, memory_bytes, chunk_size)
    layout = parallel.Layout(tuple(devs), len(devs), 1)
    first = drivers.Plan(
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
    return drivers.compile_whole(plan.plan)


def run_sweep(plan: SweepPlan, *, progress_every: int = 0) -> SweepResult:
    """Execute ``plan``: one compiled function, called once per chunk."""
    n_set, n_seed = len(plan.settings), len(plan.seeds)
    drivers.check_progress_every(progress_every)
    pieces = [
        parallel.to_host(drivers.execute(plan.chunk(c), progress_every))
        for c in range(plan.num_chunks)
    ]
    state, metrics = jax.tree.map(lambda *xs: np.concatenate(xs)[: plan.num_runs], *pieces)

    def unflat(x: np.ndarray) -> np.ndarray:
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
    )


def sweep(
    config: PPOConfig,
    grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
    seeds: int | Sequence[int],
    *,
    chunk_size: int | None = None,
    devices: Sequence[Any] | None = None,
    memory_bytes: int | None = None,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    progress_every: int = 0,
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
      env, env_params, network, lr_schedule, metrics_fn: as for :func:`ppo_jax.train_seeds`.
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
        env=env,
        env_params=env_params,
        network=network,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
    )
    return run_sweep(plan, progress_every=progress_every)


# --------------------------------------------------------------------------- sweep folders
MAX_PLOTTED = 10
"""Settings drawn in a sweep's learning-curve plot (best IQM first)."""


def setting_label(setting: Mapping[str, float]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in setting.items())


def rank_settings(result: SweepResult) -> list[dict[str, Any]]:
    """One row per setting, best first (by the IQM of the seeds' final returns): the setting,
    mean +- std and IQM with its 95% CI of the final returns
    (:func:`~ppo_jax.io.stats.iqm_interval`; ``n`` seeds with a finite final return,
    the method and whether n is enough for it), the share of seeds that solved the
    environment and the median env steps to solve."""
    from ppo_jax.io.stats import final_return, iqm_interval, solved_threshold, steps_to_solve

    metrics = result.metrics
    final = final_return(metrics)  # [settings, seeds]
    threshold = None if result.config is None else solved_threshold(result.config.env_name)
    to_solve = steps_to_solve(metrics, threshold) if threshold is not None else None
    rows: list[dict[str, Any]] = []
    for i, setting in enumerate(result.settings):
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


def _ranked_interval(row: Mapping[str, Any]) -> Any:
    """The IQM interval of a row of :func:`rank_settings`."""
    from ppo_jax.io.stats import IQM_MIN_RUNS, Interval

    return Interval(
        row["iqm"],
        row["iqm_ci_low"],
        row["iqm_ci_high"],
        (row["n"],),
        row["iqm_method"],
        IQM_MIN_RUNS,
    )


def run_sweep_experiment(
    config: PPOConfig,
    grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
    seeds: int | Sequence[int],
    out_dir: str | Path | None,
    *,
    chunk_size: int | None = None,
    progress: str | None = None,
    log: Any = None,
    write: bool = True,
    **kwargs: Any,
) -> tuple[SweepResult, list[dict[str, Any]]]:
    """Everything ``ppo-jax sweep`` does: plan (every input checked first), claim the folder,
    run, rank, and write ``sweep.csv`` (ranked, with IQM and 95% CIs), ``metrics.csv`` (one
    row per setting x seed x update), ``results.json`` and ``learning_curves.png``.
    ``write=False`` (the other processes of a multi-process sweep) writes nothing. ``kwargs``
    go to :func:`plan_sweep`. Returns the result and the ranked rows."""
    from ppo_jax.io import rundir
    from ppo_jax.io.console import ProgressPrinter, interval_cell, report_every, resolve_style
    from ppo_jax.io.plotting import learning_curves, save_figure
    from ppo_jax.io.stats import IQM_METHOD, IQM_MIN_RUNS, final_return, solved_threshold
    from ppo_jax.run import progress as progress_events

    say = log or (lambda _: None)
    style = resolve_style(progress)
    if jax.process_count() > 1 and style != "none":
        style = "lines"  # every process must run the same segments; only the writer prints
    plan = plan_sweep(config, grid, seeds, chunk_size=chunk_size, **kwargs)
    out, lock = (None, None)
    if write:
        out, lock = rundir.claim_new_folder(
            None if out_dir is None else Path(out_dir),
            f"sweep-{config.env_name.replace(':', '-').replace('/', '-')}",
        )
    try:
        if out is not None:
            rundir.write_run_config(
                out,
                rundir.RunConfig("sweep", config, plan.seeds, 0, settings=plan.settings),
            )
        say(
            f"ppo-jax sweep: {config.env_name}, {len(plan.settings)} setting(s) x "
            f"{len(plan.seeds)} seed(s) = {plan.num_runs} runs of {config.env_steps:,} env "
            f"steps, on {plan.num_devices} device(s) ({jax.devices()[0].platform})"
        )
        per_run = f"{plan.run_bytes / 2**20:.1f} MiB"
        if plan.num_chunks > 1:
            say(
                f"  memory: ~{per_run} per run, {plan.free_bytes / 2**30:.1f} GiB free per "
                f"device -> {plan.num_chunks} chunks of {plan.chunk_size} runs, one after another"
            )
        else:
            say(f"  memory: ~{per_run} per run; all runs in one call")
        say(f"  output folder: {out}")
        printer = ProgressPrinter(
            plan.chunk_size, config.num_updates, style if write else "none", "runs"
        )
        t0 = time.perf_counter()
        with progress_events.listen(printer):
            result = run_sweep(plan, progress_every=report_every(config.num_updates, style))
        printer.close()
        wall = time.perf_counter() - t0
        ranked = rank_settings(result)
        if out is None:
            return result, ranked
        metrics = result.metrics
        rows = [[i, s] for i in range(len(result.settings)) for s in result.seeds]
        flat = {k: v.reshape(-1, v.shape[-1]) for k, v in metrics.items()}
        rundir.write_metrics_csv(out / rundir.METRICS_CSV, flat, ["setting", "seed"], rows)
        rundir.write_table_csv(out / rundir.SWEEP_CSV, ranked)
        rundir.write_json(
            out / rundir.RESULTS_FILE,
            {
                "settings": result.settings,
                "seeds": result.seeds,
                "ranked": ranked,
                "final_return": final_return(metrics).tolist(),
                "chunk_size": result.chunk_size,
                "num_chunks": result.num_chunks,
                "num_devices": result.num_devices,
                "wall_s": wall,
            },
        )
        top = ranked[:MAX_PLOTTED]
        fig = learning_curves(
            np.max(metrics["env_steps"].reshape(-1, metrics["env_steps"].shape[-1]), axis=0),
            [metrics["episode_return"][r["setting"]] for r in top],
            [
                f"{setting_label(result.settings[r['setting']])}: final IQM "
                f"{interval_cell(_ranked_interval(r))}, n={r['n']}"
                for r in top
            ],
            f"{config.env_name}: {len(result.seeds)} seeds per setting"
            + (f" (best {len(top)} of {len(ranked)})" if len(ranked) > len(top) else "")
            + f"\nfinal IQM: [95% CI] by the {IQM_METHOD}, none below n={IQM_MIN_RUNS}",
            solved_threshold(config.env_name),
        )
        save_figure(fig, out / rundir.LEARNING_CURVES)
        total = plan.num_runs * config.env_steps
        say(
            f"{plan.num_runs} runs, {total:,} env steps in {wall:.1f}s wall (compile included): "
            f"{total / wall:,.0f} env-steps/s in total ({total / wall / plan.num_runs:,.0f} per "
            f"run) on {plan.num_devices} device(s)"
        )
        say(
            f"wrote {out / rundir.SWEEP_CSV}, {out / rundir.METRICS_CSV}, "
            f"{out / rundir.RESULTS_FILE}, {out / rundir.LEARNING_CURVES}"
        )
        return result, ranked
    finally:
        if lock is not None:
            lock.release()
