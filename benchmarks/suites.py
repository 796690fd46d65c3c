"""Environment suites: raw environment stepping beside full PPO training, per suite.

``python -m benchmarks.suites`` measures, for one environment of each installed suite
(``ppo_jax.core.suites``; CartPole as the gymnax reference):

* ``env``: env-steps/s of the environment alone through ppo_jax's adapter: ``ppo_jax.benchmark``'s
  environment-only program (the training rollouts, vmapped ``step`` with its same-step reset,
  with uniformly random legal actions instead of the network, and no update);
* ``ppo``: env-steps/s of PPO training (``train_seeds``, one seed) on the same ``num_envs`` x
  ``num_steps`` rollouts, with the network of the environment's tuned config;
* ``env share``: the ratio ``ppo / env``, the fraction of a training step that the environment
  costs (1.0: the environment is all of it; near 0: the network dominates).

Compile times are reported beside. Every figure is from this run on this machine; the JSON
(``--json FILE``) holds the rows and the device.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any

import jax

import ppo_jax
from ppo_jax import get_config
from ppo_jax.cli.flags import parse_env_kwarg

ENVS = {
    "gymnax": "CartPole-v1",
    "navix": "navix:Navix-Empty-5x5-v0",
    "xminigrid": "xminigrid:MiniGrid-Empty-5x5",
    "jumanji": "jumanji:Snake-v1",
    "brax": "brax:inverted_pendulum",
    "craftax": "craftax:Craftax-Classic-Symbolic-v1",
}
"""One environment per suite (its extra's module is the key, but for gymnax)."""


def installed(suite: str) -> bool:
    return suite == "gymnax" or importlib.util.find_spec(suite) is not None


def bench_suite(
    suite: str,
    num_envs: int,
    num_steps: int,
    updates: int,
    repeats: int,
    env_kwargs: tuple[tuple[str, Any], ...] = (),
) -> dict[str, Any]:
    """One row, timed by ``ppo_jax.benchmark`` (one seed): the environment alone (its
    environment-only program: the same rollouts with uniformly random legal actions, no
    network, no update) and PPO training, env-steps/s and compile seconds."""
    env_name = ENVS[suite]
    config = get_config(
        env_name,
        num_envs=num_envs,
        num_steps=num_steps,
        total_timesteps=num_envs * num_steps * updates,
        num_minibatches=4,
        env_kwargs=env_kwargs,
    )
    (cell,) = ppo_jax.benchmark(config, [1], [num_envs], repeats=repeats, ceiling=False).cells
    env_rate, ppo_rate = cell.env_only_steps_per_s, cell.env_steps_per_s
    return {
        "suite": suite,
        "env_name": env_name,
        "num_envs": num_envs,
        "env_steps": cell.env_steps,
        "env_steps_per_s": env_rate,
        "env_compile_s": cell.env_only_compile_s,
        "ppo_steps_per_s": ppo_rate,
        "ppo_compile_s": cell.compile_s,
        "env_share": ppo_rate / env_rate,
        "env_kwargs": dict(env_kwargs),
        "hidden_sizes": list(config.hidden_sizes),
    }


def print_table(rows: list[dict[str, Any]], skipped: list[str]) -> None:
    print(
        f"{'suite':<10} {'environment':<38} {'env steps/s':>12} {'PPO steps/s':>12} "
        f"{'env share':>9} {'compile env/PPO':>16}"
    )
    for r in rows:
        compile_cell = f"{r['env_compile_s']:.1f}s / {r['ppo_compile_s']:.1f}s"
        print(
            f"{r['suite']:<10} {r['env_name']:<38} {r['env_steps_per_s']:>12,.0f} "
            f"{r['ppo_steps_per_s']:>12,.0f} {r['env_share']:>9.2f} {compile_cell:>16}"
        )
    for s in skipped:
        print(f'{s:<10} skipped: not installed (pip install -e ".[{s}]")')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--suites", default=",".join(ENVS), help="comma-separated suites (" + ", ".join(ENVS) + ")"
    )
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=64)
    parser.add_argument("--updates", type=int, default=4, help="PPO updates per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--env-kwarg",
        action="append",
        type=parse_env_kwarg,
        default=[],
        metavar="KEY=VALUE",
        help="an env kwarg (as ppo-jax train takes it) for every chosen suite, e.g. reset_ratio=1",
    )
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    env_kwargs = args.env_kwarg
    chosen = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in ENVS]
    if unknown:
        parser.error(f"--suites: unknown {unknown}; choose from {', '.join(ENVS)}")
    for name in ("num_envs", "num_steps", "updates", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    rows, skipped = [], []
    for suite in chosen:
        if not installed(suite):
            skipped.append(suite)
            continue
        rows.append(
            bench_suite(
                suite, args.num_envs, args.num_steps, args.updates, args.repeats, tuple(env_kwargs)
            )
        )
        print(f"measured {suite}", file=sys.stderr)
    result = {
        "device": str(jax.devices()[0].device_kind),
        "platform": jax.default_backend(),
        "rows": rows,
        "skipped": skipped,
    }
    print(json.dumps(result))
    print_table(rows, skipped)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
