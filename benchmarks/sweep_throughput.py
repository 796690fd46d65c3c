"""Sweep throughput on 1 and 2 (or more) host devices: a many-seed and a many-setting sweep.

    python -m benchmarks.sweep_throughput          # 64 seeds; 256 settings; on 1 and 2 devices
    python -m benchmarks.sweep_throughput --devices 1,2 --seeds 64 --settings 256 --json out.json

Each device count runs in a fresh subprocess (``XLA_FLAGS=--xla_force_host_platform_device_count``
must be set before JAX starts). Per case, ppo_jax's harness (``ppo_jax.run.benchmark``) times the
sweep's chunk program: its compile time (cold) and the steady-state env-steps/s of a second,
warm run of the first chunk (a chunk holds every run when they fit in memory, as here). Prints
one JSON object per case and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any


def run_case(kind: str, count: int, total_timesteps: int) -> dict[str, Any]:
    """Run inside the subprocess: one sweep case (its first chunk) timed by ppo_jax's harness
    (``ppo_jax.run.benchmark.time_plan``: a cold compile, a first run, one steady run)."""
    import jax
    import numpy as np

    from ppo_jax import PPOConfig
    from ppo_jax.run.benchmark import time_plan
    from ppo_jax.run.sweep import plan_sweep

    config = PPOConfig(total_timesteps=total_timesteps)
    if kind == "seeds":
        grid: Any = {"learning_rate": [config.learning_rate]}
        seeds: Any = count
    else:
        lrs = np.geomspace(3e-4, 3e-3, count).tolist()
        grid = [{"learning_rate": lr} for lr in lrs]
        seeds = 1
    plan = plan_sweep(config, grid, seeds)
    cell = time_plan(plan.plan, 1, env_only=False, flops=False)
    return {
        "case": f"{count} {kind}",
        "devices": plan.num_devices,
        "runs": plan.num_runs,
        "chunks": plan.num_chunks,
        "env_steps": cell.env_steps,
        "compile_s": cell.compile_s,
        "run_s": cell.run_s[0],
        "env_steps_per_s": cell.env_steps_per_s,
        "final_return_mean": cell.final_return,
        "device": str(jax.devices()[0]),
        "jax_version": jax.__version__,
        "total_timesteps": config.env_steps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", default="1,2", help="comma-separated host device counts")
    parser.add_argument("--seeds", type=int, default=64, help="seeds of the many-seed sweep")
    parser.add_argument("--settings", type=int, default=256, help="settings of the grid sweep")
    parser.add_argument("--total-timesteps", type=int, default=16384, help="env steps per run")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, count = args.child.split(":")
        print("RESULT " + json.dumps(run_case(kind, int(count), args.total_timesteps)), flush=True)
        return 0
    results = []
    for n in [int(d) for d in args.devices.split(",")]:
        for case in (f"seeds:{args.seeds}", f"settings:{args.settings}"):
            env = {
                **os.environ,
                "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
                "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
            }
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.sweep_throughput",
                "--child",
                case,
                "--total-timesteps",
                str(args.total_timesteps),
            ]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(proc.stdout + proc.stderr, file=sys.stderr)
                return 1
            row = json.loads(lines[-1][len("RESULT ") :])
            results.append(row)
            print(json.dumps(row), flush=True)
    print(
        f"\n{'case':>14} {'devices':>7} {'runs':>5} {'compile s':>9} {'run s':>7} "
        f"{'env-steps/s':>12}"
    )
    for r in results:
        print(
            f"{r['case']:>14} {r['devices']:>7} {r['runs']:>5} {r['compile_s']:>9.1f} "
            f"{r['run_s']:>7.1f} {r['env_steps_per_s']:>12,.0f}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
