"""Sweep throughput on 1 and 2 (or more) host devices: a many-seed and a many-setting sweep.

    python -m benchmarks.sweep_throughput          # 64 seeds; 256 settings; on 1 and 2 devices
    python -m benchmarks.sweep_throughput --devices 1,2 --seeds 64 --settings 256 --json out.json

Each device count runs in a fresh subprocess (``XLA_FLAGS=--xla_force_host_platform_device_count``
must be set before JAX starts). Per case it reports compile time (one chunk compiled ahead of
time) and the steady-state env-steps/s of a second, warm run. Prints one JSON object per case
and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any


def run_case(kind: str, count: int, total_timesteps: int) -> dict[str, Any]:
    """Run inside the subprocess: one sweep case, timed."""
    import jax
    import numpy as np

    from ppo_jax import PPOConfig
    from ppo_jax.run.sweep import compile_sweep_chunk, plan_sweep, run_sweep

    config = PPOConfig(total_timesteps=total_timesteps)
    if kind == "seeds":
        grid: Any = {"learning_rate": [config.learning_rate]}
        seeds: Any = count
    else:
        lrs = np.geomspace(3e-4, 3e-3, count).tolist()
        grid = [{"learning_rate": lr} for lr in lrs]
        seeds = 1
    plan = plan_sweep(config, grid, seeds)
    t0 = time.perf_counter()
    compile_sweep_chunk(plan)
    compile_s = time.perf_counter() - t0
    run_sweep(plan)  # warm (compiles through the jit cache path too)
    t1 = time.perf_counter()
    result = run_sweep(plan)
    run_s = time.perf_counter() - t1
    steps = plan.num_runs * config.env_steps
    return {
        "case": f"{count} {kind}",
        "devices": plan.num_devices,
        "runs": plan.num_runs,
        "chunks": plan.num_chunks,
        "env_steps": steps,
        "compile_s": compile_s,
        "run_s": run_s,
        "env_steps_per_s": steps / run_s,
        "final_return_mean": float(np.nanmean(result.metrics["episode_return"][..., -1])),
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
