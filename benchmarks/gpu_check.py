"""One-command accelerator check: throughput against num_envs and seeds, compile times, and
MinAtar Breakout trained for 10M env-steps (one seed), on ONE device, inside a time budget.

    python -m benchmarks.gpu_check --out results/gpu          # one GPU, under 8 minutes
    python -m benchmarks.gpu_check --out /tmp/check --quick   # tiny sizes (a CPU smoke test)

Writes ``DIR/gpu_check.json`` (``header``: device kind, platform, jax version, the float32
matmul peak measured in the same run; ``num_envs``, ``seeds``: one row per point, as
``benchmarks.throughput`` reports them; ``breakout``; ``skipped``; ``wall_s``) and prints a
table. Every point runs on one device (``shard=False``), so a multi-GPU machine measures one GPU.

Order and the time budget (``--budget-s``, default 420 s, which leaves a margin under 8
minutes): Breakout first, in segments of updates, until it finishes or
``BREAKOUT_SHARE`` of the budget has passed (then the env-steps reached and the return so far
are recorded, with ``"finished": false``); then the num_envs sweep (CartPole-v1, the default
config, one seed, ``NUM_ENVS``) and the seeds sweep (``SEEDS``, the default config's 32 envs
each). A point is skipped, and recorded in ``skipped``, when the time left is shorter than the
previous point of its sweep took.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from benchmarks import throughput
from ppo_jax import PPOConfig, get_config
from ppo_jax.run import drivers
from ppo_jax.run.summary import final_return

NUM_ENVS = (256, 1024, 4096, 16384, 65536)
"""num_envs of the CartPole sweep (one seed): quadrupling."""
SEEDS = (1, 8, 64, 256, 1024)
"""Seed counts of the CartPole sweep (the default config's num_envs each)."""
SWEEP_STEPS = 1 << 22
"""Env-steps per seed of a num_envs point (at least two updates)."""
BREAKOUT_SHARE = 0.55
"""Share of the budget Breakout may use before it is stopped."""
BREAKOUT_SEGMENTS = 40
"""Segments the Breakout run is split into (the budget is checked between them)."""
QUICK_NUM_ENVS = (4, 8)
QUICK_SEEDS = (1, 2)
QUICK_STEPS = 4 * 64 * 2
QUICK_BREAKOUT: dict[str, Any] = {"num_envs": 4, "num_steps": 8, "total_timesteps": 4 * 8 * 3}
QUICK_MATMUL_SIZE = 256
"""``--quick``: the sweeps' points, their env-steps, Breakout's workload, the matmul size."""


class Clock:
    """Seconds since the start, against a budget."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.perf_counter()
        self.budget_s = budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()


def breakout_run(config: PPOConfig, clock: Clock, deadline_s: float) -> dict[str, Any]:
    """Train one seed of ``config`` in segments; stop between segments past ``deadline_s``
    (seconds since the clock's start). Returns compile and run seconds, env-steps done and
    per second, and the final return (``ppo_jax.run.summary.final_return``)."""
    t0 = time.perf_counter()
    plan = drivers.plan_seeds(config, [0], shard=False)
    runner = drivers.init_runs(plan)
    length = max(1, -(-config.num_updates // BREAKOUT_SEGMENTS))
    segment = drivers.compile_segments(plan, runner, length)
    compile_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    parts: list[dict[str, Any]] = []
    start = 0
    while start < config.num_updates:
        runner, metrics = segment(runner, start)
        parts.append(jax.device_get(metrics))  # waits for the segment
        start = min(start + length, config.num_updates)
        if clock.elapsed() > deadline_s:
            break
    run_s = time.perf_counter() - t1
    metrics = {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}
    steps = start * config.batch_size
    return {
        "env_name": config.env_name,
        "num_envs": config.num_envs,
        "num_steps": config.num_steps,
        "total_timesteps": config.total_timesteps,
        "env_steps_done": steps,
        "finished": start >= config.num_updates,
        "compile_s": compile_s,
        "run_s": run_s,
        "wall_s": compile_s + run_s,
        "env_steps_per_s": steps / run_s,
        "final_return": float(final_return(metrics)[0]),
        "config": config.to_dict(),
    }


def sweep(
    name: str,
    points: list[tuple[PPOConfig, int]],
    clock: Clock,
    repeats: int,
    peak: float,
    skipped: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """``throughput.bench_case`` (one device) for every ``(config, seeds)`` point while the time
    left exceeds the previous point's duration; the rest go to ``skipped``."""
    rows: list[dict[str, Any]] = []
    last_s = 0.0
    for config, seeds in points:
        if clock.left() < last_s:
            skipped.append(
                {
                    "sweep": name,
                    "num_envs": config.num_envs,
                    "seeds": seeds,
                    "reason": f"time budget: {clock.left():.0f} s left, the previous point "
                    f"took {last_s:.0f} s",
                }
            )
            continue
        t = time.perf_counter()
        row = throughput.bench_case(config, seeds, repeats, shard=False)
        throughput.add_ceiling(row, config, peak)
        rows.append(row)
        last_s = time.perf_counter() - t
        print(json.dumps({"sweep": name, **{k: v for k, v in row.items() if k != "config"}}))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for gpu_check.json")
    parser.add_argument("--budget-s", type=float, default=420.0, help="time budget (420 s)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per point (2)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a CPU smoke test)")
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be > 0, got {args.budget_s}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    clock = Clock(args.budget_s)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    base = PPOConfig()
    breakout = get_config("Breakout-MinAtar")
    num_envs: tuple[int, ...] = NUM_ENVS
    seeds: tuple[int, ...] = SEEDS
    steps = SWEEP_STEPS
    matmul_size = throughput.MATMUL_SIZE if jax.default_backend() == "cpu" else 8192
    if args.quick:
        num_envs, seeds, steps = QUICK_NUM_ENVS, QUICK_SEEDS, QUICK_STEPS
        breakout = breakout.replace(**QUICK_BREAKOUT)
        matmul_size = QUICK_MATMUL_SIZE
    env_points = [(throughput.case_config(base, n, steps), 1) for n in num_envs]
    seed_points = [(base, s) for s in seeds]
    if args.quick:  # a workload of its own (a num_envs point's program would be reused)
        seed_points = [(throughput.case_config(base, 2, steps), s) for s in seeds]

    device = jax.devices()[0]
    header = {
        "device_kind": device.device_kind,
        "device": str(device),
        "platform": device.platform,
        "local_device_count": jax.local_device_count(),
        "jax_version": jax.__version__,
        "python": platform.python_version(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "matmul_size": matmul_size,
        "matmul_peak_gflops": throughput.matmul_peak_gflops(matmul_size),
        "budget_s": args.budget_s,
        "quick": args.quick,
    }
    print(json.dumps({"header": header}), flush=True)
    skipped: list[dict[str, Any]] = []
    result: dict[str, Any] = {"header": header}
    result["breakout"] = breakout_run(breakout, clock, BREAKOUT_SHARE * args.budget_s)
    print(json.dumps({"breakout": result["breakout"]}, default=str), flush=True)
    if not result["breakout"]["finished"]:
        skipped.append(
            {
                "sweep": "breakout",
                "reason": f"time budget: stopped after {result['breakout']['env_steps_done']} "
                "env-steps",
            }
        )
    peak = header["matmul_peak_gflops"]
    result["num_envs"] = sweep("num_envs", env_points, clock, args.repeats, peak, skipped)
    result["seeds"] = sweep("seeds", seed_points, clock, args.repeats, peak, skipped)
    result["skipped"] = skipped
    result["wall_s"] = clock.elapsed()
    path = out / "gpu_check.json"
    path.write_text(json.dumps(result, indent=2))
    print_report(result)
    print(f"wrote {path}")
    return 0


def print_report(result: dict[str, Any]) -> None:
    """The sweeps as ``benchmarks.throughput``'s table, then Breakout and what was skipped."""
    header = result["header"]
    print(f"\n{header['device_kind']} ({header['platform']})")
    throughput.print_table(result["num_envs"] + result["seeds"], header)
    b = result["breakout"]
    state = "finished" if b["finished"] else "STOPPED by the time budget"
    print(
        f"\n{b['env_name']}: {b['env_steps_done']:,} of {b['total_timesteps']:,} env-steps "
        f"({state}), final return {b['final_return']:.2f}, wall {b['wall_s']:.1f} s "
        f"(compile {b['compile_s']:.1f} s), {b['env_steps_per_s']:,.0f} env-steps/s"
    )
    for s in result["skipped"]:
        where = f" num_envs={s['num_envs']} seeds={s['seeds']}" if "num_envs" in s else ""
        print(f"skipped {s['sweep']}{where}: {s['reason']}")
    print(f"total wall {result['wall_s']:.0f} s of a {header['budget_s']:.0f} s budget")


if __name__ == "__main__":
    sys.exit(main())
