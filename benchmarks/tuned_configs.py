"""Learning results of the tuned configs (``ppo_jax.get_config``): the README's environment table.

    python -m benchmarks.tuned_configs                          # classic control and MemoryChain
    python -m benchmarks.tuned_configs --envs Pendulum-v1 --seeds 8 --json out.json
    python -m benchmarks.tuned_configs --envs Breakout-MinAtar --total-timesteps 1000000

For each environment it trains ``--seeds`` seeds of ``get_config(env)`` in one compiled call
(compile and run timed apart by ppo_jax's harness, ``ppo_jax.run.benchmark.time_program``),
then reports the final training return (mean of the episodes that ended in the last 5% of
updates; mean +- std over seeds), the greedy policy's return over ``--episodes`` fresh episodes
per seed (``ppo_jax.evaluate``), the target, and wall times.
Prints a table, a Markdown table for the README and one JSON object per environment.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

import jax
import numpy as np

from ppo_jax import evaluate, get_config
from ppo_jax.io.stats import final_return
from ppo_jax.io.tuned import TARGETS
from ppo_jax.run.benchmark import time_program
from ppo_jax.run.programs import compile_train_seeds

DEFAULT_ENVS = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "MemoryChain-bsuite",
)


def run_env(
    env_name: str, seeds: int, episodes: int, total_timesteps: int | None
) -> dict[str, Any]:
    config = get_config(env_name)
    if total_timesteps is not None:
        config = config.replace(total_timesteps=total_timesteps)
    # Timed by ppo_jax's harness: a cold compile, then the one run whose policies are judged.
    timed = time_program(lambda: compile_train_seeds(config, seeds), repeats=0)
    compile_s, run_s, result = timed.compile_s, timed.first_run_s, timed.first_output
    final = final_return({k: np.asarray(v) for k, v in result.metrics.items()})
    greedy = []
    for i in range(seeds):
        params, obs_norm = jax.tree.map(lambda x, i=i: x[i], (result.params, result.obs_norm))
        out = evaluate(config, params, jax.random.PRNGKey(10_000 + i), episodes, obs_norm=obs_norm)
        greedy.append(float(np.mean(np.asarray(out.returns))))
    target = TARGETS.get(env_name)
    return {
        "env": env_name,
        "seeds": seeds,
        "env_steps": config.env_steps,
        "final_return_mean": float(np.mean(final)),
        "final_return_std": float(np.std(final)),
        "final_return_per_seed": [round(float(x), 2) for x in final],
        "greedy_return_mean": float(np.mean(greedy)),
        "greedy_return_std": float(np.std(greedy)),
        "target": target,
        "seeds_at_target": None if target is None else int(np.sum(final >= target)),
        "compile_s": round(compile_s, 2),
        "run_s": round(run_s, 2),
        "env_steps_per_s": round(seeds * config.env_steps / run_s),
        "config": config.to_dict(),
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "machine": platform.processor() or platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default=",".join(DEFAULT_ENVS), help="comma-separated env ids")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per environment")
    parser.add_argument("--episodes", type=int, default=16, help="greedy episodes per seed")
    parser.add_argument("--total-timesteps", type=int, default=None, help="override the budget")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    rows = []
    for env_name in [e for e in args.envs.split(",") if e]:
        row = run_env(env_name, args.seeds, args.episodes, args.total_timesteps)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "config"}), flush=True)
    print()
    header = (
        f"{'env':26s} {'steps':>10s} {'final return':>18s} {'greedy':>18s} {'target':>7s} "
        f"{'at target':>9s} {'compile s':>9s} {'run s':>7s}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['env']:26s} {r['env_steps']:>10,} "
            f"{r['final_return_mean']:>9.1f} +- {r['final_return_std']:<5.1f} "
            f"{r['greedy_return_mean']:>9.1f} +- {r['greedy_return_std']:<5.1f} "
            f"{r['target'] if r['target'] is not None else '-':>7} "
            f"{r['seeds_at_target'] if r['target'] is not None else '-':>6}/{r['seeds']:<2} "
            f"{r['compile_s']:>9.1f} {r['run_s']:>7.1f}"
        )
    print()
    print("| env | steps | final return (train) | greedy return | target | wall (compile + run) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['env']} | {r['env_steps']:,} | {r['final_return_mean']:.1f} +- "
            f"{r['final_return_std']:.1f} | {r['greedy_return_mean']:.1f} +- "
            f"{r['greedy_return_std']:.1f} | {r['target'] if r['target'] is not None else '-'} | "
            f"{r['compile_s']:.0f} s + {r['run_s']:.0f} s |"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
