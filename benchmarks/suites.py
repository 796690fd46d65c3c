"""Environment suites: raw environment stepping beside full PPO training, per suite.

``python -m benchmarks.suites`` measures, for one environment of each installed suite
(``ppo_jax.core.suites``; CartPole as the gymnax reference):

* ``env``: env-steps/s of the environment alone through ppo_jax's adapter (vmapped ``step``
  with its same-step reset, uniformly random legal actions, one ``lax.scan``);
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
import statistics
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks.timing import timed_runs
from ppo_jax import get_config, train_seeds
from ppo_jax.cli.flags import parse_env_kwarg
from ppo_jax.core.envs import action_masks, env_spec, make_env, reset_envs, step_envs

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


def env_stepper(
    env_name: str, num_envs: int, num_steps: int, env_kwargs: tuple[tuple[str, Any], ...] = ()
) -> Any:
    """A jitted ``key -> (rewards, last observations, episode stats)`` stepping ``num_envs``
    environments ``num_steps`` times with random legal actions (a rollout without the
    network)."""
    env, params = make_env(get_config(env_name, env_kwargs=env_kwargs))
    _, action = env_spec(env, params)

    def run(key: jax.Array) -> jax.Array:
        carry = reset_envs(env, params, key, num_envs)

        def body(carry: Any, k: jax.Array) -> tuple[Any, jax.Array]:
            k_act, k_env = jax.random.split(k)
            if action.continuous:
                a = jax.random.uniform(k_act, (num_envs, action.size), minval=-1.0, maxval=1.0)
            else:
                logits = jnp.zeros((num_envs, action.size))
                mask = action_masks(env, params, carry.env_state)
                if mask is not None:
                    logits = jnp.where(mask, logits, -jnp.inf)
                a = jax.random.categorical(k_act, logits)
            carry, out = step_envs(env, params, k_env, carry, a)
            return carry, out["reward"]

        # The final observations are returned too: without them XLA may drop the physics of
        # an environment whose reward does not depend on its state (Brax's pendulum pays 1).
        carry, rewards = jax.lax.scan(body, carry, jax.random.split(key, num_steps))
        return rewards, carry.obs, carry.stats

    return jax.jit(run)


def bench_suite(
    suite: str,
    num_envs: int,
    num_steps: int,
    updates: int,
    repeats: int,
    env_kwargs: tuple[tuple[str, Any], ...] = (),
) -> dict[str, Any]:
    """One row: the environment alone and PPO training, env-steps/s and compile seconds."""
    env_name = ENVS[suite]
    steps = num_envs * num_steps * updates
    stepper = env_stepper(env_name, num_envs, num_steps * updates, env_kwargs)
    key = jax.random.PRNGKey(0)
    t = time.perf_counter()
    compiled = stepper.lower(key).compile()
    env_compile = time.perf_counter() - t
    env_times = timed_runs(lambda: compiled(key), repeats)

    config = get_config(
        env_name,
        num_envs=num_envs,
        num_steps=num_steps,
        total_timesteps=steps,
        num_minibatches=4,
        env_kwargs=env_kwargs,
    )
    t = time.perf_counter()
    jax.block_until_ready(train_seeds(config, 1).params)
    ppo_first = time.perf_counter() - t
    ppo_times = timed_runs(lambda: train_seeds(config, 1).params, repeats)
    env_rate = steps / statistics.median(env_times)
    ppo_rate = steps / statistics.median(ppo_times)
    return {
        "suite": suite,
        "env_name": env_name,
        "num_envs": num_envs,
        "env_steps": steps,
        "env_steps_per_s": env_rate,
        "env_compile_s": env_compile,
        "ppo_steps_per_s": ppo_rate,
        "ppo_compile_s": max(ppo_first - statistics.median(ppo_times), 0.0),
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
