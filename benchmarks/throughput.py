"""Training throughput benchmark: compile time and steady-state env-steps/s, separately.

    python -m benchmarks.throughput                      # default config, 1 and 8 seeds
    python -m benchmarks.throughput --seeds 1,64 --num-envs 32,256 --repeats 3 --json out.json
    python -m benchmarks.throughput --scaling --plot docs/scaling.png   # num_envs and seeds sweeps
    python -m benchmarks.throughput --seeds 1,8 --layout one,envs,seeds  # device layouts
    python -m benchmarks.throughput --seeds 1,64 --compare rejax,sb3    # peers, same workload

Every (num_envs, seeds) case is timed by ppo_jax's own harness (``ppo_jax.run.benchmark``, what
``ppo-jax bench`` runs: ``train_seeds``' program compiled cold and timed, one first run, then
``--repeats`` more (each ``block_until_ready``), the median reported). It also measures the
device's float32 matmul peak in the same run and reports two fractions of that compute ceiling:
``fraction_of_ceiling`` from the model FLOPs per env-step of the config (matmuls counted by
hand, the same count for the peers' rows) and ``xla_fraction_of_ceiling`` from XLA's cost
analysis of the program with every loop counted (ppo_jax's rows; ``ppo-jax bench`` reports this
one). For
environments with a solve threshold it reports how many seeds reached it and, when all did, the
wall time to get there: compile time plus the share of the run spent until the last seed's first
solving update. ``--layout`` chooses how a case uses the devices (one, seeds split, or every
seed's environments split; several can be compared in one run). ``--compare rejax,sb3`` also
runs those libraries (when installed; see ``benchmarks.compare``) on the cases' workloads in the
same run. Prints a table and one JSON object per case (and writes ``--json`` if given).

On a CPU the harness exposes one XLA host device per core (as the CLI does), so multi-seed runs
are split over the cores; ``--host-devices 1`` measures a single device. ``--scaling`` measures
throughput against ``num_envs`` (``SCALING_NUM_ENVS``, one seed) and against the number of seeds
(``SCALING_SEEDS``), with ``--total-timesteps`` (default 65,536, at least 2 updates) per seed;
``--plot`` draws env-steps/s against both.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
from typing import Any

import jax
import numpy as np

from benchmarks import compare
from benchmarks.timing import cell_row
from ppo_jax import BenchCell, PPOConfig, make_env
from ppo_jax.core.config import SHUFFLES
from ppo_jax.core.envs import env_spec
from ppo_jax.io.stats import solved_threshold
from ppo_jax.run import bench_programs
from ppo_jax.run import benchmark as bench
from ppo_jax.run import plan as planning
from ppo_jax.run.parallel import configure_cpu_devices

MATMUL_SIZE = 2048
SCALING_NUM_ENVS = (4, 16, 64, 256, 1024, 4096, 16384)
SCALING_SEEDS = (1, 4, 16, 64, 256, 1024)


def matmul_peak_gflops(size: int = MATMUL_SIZE, repeats: int = 5) -> float:
    """Median float32 GFLOP/s of a ``size x size`` matmul on the default device
    (``ppo_jax.run.bench_programs.matmul_peak_flops``)."""
    return bench_programs.matmul_peak_flops(jax.devices()[:1], size, repeats) / 1e9


def mlp_macs(sizes: list[int]) -> int:
    return sum(a * b for a, b in itertools.pairwise(sizes))


CELL_MACS = {
    "gru": lambda last, size: 3 * (last + size) * size,  # 3 gates: input + recurrent matmuls
    "lstm": lambda last, size: 4 * (last + size) * size,  # 4 gates
    "lru": lambda last, size: 2 * last * size,  # retention and candidate: input matmuls only
}
"""Multiply-accumulates of one step of each memory cell (``last``: the torso's width)."""


def tower_macs(obs_dim: int, config: PPOConfig, out: int) -> int:
    """Multiply-accumulates of one tower: the MLP, and with ``recurrent`` the memory cell
    (``CELL_MACS``) before the head (the ``lru`` head also reads the torso's output)."""
    if config.recurrent is None:
        return mlp_macs([obs_dim, *config.hidden_sizes, out])
    size, last = config.recurrent_size, ([obs_dim, *config.hidden_sizes])[-1]
    head_in = size + (last if config.recurrent == "lru" else 0)
    cell = CELL_MACS[config.recurrent](last, size)
    return mlp_macs([obs_dim, *config.hidden_sizes]) + cell + head_in * out


def flops_per_env_step(config: PPOConfig) -> float:
    """Model FLOPs per environment step: the acting forward pass, two critic evaluations
    (V(s), V(s')), and ``update_epochs`` forward+backward passes (~3x forward) of both nets."""
    env, params = make_env(config)
    obs_shape, action = env_spec(env, params)
    num_actions = action.size
    obs_dim = 1
    for d in obs_shape:
        obs_dim *= d
    actor = tower_macs(obs_dim, config, num_actions)
    critic = tower_macs(obs_dim, config, 1)
    return 2.0 * (actor + 2 * critic + config.update_epochs * 3 * (actor + critic))


LAYOUTS = ("auto", "one", "seeds", "envs")


def layout_flags(layout: str, config: PPOConfig, num_seeds: int) -> dict[str, Any]:
    """``train_seeds`` keyword arguments for a ``--layout``: ``one`` device; ``seeds`` split
    over the devices (``shard=True``); each seed's ``envs`` split (``split_envs=True``);
    ``auto``: the library's default (seeds when more than one device divides them, else one
    device)."""
    if layout == "one":
        return {"shard": False, "split_envs": False}
    if layout == "seeds":
        return {"shard": True, "split_envs": False}
    if layout == "envs":
        return {"shard": False, "split_envs": True}
    return {"shard": "auto", "split_envs": False}


def bench_case(
    config: PPOConfig,
    num_seeds: int,
    repeats: int,
    progress_every: int = 0,
    shard: bool | str = "auto",
    split_envs: bool = False,
) -> dict[str, Any]:
    """One case timed by ppo_jax's harness (``ppo_jax.run.benchmark.time_plan``, what
    ``ppo_jax.benchmark`` times each cell with: the ``train_seeds`` program compiled cold, a
    first run, then ``repeats`` timed runs; with ``progress_every``, in segments of that many
    updates with a progress report after each), as a row: the common fields, the XLA-counted
    FLOPs and their fraction of the matmul peak of the case's devices (measured once per
    device count), and the solve times."""
    plan = planning.plan_seeds(config, num_seeds, shard=shard, split_envs=split_envs)
    cell = bench.time_plan(plan, repeats, env_only=False, progress_every=progress_every)
    devices = plan.layout.devices
    if len(devices) not in _PEAKS:
        _PEAKS[len(devices)] = bench_programs.matmul_peak_flops(devices)
    cell = bench.with_ceiling(cell, _PEAKS[len(devices)])
    row = cell_row(config, cell)
    layout = plan.layout
    return {
        **row,
        "progress_every": progress_every,
        "sharded_over": layout.size,
        "layout": "seeds" if layout.runs > 1 else "envs" if layout.envs > 1 else "one",
        "xla_flops_per_env_step": cell.flops / cell.env_steps,
        "xla_fraction_of_ceiling": cell.ceiling_fraction,
        **solve_times(config, cell, row["compile_s"], row["run_s_median"]),
    }


_PEAKS: dict[int, float] = {}
"""Matmul FLOP/s by number of devices, measured once per process."""


def solve_times(
    config: PPOConfig, cell: BenchCell, compile_s: float, run_s: float
) -> dict[str, Any]:
    """When the run reached the environment's solve threshold: ``seeds_solved``, and (if every
    seed got there) ``solve_s_all`` = compile time + the share of the median run time spent
    until the LAST seed's first update at or above the threshold (the updates run at a steady
    rate inside the one compiled call). ``None`` where unknown or not reached."""
    threshold = solved_threshold(config.env_name)
    if threshold is None or cell.solve_env_steps is None:
        return {"solve_threshold": None, "seeds_solved": None, "solve_s_all": None}
    steps = np.asarray(cell.solve_env_steps)
    solved = int(np.sum(steps >= 0))
    all_s = None
    if solved == steps.size:
        all_s = compile_s + run_s * float(steps.max()) / config.env_steps
    return {"solve_threshold": threshold, "seeds_solved": solved, "solve_s_all": all_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,8", help="comma-separated seed counts")
    parser.add_argument("--num-envs", default=None, help="comma-separated num_envs values")
    parser.add_argument("--total-timesteps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="write all results to this JSON file")
    parser.add_argument(
        "--host-devices",
        default="all",
        help="XLA host (CPU) devices: 'all' = one per core (default), or a count",
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="sweep num_envs (1 seed) and seeds (default num_envs) instead of --seeds/--num-envs",
    )
    parser.add_argument("--max-seeds", type=int, default=None, help="cap the --scaling seeds")
    parser.add_argument(
        "--layout",
        default="auto",
        help="comma-separated; how a case uses the devices: split the seeds (seeds), split "
        "every seed's environments (envs), one device (one), or seeds when they divide over "
        "the devices and envs otherwise (auto, default)",
    )
    parser.add_argument(
        "--shard-seeds",
        action="store_true",
        help="same as --layout seeds (kept for old command lines)",
    )
    parser.add_argument(
        "--shuffle",
        choices=SHUFFLES,
        default=PPOConfig().shuffle,
        help="PPOConfig.shuffle of every case (minibatch shuffling; default: PPOConfig's)",
    )
    parser.add_argument(
        "--recurrent",
        choices=("none", "gru", "lstm", "lru"),
        default="none",
        help="PPOConfig.recurrent of every case (a recurrent policy; default none)",
    )
    parser.add_argument(
        "--memories",
        default="",
        help="comma-separated memory cells (gru,lstm,lru) also run on every case, with "
        "--recurrent-size units, each row's throughput given as a ratio to the feed-forward "
        "case of the same seeds measured in this run (and to gru when it ran)",
    )
    parser.add_argument(
        "--recurrent-size", type=int, default=128, help="PPOConfig.recurrent_size (128)"
    )
    parser.add_argument(
        "--compare",
        default="",
        help="comma-separated peers also run on every case's workload when installed: "
        "rejax (same seeds, one device, its jit(vmap(train))) and sb3 (Stable-Baselines3, "
        "one seed per num_envs, --sb3-timesteps steps)",
    )
    parser.add_argument(
        "--sb3-timesteps",
        type=int,
        default=65_536,
        help="Stable-Baselines3's training steps per run (it is ~10x slower; default 65,536)",
    )
    parser.add_argument("--plot", default=None, help="PNG of env-steps/s vs num_envs and seeds")
    parser.add_argument(
        "--progress-overhead",
        action="store_true",
        help="also measure the cost of live progress reports (as many as the CLI's bar makes)",
    )
    parser.add_argument(
        "--eval-overhead",
        type=int,
        default=0,
        metavar="EVERY",
        help="also measure the cost of evaluation during training (PPOConfig.eval_every=EVERY, "
        "eval_episodes at its default) on the last --seeds count",
    )
    args = parser.parse_args(argv)
    if args.shard_seeds:
        args.layout = "seeds"
    layouts = args.layout.split(",")
    for layout in layouts:
        if layout not in LAYOUTS:
            parser.error(f"--layout: {layout!r} is not one of {', '.join(LAYOUTS)}")
    try:
        peers = compare.parse_peers(args.compare)
    except ValueError as err:
        parser.error(str(err))
    if args.sb3_timesteps < 1:
        parser.error(f"--sb3-timesteps must be >= 1, got {args.sb3_timesteps}")
    set_host_devices(args.host_devices)
    base = base_config(args, parser)
    envs_list = [int(x) for x in args.num_envs.split(",")] if args.num_envs else [base.num_envs]
    seeds_list = [int(x) for x in args.seeds.split(",")]
    if args.scaling:
        budget = args.total_timesteps or 65_536
        seeds_cap = args.max_seeds or max(SCALING_SEEDS)
        cases = [(n, 1, lay) for n in SCALING_NUM_ENVS for lay in layouts] + [
            (base.num_envs, s, lay) for s in SCALING_SEEDS if s <= seeds_cap for lay in layouts
        ]
    else:
        budget = None
        cases = [(n, s, lay) for n in envs_list for s in seeds_list for lay in layouts]
    try:  # every config is checked before anything compiles
        configs = {n: case_config(base, n, budget, args.total_timesteps) for n, _, _ in cases}
        overhead_config = base
        if args.progress_overhead:
            overhead_config = case_config(base, base.num_envs, budget, args.total_timesteps)
        sb3_configs = {n: sb3_config(cfg, args.sb3_timesteps) for n, cfg in configs.items()}
    except ValueError as err:
        parser.error(str(err))
    peak = matmul_peak_gflops()
    header = {
        "device": str(jax.devices()[0]),
        "platform": jax.devices()[0].platform,
        "device_count": jax.device_count(),
        "jax_version": jax.__version__,
        "python": platform.python_version(),
        "matmul_peak_gflops": peak,
    }
    header["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    print(json.dumps({"header": header}), flush=True)
    results = []
    for num_envs, seeds, layout in cases:
        cfg = configs[num_envs]
        row = bench_case(cfg, seeds, args.repeats, **layout_flags(layout, cfg, seeds))
        add_ceiling(row, cfg, peak)
        results.append(row)
        print(json.dumps(row), flush=True)
    for row in peer_rows(peers, cases, configs, sb3_configs, args.repeats, peak):
        results.append(row)
        print(json.dumps(row), flush=True)
    print_table(results, header)
    if args.progress_overhead:
        from ppo_jax.io.console import report_every
        from ppo_jax.run import progress

        every = report_every(overhead_config.num_updates, "bar")  # what the CLI's progress bar uses
        seeds = seeds_list[-1]
        events: list[Any] = []
        with progress.listen(events.append):
            on = bench_case(
                overhead_config,
                seeds,
                args.repeats,
                progress_every=every,
                **layout_flags(layouts[0], overhead_config, seeds),
            )
        off = next(
            r
            for r in results
            if r.get("library") == "ppo_jax"
            and r["seeds"] == seeds
            and r["num_envs"] == base.num_envs
        )
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
    results += eval_overhead(args, base, budget, seeds_list[-1], layouts[0], results)
    results += memory_rows(args, configs, cases, results, peak)
    if args.plot:
        plot_scaling(results, header, args.plot)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"header": header, "results": results}, fh, indent=2)
    return 0


def memory_rows(
    args: argparse.Namespace,
    configs: dict[int, PPOConfig],
    cases: list[tuple[int, int, str]],
    results: list[dict[str, Any]],
    peak: float,
) -> list[dict[str, Any]]:
    """With ``--memories``, every case again with each memory cell: env-steps/s as a ratio to
    the feed-forward case of the same workload measured above (in this run), and to the
    ``gru`` row when it ran; a table of the ratios. No rows otherwise."""
    cells = [c for c in args.memories.split(",") if c]
    rows: list[dict[str, Any]] = []
    for num_envs, seeds, layout in cases:
        ff = next(
            r
            for r in results
            if r.get("library") == "ppo_jax" and r["seeds"] == seeds and r["num_envs"] == num_envs
        )
        gru = None
        for cell in cells:
            cfg = configs[num_envs].replace(recurrent=cell, recurrent_size=args.recurrent_size)
            row = bench_case(cfg, seeds, args.repeats, **layout_flags(layout, cfg, seeds))
            add_ceiling(row, cfg, peak)
            row["memory"] = cell
            row["ratio_to_feed_forward"] = row["env_steps_per_s"] / ff["env_steps_per_s"]
            gru = row if cell == "gru" else gru
            if gru is not None:
                row["ratio_to_gru"] = row["env_steps_per_s"] / gru["env_steps_per_s"]
            print(json.dumps(row), flush=True)
            rows.append(row)
    if rows:
        print(
            f"\n{'memory':>7} {'seeds':>6} {'env-steps/s':>12} {'x feed-forward':>15} "
            f"{'x gru':>7} {'% ceiling':>9} {'compile s':>9}"
        )
        for r in rows:
            to_gru = f"{r['ratio_to_gru']:>7.2f}" if "ratio_to_gru" in r else f"{'-':>7}"
            print(
                f"{r['memory']:>7} {r['seeds']:>6} {r['env_steps_per_s']:>12,.0f} "
                f"{r['ratio_to_feed_forward']:>15.3f} {to_gru} "
                f"{100 * r['fraction_of_ceiling']:>8.1f}% {_seconds_cell(r['compile_s'], 9, 2)}"
            )
    return rows


def eval_overhead(
    args: argparse.Namespace,
    base: PPOConfig,
    budget: int | None,
    seeds: int,
    layout: str,
    results: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """With ``--eval-overhead EVERY``, the default case run again with ``eval_every=EVERY``:
    env-steps/s with evaluation over those of the same case without (measured above, in this
    run), as one printed row; no row otherwise."""
    if not args.eval_overhead:
        return []
    config = case_config(base, base.num_envs, budget, args.total_timesteps)
    evaluating = config.replace(eval_every=args.eval_overhead)
    on = bench_case(evaluating, seeds, args.repeats, **layout_flags(layout, evaluating, seeds))
    off = next(
        r
        for r in results
        if r.get("library") == "ppo_jax" and r["seeds"] == seeds and r["num_envs"] == base.num_envs
    )
    row = {
        "case": "eval_overhead",
        "seeds": seeds,
        "eval_every": evaluating.eval_every,
        "eval_episodes": evaluating.eval_episodes,
        "env_steps_per_s_without": off["env_steps_per_s"],
        "env_steps_per_s_with": on["env_steps_per_s"],
        "ratio": on["env_steps_per_s"] / off["env_steps_per_s"],
        "compile_s_with": on.get("compile_s"),
        "compile_s_without": off.get("compile_s"),
    }
    print(json.dumps(row), flush=True)
    print(
        f"evaluation every {row['eval_every']} updates ({row['eval_episodes']} episodes, "
        f"{seeds} seeds): {on['env_steps_per_s']:,.0f} vs {off['env_steps_per_s']:,.0f} "
        f"env-steps/s without -> throughput ratio {row['ratio']:.3f}"
    )
    return [row]


def print_table(results: list[dict[str, Any]], header: dict[str, Any]) -> None:
    """The human-readable table of ``results`` (peers' skipped rows as one line each)."""
    peak = header["matmul_peak_gflops"]
    print(
        f"\n{header['device']}  jax {header['jax_version']}  matmul peak {peak:.0f} GFLOP/s\n"
        f"{'library':>8} {'num_envs':>8} {'seeds':>6} {'compile s':>9} {'run s':>7} "
        f"{'env-steps/s':>12} "
        f"{'kFLOP/step':>10} {'% ceiling':>9} {'XLA %':>6} {'devices':>13} {'solved':>7} "
        f"{'solve s':>7}"
    )
    for r in results:
        if "skipped" in r:
            print(f"{r['library']:>8} skipped: {r['skipped']}")
            continue
        print(
            f"{r['library']:>8} {r['num_envs']:>8} {r['seeds']:>6} "
            f"{_seconds_cell(r['compile_s'], 9, 2)} {r['run_s_median']:>7.2f} "
            f"{r['env_steps_per_s']:>12,.0f} {r['flops_per_env_step'] / 1e3:>10.0f} "
            f"{100 * r['fraction_of_ceiling']:>8.1f}% {_percent(r.get('xla_fraction_of_ceiling'))} "
            f"{str(r['sharded_over']) + ' (' + r['layout'] + ')':>13} "
            f"{_solved_cell(r):>7} {_seconds_cell(r['solve_s_all']):>7}"
        )


def base_config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> PPOConfig:
    """The config every case starts from (``--shuffle``, ``--recurrent``)."""
    try:
        return PPOConfig(
            shuffle=args.shuffle,
            recurrent=None if args.recurrent == "none" else args.recurrent,
            recurrent_size=args.recurrent_size,
        )
    except ValueError as err:
        parser.error(str(err))
        raise


def case_config(
    base: PPOConfig, num_envs: int, budget: int | None, total_timesteps: int | None = None
) -> PPOConfig:
    """``base`` with ``num_envs`` and ``total_timesteps`` (if given); with a per-seed step
    ``budget`` (``--scaling``), that many steps but at least two updates."""
    total = total_timesteps or base.total_timesteps
    if budget is not None:
        total = max(budget, 2 * num_envs * base.num_steps)
    return base.replace(num_envs=num_envs, total_timesteps=total)


def add_ceiling(row: dict[str, Any], config: PPOConfig, peak_gflops: float) -> None:
    """Add the model FLOPs per env-step, the compute ceiling it implies at ``peak_gflops`` and
    the fraction of it ``row`` reached, and the config, to ``row``."""
    fps = flops_per_env_step(config)
    row["flops_per_env_step"] = fps
    row["ceiling_env_steps_per_s"] = peak_gflops * 1e9 / fps
    row["fraction_of_ceiling"] = row["env_steps_per_s"] / row["ceiling_env_steps_per_s"]
    row["config"] = config.to_dict()


def sb3_config(config: PPOConfig, timesteps: int) -> PPOConfig:
    """``config`` with Stable-Baselines3's step budget (at least one rollout)."""
    return config.replace(total_timesteps=max(timesteps, config.batch_size))


def peer_rows(
    peers: list[str],
    cases: list[tuple[int, int, str]],
    configs: dict[int, PPOConfig],
    sb3_configs: dict[int, PPOConfig],
    repeats: int,
    peak_gflops: float,
) -> list[dict[str, Any]]:
    """Run each installed peer once per distinct workload of ``cases``: rejax per
    (num_envs, seeds) on ``configs[num_envs]``, Stable-Baselines3 once per num_envs with one
    seed on ``sb3_configs[num_envs]``. A peer that is not installed gives one ``skipped`` row."""
    rows: list[dict[str, Any]] = []
    for peer in peers:
        if not compare.installed(peer):
            module = compare.PEER_MODULES[peer]
            reason = f'{module} is not installed (pip install -e ".[compare]")'
            rows.append({"library": peer, "skipped": reason})
            continue
        if peer == "rejax":
            for num_envs, seeds in sorted({(n, s) for n, s, _ in cases}):
                cfg = configs[num_envs]
                row = compare.bench_rejax(cfg, seeds, repeats)
                add_ceiling(row, cfg, peak_gflops)
                rows.append(row)
        else:
            for num_envs in sorted({n for n, _, _ in cases}):
                cfg = sb3_configs[num_envs]
                row = compare.bench_sb3(cfg)
                add_ceiling(row, cfg, peak_gflops)
                rows.append(row)
    return rows


def _percent(fraction: float | None) -> str:
    return f"{'-' if fraction is None else f'{100 * fraction:.1f}%':>6}"


def _solved_cell(row: dict[str, Any]) -> str:
    if row["seeds_solved"] is None:
        return "-"
    return f"{row['seeds_solved']}/{row['seeds']}"


def _seconds_cell(value: float | None, width: int = 0, digits: int = 1) -> str:
    return f"{'-' if value is None else f'{value:.{digits}f}':>{width}}"


def set_host_devices(choice: str) -> None:
    """Expose ``choice`` XLA host devices (``"all"``: one per core, as importing ppo_jax
    already does) unless XLA_FLAGS sets a count; must run before JAX starts its backends."""
    if choice == "all":
        return
    count = int(choice)
    if count < 1:
        raise ValueError(f"--host-devices must be 'all' or a count >= 1, got {choice!r}")
    configure_cpu_devices(count)


def plot_scaling(results: list[dict[str, Any]], header: dict[str, Any], path: str) -> None:
    """Two panels: env-steps/s against num_envs (1 seed) and against the number of seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.get("library") == "ppo_jax"]
    default_envs = PPOConfig().num_envs
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for layout in sorted({r["layout"] for r in rows}):
        mine = [r for r in rows if r["layout"] == layout]
        by_envs = sorted((r["num_envs"], r["env_steps_per_s"]) for r in mine if r["seeds"] == 1)
        by_seeds = sorted(
            (r["seeds"], r["env_steps_per_s"]) for r in mine if r["num_envs"] == default_envs
        )
        for ax, points in ((axes[0], by_envs), (axes[1], by_seeds)):
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=f"devices: {layout}")
    for ax, label in (
        (axes[0], "parallel environments per seed (1 seed)"),
        (axes[1], f"seeds in one call ({default_envs} envs each)"),
    ):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("env-steps/s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(
        f"ppo_jax CartPole-v1 throughput: {header['device_count']} x {header['platform']} "
        f"device(s), jax {header['jax_version']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
