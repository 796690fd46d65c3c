"""Throughput benchmarks: ``ppo_jax.benchmark`` (and ``ppo-jax bench``) times a grid of seed
counts x ``num_envs`` of one config, every cell compiled and run as ``train_seeds`` runs it.

Per cell (:class:`BenchCell`):

* **compile**: the training program's initialisation and range of every update, traced,
  lowered and compiled from nothing: JAX's in-process caches are cleared first
  (``jax.clear_caches``) and the persistent compilation cache is off while it compiles
  (``COMPILE_METHOD``); the same for the environment-only program.
* **steady state**: one run right after compiling (``first_run_s``), then ``repeats`` timed
  runs of the compiled programs, each until its result is ready (``block_until_ready``); the
  median and the spread (min, max) are reported. The timed programs are the ones
  ``train_seeds`` runs: nothing is added to them (no host callback; with ``progress_every``
  the host reports between compiled segments, as the CLI's progress bar does).
* **environment only**: the same rollouts without network and update, with uniformly random
  actions (:func:`ppo_jax.run.bench_programs.env_only_program`), compiled and timed the same
  way: when it is not much faster than training, the environment bounds the run.
* **FLOP ceiling**: the training run's FLOPs (XLA's cost analysis, every loop body counted
  as many times as it runs: :func:`ppo_jax.run.bench_programs.loop_flops`) per second, over
  the FLOP/s of float32 matmuls on the cell's devices measured in the same process after the
  cells (:func:`ppo_jax.run.bench_programs.matmul_peak_flops`).
* **memory**: the backend's peak-memory counter where it keeps one (GPU, TPU), else XLA's
  memory analysis of the compiled programs (per device); ``fit=True`` skips cells whose
  estimate (:func:`ppo_jax.run.plan.estimate_run_bytes`) exceeds the free memory, catches
  out-of-memory failures, and names the largest cell that ran.

Several devices: the runs are placed as ``train_seeds`` places them (``layout``); every cell
reports its env-steps/s in total, per seed and per device.
"""

from __future__ import annotations

import contextlib
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.config import PPOConfig
from ppo_jax.core.train import train_function
from ppo_jax.io.stats import final_return, solved_threshold, steps_to_solve
from ppo_jax.run import bench_programs, parallel, progress
from ppo_jax.run import plan as planning
from ppo_jax.run import programs as compiled

SCHEMA = "ppo_jax.bench/1"
"""The ``schema`` entry of :meth:`BenchResult.to_dict` (bumped when a field changes)."""
LAYOUTS = ("auto", "one", "seeds", "envs")
"""Device layouts of a cell's runs: as ``train_seeds`` decides (``auto``: the seeds split
over the devices that divide them), one device, the seeds split, every seed's environments
split."""
DEFAULT_SEEDS = (1, 8)
"""Seed counts of the grid when none are given."""
DEFAULT_NUM_ENVS_FACTORS = (1, 4, 16)
"""``num_envs`` of the grid when none are given: the config's times these."""
COMPILE_METHOD = (
    "in-process: jax.clear_caches() before each program, persistent compilation cache off; "
    "trace + lower + XLA compile of the initialisation and the range of every update "
    "(compiled side by side, as train_seeds does)"
)
FLOPS_METHOD = (
    "XLA cost analysis (jax.stages.Lowered.cost_analysis) of one run's training function, "
    "every lax.scan body counted length times (XLA counts a loop body once), times the runs"
)
OOM_MARKERS = ("RESOURCE_EXHAUSTED", "out of memory", "Out of memory", "OOM")
"""Text of XLA's out-of-memory errors."""


class BenchPreset(NamedTuple):
    """A named grid (``preset=`` / ``ppo-jax bench --preset``); given arguments win."""

    seeds: tuple[int, ...]
    num_envs: tuple[int, ...]
    updates: int | None
    """Updates per cell (``None``: the config's ``total_timesteps`` per seed)."""
    repeats: int
    fit: bool
    budget_s: float | None
    description: str


PRESETS: dict[str, BenchPreset] = {
    "quick": BenchPreset(
        seeds=(1, 2),
        num_envs=(8, 32),
        updates=4,
        repeats=2,
        fit=False,
        budget_s=None,
        description="a 2 x 2 grid of short runs: a smoke test, under a minute on 2 CPU cores",
    ),
    "gpu-check": BenchPreset(
        seeds=(1, 8, 64, 512),
        num_envs=(32, 256, 2048, 16384),
        updates=16,
        repeats=3,
        fit=True,
        budget_s=420.0,
        description="an accelerator's scaling, seeds x num_envs up to 512 x 16384, cells that "
        "do not fit in memory skipped, inside 7 minutes (once benchmarks/gpu_check.py)",
    ),
}
"""The presets: ``quick`` (``--quick``) and ``gpu-check``."""


class BenchCell(NamedTuple):
    """One cell of the grid: ``seeds`` runs of ``num_envs`` environments each. Times in
    seconds, rates in env-steps per second; ``None`` where not measured (a skipped cell, or
    a figure the backend does not give)."""

    seeds: int
    num_envs: int
    num_steps: int
    num_updates: int
    env_steps: int
    """Environment steps of one timed run, all seeds together."""
    devices: int
    """Devices the runs are placed on."""
    layout: str
    """How (``"1 device"``, ``"runs over 2 devices"`` ...)."""
    status: str
    """``"ok"``, ``"skipped"`` (``reason`` says why) or ``"out of memory"``."""
    reason: str | None = None
    compile_s: float | None = None
    """Compile time of the training programs (``COMPILE_METHOD``)."""
    first_run_s: float | None = None
    """The first run after compiling (with one-time costs such as allocation)."""
    run_s: tuple[float, ...] = ()
    """The timed steady-state runs."""
    env_steps_per_s: float | None = None
    """``env_steps`` over the median of ``run_s``: all seeds, all devices."""
    env_steps_per_s_min: float | None = None
    """Over the slowest timed run."""
    env_steps_per_s_max: float | None = None
    """Over the fastest timed run."""
    env_steps_per_s_per_seed: float | None = None
    env_steps_per_s_per_device: float | None = None
    env_only_steps_per_s: float | None = None
    """Median env-steps/s of the environment-only program (random actions, no update)."""
    env_only_compile_s: float | None = None
    env_only_run_s: tuple[float, ...] = ()
    flops: float | None = None
    """FLOPs of one timed run, all seeds (``FLOPS_METHOD``)."""
    flops_note: str | None = None
    """Why ``flops`` is missing or a lower bound (``while`` loops counted once)."""
    achieved_flops_per_s: float | None = None
    ceiling_flops_per_s: float | None = None
    """Float32 matmul FLOP/s of the cell's devices, measured in the same process."""
    ceiling_fraction: float | None = None
    """``achieved_flops_per_s / ceiling_flops_per_s``."""
    peak_memory_bytes: int | None = None
    """Per device: see ``peak_memory_source``."""
    peak_memory_source: str | None = None
    program_memory_bytes: int | None = None
    """XLA's memory analysis of the largest compiled training program, per device."""
    estimated_bytes: int | None = None
    """The memory estimate of the cell's runs per device (``estimate_run_bytes``)."""
    final_return: float | None = None
    """Mean over the seeds of the first run's final training return (a sanity check)."""
    solve_env_steps: tuple[int, ...] | None = None
    """Per seed: env-steps of the first update whose return reached the environment's solve
    threshold in the first run (-1: not reached); ``None`` without a threshold."""


class BenchResult(NamedTuple):
    """What :func:`benchmark` measured: the cells in grid order (seeds, then ``num_envs``)
    and where (devices, versions, the methods)."""

    cells: tuple[BenchCell, ...]
    config: PPOConfig
    """The config every cell starts from (each sets ``num_envs`` and ``total_timesteps``)."""
    seeds: tuple[int, ...]
    num_envs: tuple[int, ...]
    updates: int | None
    repeats: int
    layout: str
    preset: str | None
    fit: BenchCell | None
    """With ``fit=True``: the largest cell (most environments in all) that ran; else ``None``."""
    platform: str
    device_kind: str
    device_count: int
    process_count: int
    cpu_model: str
    versions: dict[str, str]
    """``python``, ``jax``, ``jaxlib``, ``ppo_jax``."""
    matmul_peak_flops_per_s: dict[int, float]
    """By number of devices working at once."""
    wall_s: float
    budget_s: float | None

    def cell(self, seeds: int, num_envs: int) -> BenchCell:
        """The cell of ``seeds`` x ``num_envs``."""
        for c in self.cells:
            if (c.seeds, c.num_envs) == (seeds, num_envs):
                return c
        raise KeyError(f"no cell seeds={seeds} num_envs={num_envs}")

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (what ``ppo-jax bench`` writes to ``bench.json``)."""
        return {
            "schema": SCHEMA,
            "env_name": self.config.env_name,
            "platform": self.platform,
            "device_kind": self.device_kind,
            "device_count": self.device_count,
            "process_count": self.process_count,
            "cpu_model": self.cpu_model,
            "versions": dict(self.versions),
            "config": self.config.to_dict(),
            "grid": {"seeds": list(self.seeds), "num_envs": list(self.num_envs)},
            "updates": self.updates,
            "repeats": self.repeats,
            "layout": self.layout,
            "preset": self.preset,
            "budget_s": self.budget_s,
            "compile_method": COMPILE_METHOD,
            "flops_method": FLOPS_METHOD,
            "env_only_method": "the same rollouts (env, num_envs x num_steps x num_updates, "
            "vmap over seeds, device layout) with uniformly random actions, no network or update",
            "matmul_peak_flops_per_s": {str(k): v for k, v in self.matmul_peak_flops_per_s.items()},
            "cells": [_cell_dict(c) for c in self.cells],
            "fit": None
            if self.fit is None
            else {"seeds": self.fit.seeds, "num_envs": self.fit.num_envs},
            "wall_s": self.wall_s,
        }

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``bench.json``, ``bench.txt`` (the table) and ``bench_scaling.png`` to
        ``out_dir`` (created if needed); returns their paths."""
        from ppo_jax.io.bench_report import write_report

        return write_report(self.to_dict(), out_dir)


def _cell_dict(cell: BenchCell) -> dict[str, Any]:
    out = cell._asdict()
    for name in ("run_s", "env_only_run_s", "solve_env_steps"):
        if out[name] is not None:
            out[name] = list(out[name])
    return out


# --------------------------------------------------------------------------- checks
def check_counts(values: Any, what: str) -> tuple[int, ...]:
    """A non-empty sequence of distinct ints ``>= 1`` (at most ``planning.MAX_RUNS``), or a
    ``ValueError``/``TypeError`` naming ``what``."""
    if isinstance(values, int | np.integer) and not isinstance(values, bool):
        values = [values]
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{what} must be a list of ints, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, np.integer):
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= planning.MAX_RUNS:
            raise ValueError(f"{what} must be ints in [1, {planning.MAX_RUNS}], got {v!r}")
        if v in out:
            raise ValueError(f"{what} holds {v} twice")
        out.append(v)
    if not out:
        raise ValueError(f"{what} must not be empty")
    return tuple(out)


def cell_config(config: PPOConfig, num_envs: int, updates: int | None) -> PPOConfig:
    """The config of a cell: ``num_envs`` environments; ``updates`` updates, or (``None``)
    the config's ``total_timesteps`` per seed but at least one update. ``ValueError`` (from
    :class:`PPOConfig`) when the config cannot take that ``num_envs``."""
    batch = num_envs * config.num_steps
    total = updates * batch if updates is not None else max(config.total_timesteps, batch)
    return config.replace(num_envs=num_envs, total_timesteps=total)


def layout_flags(layout: str) -> dict[str, Any]:
    """``plan_seeds`` keywords of a layout (``LAYOUTS``)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    shard: bool | str = "auto" if layout == "auto" else layout == "seeds"
    return {"shard": shard, "split_envs": layout == "envs"}


class BenchGrid(NamedTuple):
    """A :func:`benchmark` grid, checked (:func:`resolve_grid`)."""

    seeds: tuple[int, ...]
    num_envs: tuple[int, ...]
    updates: int | None
    repeats: int
    fit: bool
    budget_s: float | None


def resolve_grid(
    config: PPOConfig,
    seeds: Any,
    num_envs: Any,
    updates: Any,
    repeats: Any,
    fit: Any,
    budget_s: Any,
    preset: str | None,
) -> BenchGrid:
    """The grid of a :func:`benchmark` call (arguments over the preset over the defaults),
    checked: every cell's config is built, so a ``num_envs`` the config cannot take is a
    ``ValueError`` naming it, before anything compiles."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    base = PRESETS[preset] if preset is not None else None
    default_envs = tuple(config.num_envs * f for f in DEFAULT_NUM_ENVS_FACTORS)
    seeds = check_counts(
        seeds if seeds is not None else base.seeds if base else DEFAULT_SEEDS, "seeds"
    )
    num_envs = check_counts(
        num_envs if num_envs is not None else base.num_envs if base else default_envs, "num_envs"
    )
    if updates is None and base is not None:
        updates = base.updates
    if updates is not None and (
        isinstance(updates, bool) or not isinstance(updates, int) or updates < 1
    ):
        raise ValueError(f"updates must be an int >= 1 or None, got {updates!r}")
    repeats = repeats if repeats is not None else base.repeats if base else 3
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 0 <= repeats <= 1000:
        raise ValueError(f"repeats must be an int in [0, 1000], got {repeats!r}")
    fit = bool(base.fit) if fit is None and base else bool(fit)
    if budget_s is None and base is not None:
        budget_s = base.budget_s
    if budget_s is not None and (
        isinstance(budget_s, bool) or not isinstance(budget_s, int | float) or not budget_s > 0
    ):
        raise ValueError(f"budget_s must be a number > 0 or None, got {budget_s!r}")
    for n in num_envs:
        try:
            cell_config(config, n, updates)
        except ValueError as err:
            raise ValueError(f"num_envs={n}: {err}") from None
    return BenchGrid(seeds, num_envs, updates, repeats, fit, budget_s)


# --------------------------------------------------------------------------- timing
def timed_runs(run: Callable[[], Any], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``run``, each until all of its result is ready."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - start)
    return times


@contextlib.contextmanager
def cold_compiles() -> Iterator[None]:
    """Compile from nothing inside the block: JAX's in-process caches cleared, and the
    persistent compilation cache (if one is set) off until the block ends."""
    cache_dir = getattr(jax.config, "jax_compilation_cache_dir", None)
    enabled = getattr(jax.config, "jax_enable_compilation_cache", False)
    jax.clear_caches()
    if not (cache_dir and enabled):
        yield
        return
    from jax._src import compilation_cache  # the only way to make JAX re-read the setting

    jax.config.update("jax_enable_compilation_cache", False)
    compilation_cache.reset_cache()
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", True)
        compilation_cache.reset_cache()


class TimedProgram(NamedTuple):
    """What :func:`time_program` measured."""

    compile_s: float
    first_run_s: float
    run_s: tuple[float, ...]
    """The steady-state runs (with ``repeats=0``: the first run)."""
    first_output: Any
    """The first run's result."""


def time_program(compile_fn: Callable[[], Callable[[], Any]], repeats: int) -> TimedProgram:
    """Time ``compile_fn() -> run`` as a cold compile (:func:`cold_compiles`), then one run
    (``first_run_s``), then ``repeats`` timed runs (0: the first run is the only one, and
    stands for the steady state); every run until its result is ready. The one timer of the
    harness: ``benchmark`` times its cells with it, ``benchmarks/`` their own runs."""
    with cold_compiles():
        start = time.perf_counter()
        run = compile_fn()
        compile_s = time.perf_counter() - start
    start = time.perf_counter()
    first = jax.block_until_ready(run())
    first_s = time.perf_counter() - start
    times = timed_runs(run, repeats) if repeats else [first_s]
    return TimedProgram(compile_s, first_s, tuple(times), first)


def _segmented(plan: planning.Plan, every: int, programs: list[Any]) -> Callable[[], Any]:
    """The compiled run in segments of ``every`` updates with a progress report after each
    (as ``train_seeds(progress_every=every)`` runs it)."""
    init, segment = compiled.compile_init_and_segments(plan, every, programs)
    num_updates = plan.config.num_updates

    def run() -> Any:
        runner, start, parts = init(), 0, []
        while start < num_updates:
            runner, metrics = segment(runner, start)
            start = min(start + every, num_updates)
            parts.append(metrics)
            progress.report(progress.segment_event(parallel.to_host(metrics), start, num_updates))
        return runner.train_state, {k: jnp.concatenate([p[k] for p in parts], 1) for k in parts[0]}

    return run


def run_flops(plan: planning.Plan) -> bench_programs.FlopCount:
    """FLOPs of one run of ``plan``'s training function (``FLOPS_METHOD``); traced, not
    compiled."""
    hp = jax.tree.map(lambda x: np.asarray(x)[0], plan.hp) if plan.hp_batched else plan.hp
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    return bench_programs.loop_flops(train_function(plan.spec), key, hp, plan.env_params)


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is XLA running out of device memory."""
    return any(marker in str(err) for marker in OOM_MARKERS)


def time_plan(
    plan: planning.Plan,
    repeats: int = 3,
    *,
    env_only: bool = True,
    progress_every: int = 0,
    flops: bench_programs.FlopCount | bool | None = True,
) -> BenchCell:
    """Time ``plan``'s training programs (and, with ``env_only``, its environment-only
    program) as one cell: see the module docstring. ``flops``: one run's
    :class:`~ppo_jax.run.bench_programs.FlopCount`, ``True`` to count it here (after the
    timing), ``False``/``None`` not to; the ceiling fields stay ``None`` (:func:`with_ceiling`
    fills them). Any :class:`~planning.Plan` can be timed: ``train_seeds``'
    (:func:`ppo_jax.run.plan.plan_seeds`), a sweep chunk's."""
    config, layout, runs = plan.config, plan.layout, plan.num_runs
    every = compiled.check_progress_every(progress_every)
    programs: list[Any] = []

    def compile_training() -> Callable[[], Any]:
        programs.clear()
        if every and every < config.num_updates:
            return _segmented(plan, every, programs)
        return compiled.compile_whole(plan, programs)

    trained = time_program(compile_training, repeats)
    peak_bytes = bench_programs.device_peak_bytes(layout.devices)
    program_bytes = [b for b in map(bench_programs.program_memory_bytes, programs) if b is not None]
    if peak_bytes is not None:
        source = "device memory_stats peak_bytes_in_use (the process's peak after this cell)"
    elif program_bytes:
        source = "XLA memory_analysis: arguments + outputs + temporaries of the largest program"
    else:
        source = "not reported by this backend"
    metrics = parallel.to_host(trained.first_output[1])
    finals = final_return(metrics)
    threshold = solved_threshold(config.env_name)
    solve = None
    if threshold is not None:
        solve = tuple(int(s) for s in np.atleast_1d(steps_to_solve(metrics, threshold)))
    env_steps = config.env_steps * runs
    rates = [env_steps / t for t in trained.run_s]
    median = env_steps / statistics.median(trained.run_s)
    cell = BenchCell(
        seeds=runs,
        num_envs=config.num_envs,
        num_steps=config.num_steps,
        num_updates=config.num_updates,
        env_steps=env_steps,
        devices=layout.size,
        layout=layout.describe(),
        status="ok",
        compile_s=trained.compile_s,
        first_run_s=trained.first_run_s,
        run_s=trained.run_s,
        env_steps_per_s=median,
        env_steps_per_s_min=min(rates),
        env_steps_per_s_max=max(rates),
        env_steps_per_s_per_seed=median / runs,
        env_steps_per_s_per_device=median / layout.size,
        peak_memory_bytes=peak_bytes
        if peak_bytes is not None
        else max(program_bytes, default=None),
        peak_memory_source=source,
        program_memory_bytes=max(program_bytes, default=None),
        final_return=float(np.nanmean(finals)) if np.isfinite(finals).any() else None,
        solve_env_steps=solve,
    )
    if env_only:
        cell = cell._replace(**_env_only_fields(plan, repeats))
    if flops is None or flops is False:
        return cell
    count = run_flops(plan) if flops is True else flops
    note = None
    if count.while_loops:
        note = f"{count.while_loops} while loop(s) counted once each: a lower bound"
    return cell._replace(flops=count.flops * runs, flops_note=note)


def _env_only_fields(plan: planning.Plan, repeats: int) -> dict[str, Any]:
    program = bench_programs.env_only_program(plan.spec, plan.layout)
    keys, _ = compiled.device_inputs(plan)

    def compile_env_only() -> Callable[[], Any]:
        compiled = program.lower(keys, plan.env_params).compile()
        return lambda: compiled(keys, plan.env_params)

    timed = time_program(compile_env_only, repeats)
    steps = plan.config.env_steps * plan.num_runs
    return {
        "env_only_steps_per_s": steps / statistics.median(timed.run_s),
        "env_only_compile_s": timed.compile_s,
        "env_only_run_s": timed.run_s,
    }


def with_ceiling(cell: BenchCell, peak_flops_per_s: float) -> BenchCell:
    """``cell`` with its achieved FLOP/s and their fraction of ``peak_flops_per_s``."""
    if cell.flops is None or cell.env_steps_per_s is None or not cell.run_s:
        return cell._replace(ceiling_flops_per_s=peak_flops_per_s)
    achieved = cell.flops / statistics.median(cell.run_s)
    return cell._replace(
        achieved_flops_per_s=achieved,
        ceiling_flops_per_s=peak_flops_per_s,
        ceiling_fraction=achieved / peak_flops_per_s,
    )


# --------------------------------------------------------------------------- the grid
def skipped_cell(plan: planning.Plan, status: str, reason: str) -> BenchCell:
    """The cell of ``plan`` that did not run (``status``: ``"skipped"``, ``"out of
    memory"``)."""
    config, layout = plan.config, plan.layout
    return BenchCell(
        seeds=plan.num_runs,
        num_envs=config.num_envs,
        num_steps=config.num_steps,
        num_updates=config.num_updates,
        env_steps=config.env_steps * plan.num_runs,
        devices=layout.size,
        layout=layout.describe(),
        status=status,
        reason=reason,
    )


def skip_reason(
    plan: planning.Plan,
    estimate: int,
    grid: BenchGrid,
    elapsed_s: float,
    last_s: float,
    too_big: Sequence[tuple[int, int]],
) -> str | None:
    """Why the cell of ``plan`` is not run, or ``None``: the time budget (less left than the
    previous cell took), or with ``fit`` a cell it is larger than did not fit (``too_big``:
    ``(seeds, num_envs)`` of those) or its memory ``estimate`` exceeds the free memory."""
    if grid.budget_s is not None and grid.budget_s - elapsed_s < last_s:
        left = grid.budget_s - elapsed_s
        return f"time budget: {left:.0f} s left, the previous cell took {last_s:.0f} s"
    if not grid.fit:
        return None
    s, n = plan.num_runs, plan.config.num_envs
    for a, b in too_big:
        if s >= a and n >= b:
            return f"larger than seeds={a} x num_envs={b}, which did not fit"
    free = free_memory(plan.layout.devices)
    if estimate > free:
        return f"estimated {estimate / 2**20:,.0f} MiB per device, {free / 2**20:,.0f} MiB free"
    return None


def first_line(err: BaseException) -> str:
    """The first line of an error's message (its type when it has none)."""
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def matmul_peaks(
    cells: dict[tuple[int, int], BenchCell], plans: dict[tuple[int, int], planning.Plan]
) -> dict[int, float]:
    """The matmul peak of the devices of the cells that ran, by their number."""
    peaks: dict[int, float] = {}
    for key, cell in sorted(cells.items()):
        if cell.status == "ok" and cell.devices not in peaks:
            peaks[cell.devices] = bench_programs.matmul_peak_flops(plans[key].layout.devices)
    return dict(sorted(peaks.items()))


def estimated_bytes(plan: planning.Plan) -> int:
    """The memory estimate of ``plan``'s runs on each of its devices."""
    per_run = planning.estimate_run_bytes(plan)
    return per_run * math.ceil(plan.num_runs / plan.layout.runs) // plan.layout.envs


def free_memory(devices: Sequence[Any]) -> int:
    """The smallest free memory of ``devices`` (``ppo_jax.run.plan.free_device_memory``)."""
    from ppo_jax.run.plan import free_device_memory

    return min(free_device_memory(d) for d in devices)


def benchmark(
    config: PPOConfig | None = None,
    seeds: Sequence[int] | int | None = None,
    num_envs: Sequence[int] | int | None = None,
    *,
    updates: int | None = None,
    repeats: int | None = None,
    preset: str | None = None,
    layout: str = "auto",
    env_only: bool = True,
    ceiling: bool = True,
    fit: bool | None = None,
    budget_s: float | None = None,
    progress_every: int = 0,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time ``config`` over a grid of seed counts x ``num_envs``; see the module docstring.

    Args:
      config: the settings (default ``PPOConfig()``, CartPole-v1); each cell sets
        ``num_envs`` and ``total_timesteps``.
      seeds: seed counts (runs in one compiled call), e.g. ``[1, 8, 64]``; default
        ``DEFAULT_SEEDS`` or the preset's.
      num_envs: parallel environments per seed, e.g. ``[4, 64, 1024]``; default the config's
        ``num_envs`` times ``DEFAULT_NUM_ENVS_FACTORS``, or the preset's.
      updates: updates per run; ``None``: the config's ``total_timesteps`` per seed (at least
        one update).
      repeats: timed steady-state runs per cell after the first run (default 3); 0 times only
        the first run after compiling, which then stands for the steady state.
      preset: a named grid of ``PRESETS`` (``"quick"``, ``"gpu-check"``); the arguments given
        win over it.
      layout: where a cell's runs go (``LAYOUTS``; ``"auto"``: as ``train_seeds`` does).
      env_only: also time the environment-only program of every cell.
      ceiling: count each cell's FLOPs, measure the devices' matmul peak (after the cells)
        and each cell's fraction of it; ``False`` leaves the cells' FLOP fields ``None`` (the
        process then does nothing but compile and run the cells).
      fit: skip cells whose memory estimate exceeds the free memory (and every larger cell
        after one that does not fit), record out-of-memory failures, and name the largest
        cell that ran (``BenchResult.fit``). Without it an out-of-memory failure is recorded too.
      budget_s: skip a cell when less time is left than the previous cell took.
      progress_every: time the runs in segments of that many updates with a progress report
        after each (what the CLI's progress bar costs); 0: one compiled call.
      log: called with one line per cell as it starts and ends.

    Returns:
      :class:`BenchResult`. ``result.to_dict()`` is what ``ppo-jax bench`` writes as JSON,
      ``result.write(folder)`` writes the JSON, the table and the scaling plot.

    Raises ``ValueError``/``TypeError`` for a bad grid or config before anything compiles.
    Every compile starts with ``jax.clear_caches()``: the process's other jitted functions
    compile again on their next call.
    """
    started = time.perf_counter()
    config = planning.check_config(PPOConfig() if config is None else config)
    grid = resolve_grid(config, seeds, num_envs, updates, repeats, fit, budget_s, preset)
    flags = layout_flags(layout)
    compiled.check_progress_every(progress_every)
    say = log or (lambda _: None)
    cells: dict[tuple[int, int], BenchCell] = {}
    plans: dict[tuple[int, int], planning.Plan] = {}
    for s in grid.seeds:  # every plan is checked before anything compiles
        for n in grid.num_envs:
            plans[s, n] = planning.plan_seeds(cell_config(config, n, grid.updates), s, **flags)
    flop_counts: dict[int, bench_programs.FlopCount] = {}
    last_s, too_big = 0.0, list[tuple[int, int]]()
    for s, n in sorted(plans, key=lambda k: (k[0] * k[1], k[0])):  # smallest first
        plan = plans[s, n]
        estimate = estimated_bytes(plan)
        elapsed = time.perf_counter() - started
        reason = skip_reason(plan, estimate, grid, elapsed, last_s, too_big)
        if reason is not None:
            cells[s, n] = skipped_cell(plan, "skipped", reason)._replace(estimated_bytes=estimate)
            say(f"  seeds {s:>5} x num_envs {n:>6}: skipped ({reason})")
            if reason.startswith("estimated"):
                too_big.append((s, n))
            continue
        steps = plan.config.env_steps * s
        say(f"  seeds {s:>5} x num_envs {n:>6}: {plan.layout.describe()}, {steps:,} env-steps")
        t0 = time.perf_counter()
        if ceiling and n not in flop_counts:
            flop_counts[n] = run_flops(plan)
        try:
            cell = time_plan(
                plan, grid.repeats, env_only=env_only, progress_every=progress_every,
                flops=flop_counts.get(n),
            )  # fmt: skip
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            too_big.append((s, n))
            cell = skipped_cell(plan, "out of memory", first_line(err))
        cells[s, n] = cell._replace(estimated_bytes=estimate)
        last_s = time.perf_counter() - t0
        say("    " + _cell_line(cells[s, n]))
    peaks = matmul_peaks(cells, plans) if ceiling else {}
    cells = {
        k: with_ceiling(c, peaks[c.devices]) if c.devices in peaks and c.status == "ok" else c
        for k, c in cells.items()
    }
    ordered = tuple(cells[s, n] for s in grid.seeds for n in grid.num_envs)
    ran = [c for c in ordered if c.status == "ok"]
    largest = (
        max(ran, key=lambda c: (c.seeds * c.num_envs, c.num_envs)) if grid.fit and ran else None
    )
    device = jax.devices()[0]
    from ppo_jax.io.bench_report import cpu_model

    return BenchResult(
        cells=ordered,
        config=config,
        seeds=grid.seeds,
        num_envs=grid.num_envs,
        updates=grid.updates,
        repeats=grid.repeats,
        layout=layout,
        preset=preset,
        fit=largest,
        platform=device.platform,
        device_kind=device.device_kind,
        device_count=jax.device_count(),
        process_count=jax.process_count(),
        cpu_model=cpu_model(),
        versions=versions(),
        matmul_peak_flops_per_s=peaks,
        wall_s=time.perf_counter() - started,
        budget_s=grid.budget_s,
    )


def _cell_line(cell: BenchCell) -> str:
    if cell.status != "ok":
        return f"{cell.status}: {cell.reason}"
    env_only = (
        "" if cell.env_only_steps_per_s is None else f", env only {cell.env_only_steps_per_s:,.0f}"
    )
    return f"compile {cell.compile_s:.1f} s, {cell.env_steps_per_s:,.0f} env-steps/s{env_only}"


def versions() -> dict[str, str]:
    """The versions a result depends on."""
    import importlib.metadata

    import jaxlib

    try:
        ours = importlib.metadata.version("ppo-jax")
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        ours = "unknown"
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "ppo_jax": ours,
    }
