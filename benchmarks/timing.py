"""The harness's one timer, shared by ppo_jax's cases and the peers': ``ppo_jax``'s own side is
timed by :func:`ppo_jax.benchmark` (cells) or :func:`ppo_jax.run.benchmark.time_program`; the
peers' runs are timed here with the same :func:`timed_runs`. Rows of the tables: the common
fields."""

from __future__ import annotations

import statistics
from typing import Any

from ppo_jax import BenchCell, PPOConfig
from ppo_jax.run.benchmark import timed_runs

__all__ = ["cell_row", "timed_runs", "timing_row"]


def timing_row(
    library: str, config: PPOConfig, num_seeds: int, compile_s: float | None, times: list[float]
) -> dict[str, Any]:
    """The fields every result row has: workload, compile time, run times (median and all) and
    env-steps/s over all ``num_seeds`` seeds."""
    run_s = statistics.median(times)
    steps = config.env_steps * num_seeds
    return {
        "library": library,
        "env_name": config.env_name,
        "num_envs": config.num_envs,
        "num_steps": config.num_steps,
        "seeds": num_seeds,
        "env_steps": steps,
        "compile_s": compile_s,
        "run_s_median": run_s,
        "run_s_all": times,
        "env_steps_per_s": steps / run_s,
    }


def cell_row(config: PPOConfig, cell: BenchCell) -> dict[str, Any]:
    """:func:`timing_row` of a cell ``ppo_jax.benchmark`` measured (``config``: its own)."""
    return timing_row("ppo_jax", config, cell.seeds, cell.compile_s, list(cell.run_s))
