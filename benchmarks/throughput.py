"""Training throughput benchmark: compile time and steady-state env-steps/s, separately.

    python -m benchmarks.throughput                      # default config, 1 and 8 seeds
    python -m benchmarks.throughput --seeds 1,64 --num-envs 32,256 --repeats 3 --json out.json

For every (num_envs, seeds) case it compiles ``train_seeds`` ahead of time (timed), runs it once
to warm up, then ``--repeats`` more times (each ``block_until_ready``) and reports the median.
It also measures the device's float32 matmul peak in the same run and the model FLOPs per
env-step of the config, and reports the fraction of that compute ceiling reached.
Prints a table and one JSON object per case (and writes ``--json`` if given).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp

from ppo_jax import PPOConfig
from ppo_jax.envs import env_spec, make_env
from ppo_jax.train import compile_train_seeds

MATMUL_SIZE = 2048


def matmul_peak_gflops(size: int = MATMUL_SIZE, repeats: int = 5) -> float:
    """Median float32 GFLOP/s of a ``size x size`` matmul on the default device."""
    key = jax.random.PRNGKey(0)
    a = jax.random.normal(key, (size, size), jnp.float32)
    b = jax.random.normal(jax.random.fold_in(key, 1), (size, size), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    f(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * size**3 / statistics.median(times) / 1e9


def mlp_macs(sizes: list[int]) -> int:
    return sum(a * b for a, b in itertools.pairwise(sizes))


def flops_per_env_step(config: PPOConfig) -> float:
    """Model FLOPs per environment step: the acting forward pass, two critic evaluations
    (V(s), V(s')), and ``update_epochs`` forward+backward passes (~3x forward) of both nets."""
    env, params = make_env(config)
    obs_shape, num_actions = env_spec(env, params)
    obs_dim = 1
    for d in obs_shape:
        obs_dim *= d
    actor = mlp_macs([obs_dim, *config.hidden_sizes, num_actions])
    critic = mlp_macs([obs_dim, *config.hidden_sizes, 1])
    return 2.0 * (actor + 2 * critic + config.update_epochs * 3 * (actor + critic))


def bench_case(
    config: PPOConfig, num_seeds: int, repeats: int, progress_every: int = 0
) -> dict[str, Any]:
    t0 = time.perf_counter()
    run = compile_train_seeds(config, num_seeds, progress_every=progress_every)
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(run().params)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(run().params)
        times.append(time.perf_counter() - t)
    run_s = statistics.median(times)
    steps = config.env_steps * num_seeds
    return {
        "env_name": config.env_name,
        "num_envs": config.num_envs,
        "num_steps": config.num_steps,
        "seeds": num_seeds,
        "env_steps": steps,
        "compile_s": compile_s,
        "run_s_median": run_s,
        "run_s_all": times,
        "env_steps_per_s": steps / run_s,
        "progress_every": progress_every,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,8", help="comma-separated seed counts")
    parser.add_argument("--num-envs", default=None, help="comma-separated num_envs values")
    parser.add_argument("--total-timesteps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="write all results to this JSON file")
    parser.add_argument(
        "--progress-overhead",
        action="store_true",
        help="also measure the cost of live progress reports (as many as the CLI's bar makes)",
    )
    args = parser.parse_args(argv)
    base = PPOConfig()
    if args.total_timesteps:
        base = base.replace(total_timesteps=args.total_timesteps)
    envs_list = [int(x) for x in args.num_envs.split(",")] if args.num_envs else [base.num_envs]
    seeds_list = [int(x) for x in args.seeds.split(",")]
    peak = matmul_peak_gflops()
    header = {
        "device": str(jax.devices()[0]),
        "platform": jax.devices()[0].platform,
        "device_count": jax.device_count(),
        "jax_version": jax.__version__,
        "python": platform.python_version(),
        "matmul_peak_gflops": peak,
    }
    print(json.dumps({"header": header}), flush=True)
    results = []
    for num_envs in envs_list:
        cfg = base.replace(num_envs=num_envs)
        fps = flops_per_env_step(cfg)
        for seeds in seeds_list:
            row = bench_case(cfg, seeds, args.repeats)
            row["flops_per_env_step"] = fps
            row["ceiling_env_steps_per_s"] = peak * 1e9 / fps
            row["fraction_of_ceiling"] = row["env_steps_per_s"] / row["ceiling_env_steps_per_s"]
            row["config"] = cfg.to_dict()
            results.append(row)
            print(json.dumps(row), flush=True)
    print(
        f"\n{header['device']}  jax {header['jax_version']}  matmul peak {peak:.0f} GFLOP/s\n"
        f"{'num_envs':>8} {'seeds':>6} {'compile s':>9} {'run s':>7} {'env-steps/s':>12} "
        f"{'kFLOP/step':>10} {'% ceiling':>9}"
    )
    for r in results:
        print(
            f"{r['num_envs']:>8} {r['seeds']:>6} {r['compile_s']:>9.2f} {r['run_s_median']:>7.2f} "
            f"{r['env_steps_per_s']:>12,.0f} {r['flops_per_env_step'] / 1e3:>10.0f} "
            f"{100 * r['fraction_of_ceiling']:>8.1f}%"
        )
    if args.progress_overhead:
        from ppo_jax import progress
        from ppo_jax.cli import report_every

        every = report_every(base.num_updates, "bar")  # what the CLI's progress bar uses
        seeds = seeds_list[-1]
        events: list[Any] = []
        with progress.listen(events.append):
            on = bench_case(base, seeds, args.repeats, progress_every=every)
        off = next(r for r in results if r["seeds"] == seeds and r["num_envs"] == base.num_envs)
        overhead = off["env_steps_per_s"] / on["env_steps_per_s"] - 1.0
        row = {
            "case": "progress_overhead",
            "seeds": seeds,
            "progress_every": every,
            "events": len(events),
            "env_steps_per_s_without": off["env_steps_per_s"],
            "env_steps_per_s_with": on["env_steps_per_s"],
            "overhead_fraction": overhead,
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        print(
            f"progress reports every {every} updates ({seeds} seeds): "
            f"{on['env_steps_per_s']:,.0f} vs {off['env_steps_per_s']:,.0f} env-steps/s "
            f"without -> overhead {100 * overhead:+.1f}%"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"header": header, "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
