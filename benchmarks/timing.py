"""Timing shared by the harness's own cases and the peers': repeated runs and the common row."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

from ppo_jax import PPOConfig


def timed_runs(run: Callable[[], Any], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``run``, each until all of its result is ready."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - t)
    return times


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
