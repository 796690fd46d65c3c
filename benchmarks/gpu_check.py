"""One-command accelerator check: ``ppo-jax bench --preset gpu-check`` (CartPole's env-steps/s
over seeds x num_envs, compile times, environment-only throughput, the FLOP ceiling, memory and
the largest cell that fits), plus MinAtar Breakout trained once (a learning check), timed by the
same harness (``ppo_jax.benchmark``), on ONE device, inside a time budget.

    python -m benchmarks.gpu_check --out results/gpu          # one GPU, about 8 minutes
    python -m benchmarks.gpu_check --out /tmp/check --quick   # the quick preset (a CPU smoke test)

The throughput part alone is ``ppo-jax bench --preset gpu-check --layout one --out DIR`` from
the installed package. Writes ``DIR/bench.json``, ``bench.txt`` and ``bench_scaling.png`` (the
preset's grid) and ``DIR/gpu_check.json``: ``bench`` (the same JSON), ``breakout`` (its cell:
compile, env-steps/s, the final training return) and ``wall_s``. Breakout runs first (one run of
``BREAKOUT_STEPS`` env-steps, or its tuned config's budget); the grid gets what is left of
``--budget-s`` (a cell is skipped when less time is left than the previous cell took).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import ppo_jax

QUICK_BREAKOUT: dict[str, Any] = {"num_envs": 4, "num_steps": 8, "total_timesteps": 4 * 8 * 3}
"""``--quick``: Breakout's workload."""


def breakout(quick: bool) -> ppo_jax.BenchResult:
    """MinAtar Breakout's tuned config trained once, one seed, timed by ``ppo_jax.benchmark``
    (repeats=0: the one run is the figure; its final return is the learning check)."""
    config = ppo_jax.get_config("Breakout-MinAtar")
    if quick:
        config = config.replace(**QUICK_BREAKOUT)
    return ppo_jax.benchmark(config, [1], [config.num_envs], repeats=0, layout="one", ceiling=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the results")
    parser.add_argument("--budget-s", type=float, default=420.0, help="time budget (420 s)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per cell")
    parser.add_argument("--quick", action="store_true", help="the quick preset (CPU smoke test)")
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be > 0, got {args.budget_s}")
    if args.repeats is not None and args.repeats < 0:
        parser.error(f"--repeats must be >= 0, got {args.repeats}")
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    learned = breakout(args.quick)
    (cell,) = learned.cells
    print(
        f"Breakout-MinAtar: {cell.env_steps:,} env-steps, final return {cell.final_return}, "
        f"compile {cell.compile_s:.1f} s, {cell.env_steps_per_s:,.0f} env-steps/s",
        flush=True,
    )
    left = max(args.budget_s - (time.perf_counter() - start), 1.0)
    grid = ppo_jax.benchmark(
        preset="quick" if args.quick else "gpu-check",
        repeats=args.repeats,
        layout="one",
        budget_s=left,
        log=print,
    )
    grid.write(out)
    report = {
        "bench": grid.to_dict(),
        "breakout": learned.to_dict()["cells"][0],
        "wall_s": time.perf_counter() - start,
    }
    path = out / "gpu_check.json"
    path.write_text(json.dumps(report, indent=2))
    from ppo_jax.io.bench_report import bench_table

    print()
    print(bench_table(report["bench"]))
    print(f"wrote {path} and the bench files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
