"""Digests of the compiled training programs of the default configs: a change that leaves the
default path's program byte-identical costs it nothing, whatever the machine.

    python -m benchmarks.hlo_digest                         # this checkout's ppo_jax
    python -m benchmarks.hlo_digest --source <checkout>     # another one's (e.g. a worktree)

For each config (CartPole's default, Pendulum's Gaussian policy, MinAtar Breakout's CNN with
observation statistics) it lowers ``make_train``'s whole training function and prints the
SHA-256 of its StableHLO text and its length: JSON lines, then a table. Equal digests mean the
same program: same FLOPs, same speed, bit-identical results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from typing import Any

import jax

CONFIGS: dict[str, dict[str, Any]] = {
    "cartpole-default": {},
    "pendulum-gaussian": {"env_name": "Pendulum-v1"},
    "minatar-cnn-normalized": {"env_name": "Breakout-MinAtar", "normalize_observations": True},
}
"""The programs whose digests are printed: ``PPOConfig`` fields."""


def digest(fields: dict[str, Any]) -> tuple[str, int]:
    """``(sha256 hex, characters)`` of the StableHLO text of the training function of
    ``PPOConfig(**fields)`` (ppo_jax imported here, after ``--source`` took effect)."""
    from ppo_jax import PPOConfig, make_env, make_train

    config = PPOConfig(**fields)
    train_fn = make_train(config)
    _, env_params = make_env(config)
    lowered = jax.jit(train_fn).lower(jax.random.PRNGKey(0), config.hyperparams(), env_params)
    text = lowered.as_text()
    return hashlib.sha256(text.encode()).hexdigest(), len(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names")
    parser.add_argument(
        "--source", default=None, help="import ppo_jax from this checkout (default: installed)"
    )
    args = parser.parse_args(argv)
    if args.source is not None:
        if "ppo_jax" in sys.modules:
            parser.error("--source: ppo_jax is already imported in this process")
        sys.path.insert(0, args.source)
    names = [n for n in args.configs.split(",") if n]
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"--configs: unknown {unknown}; known: {', '.join(CONFIGS)}")
    rows = []
    for name in names:
        sha, chars = digest(CONFIGS[name])
        rows.append({"config": name, "sha256": sha, "chars": chars, "source": args.source})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'config':<24} {'sha256 (first 16)':<18} {'chars':>9}")
    for row in rows:
        print(f"{row['config']:<24} {row['sha256'][:16]:<18} {row['chars']:>9,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
