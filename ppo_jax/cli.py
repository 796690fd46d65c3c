"""Command line: ``ppo-jax train ...`` (also ``python -m ppo_jax train ...``).

The only module that parses arguments, prints, times, and writes files.
"""

from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import inspect
import itertools
import json
import math
import os
import sys
import time
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ppo_jax.config import PPOConfig, config_field_names

PROGRESS_LINES = 10
"""Progress lines printed per training run (the last update always gets one)."""


# --------------------------------------------------------------------------- config flags
def field_docs() -> dict[str, str]:
    """Attribute docstrings of :class:`PPOConfig` fields, read from its source."""
    tree = ast.parse(inspect.getsource(PPOConfig))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for stmt, nxt in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated ints like 64,64, got {text!r}"
        ) from None


def _parse_optional_float(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def _parse_int(text: str) -> int:
    """Ints, also written as 1e6 or 1_000_000."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def _parse_env_kwarg(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name, value


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--field-name`` flag per :class:`PPOConfig` field, with its docstring as help."""
    docs = field_docs()
    hints = typing.get_type_hints(PPOConfig)
    group = parser.add_argument_group("PPO config (defaults solve CartPole-v1)")
    for f in dataclasses.fields(PPOConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f"{docs.get(f.name, '')} (default: {default})"
        hint = hints[f.name]
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        if f.name == "env_name":
            group.add_argument(flag, "--env", metavar="ENV", **kwargs)
        elif f.name == "env_kwargs":
            kwargs["help"] = "Extra gymnax.make keyword argument NAME=VALUE (repeatable)."
            group.add_argument("--env-kwarg", action="append", type=_parse_env_kwarg, **kwargs)
        elif f.name == "hidden_sizes":
            group.add_argument(flag, type=_parse_sizes, metavar="W1,W2", **kwargs)
        elif hint is bool:
            group.add_argument(flag, type=_parse_bool, metavar="BOOL", **kwargs)
        elif hint is int:
            group.add_argument(flag, type=_parse_int, metavar="INT", **kwargs)
        elif hint is float:
            group.add_argument(flag, type=float, metavar="FLOAT", **kwargs)
        elif typing.get_origin(hint) in (types.UnionType, typing.Union):
            group.add_argument(flag, type=_parse_optional_float, metavar="FLOAT|none", **kwargs)
        elif typing.get_origin(hint) is typing.Literal:
            group.add_argument(flag, choices=typing.get_args(hint), **kwargs)
        else:  # pragma: no cover - a new field type must be given a parser here
            raise TypeError(f"no command-line parser for PPOConfig.{f.name}: {hint}")


def config_from_args(args: argparse.Namespace) -> PPOConfig:
    """The :class:`PPOConfig` given by the flags (unset flags keep the defaults)."""
    changes = {
        name: getattr(args, name)
        for name in config_field_names()
        if getattr(args, name, None) is not None
    }
    if "env_kwargs" in changes:
        changes["env_kwargs"] = tuple(changes["env_kwargs"])
    return PPOConfig(**changes)


def parse_seeds(text: str) -> list[int]:
    """``"8"`` -> seeds 0..7; ``"0,5,9"`` -> those seeds; ``"3:7"`` -> 3..6."""
    try:
        if ":" in text:
            lo, hi = text.split(":")
            seeds = list(range(int(lo), int(hi)))
        elif "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes a count (8), a list (0,5,9) or a range (3:7), got {text!r}"
        ) from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds must name at least one seed >= 0, got {text!r}")
    return seeds


# --------------------------------------------------------------------------- output folder
def prepare_out_dir(out: str | None, env_name: str) -> Path:
    """Create (and check writable) the run folder before anything is compiled.

    An existing non-empty folder is refused so that no earlier run's files are overwritten.
    """
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"{env_name}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = Path("runs") / f"{env_name}-{stamp}-{n}"
    else:
        path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise ValueError(
            f"--out {str(path)!r} is not empty; choose a new folder (earlier results are kept)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"--out {str(path)!r} is not writable: {err}") from None
    return path


def write_metrics(path: Path, seeds: Sequence[int], metrics: dict[str, np.ndarray]) -> None:
    """``metrics.csv``: one row per (seed, update), one column per metric."""
    names = list(metrics)
    num_updates = metrics[names[0]].shape[-1]
    tmp = path / "metrics.csv.tmp"
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["seed", "update", *names])
        for i, seed in enumerate(seeds):
            for u in range(num_updates):
                row: list[Any] = [seed, u + 1]
                for n in names:
                    v = metrics[n][i, u].item()
                    row.append("" if isinstance(v, float) and math.isnan(v) else v)
                writer.writerow(row)
    os.replace(tmp, path / "metrics.csv")


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_json_ready(payload), indent=2) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- progress printing
class ProgressPrinter:
    """Aggregates per-seed progress events (one per seed per point) into one printed line."""

    def __init__(
        self, num_seeds: int, num_updates: int, start: float, quiet: bool, unit: str = "seeds"
    ) -> None:
        self.unit = unit
        self.num_seeds = num_seeds
        self.num_updates = num_updates
        self.start = start
        self.quiet = quiet
        self.pending: dict[int, list[Any]] = {}

    def __call__(self, event: Any) -> None:
        group = self.pending.setdefault(event.update, [])
        group.append(event)
        if len(group) < self.num_seeds:
            return
        del self.pending[event.update]
        if self.quiet:
            return
        per_seed = [e.return_sum / e.episodes for e in group if e.episodes > 0]
        ret = (
            f"return {np.mean(per_seed):7.1f} +- {np.std(per_seed):5.1f}"
            if per_seed
            else "return     n/a (no episode ended)"
        )
        elapsed = time.perf_counter() - self.start
        steps = group[0].env_steps
        print(
            f"  update {event.update:>5}/{self.num_updates}  env-steps {steps:>10,}  {ret}"
            f"  ({len(per_seed)}/{self.num_seeds} {self.unit})  {elapsed:6.1f}s",
            flush=True,
        )


# --------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    import jax

    from ppo_jax import progress
    from ppo_jax.envs import env_spec, make_env
    from ppo_jax.summary import final_return, solved_threshold, steps_to_solve
    from ppo_jax.train import compile_train_seeds

    config = config_from_args(args)
    seeds: list[int] = args.seeds
    env_spec(*make_env(config))  # refuses unsupported envs before any folder is made
    out = prepare_out_dir(args.out, config.env_name)
    write_json(out / "config.json", {"config": config.to_dict(), "seeds": seeds})
    every = max(1, math.ceil(config.num_updates / PROGRESS_LINES))
    say = (lambda *a: None) if args.quiet else print
    say(
        f"ppo-jax train: {config.env_name}, {len(seeds)} seed(s), {config.env_steps:,} env steps "
        f"each ({config.num_updates} updates of {config.num_envs} envs x {config.num_steps} "
        f"steps), device {jax.devices()[0].platform}"
    )
    say(f"  output folder: {out}")
    t0 = time.perf_counter()
    run = compile_train_seeds(config, seeds, progress_every=every)
    compile_s = time.perf_counter() - t0
    say(f"  compiled in {compile_s:.1f}s")
    t1 = time.perf_counter()
    with progress.listen(ProgressPrinter(len(seeds), config.num_updates, t1, args.quiet)):
        result = run()
        jax.block_until_ready(result.params)
    run_s = time.perf_counter() - t1
    metrics = {k: np.asarray(v) for k, v in result.metrics.items()}
    final = final_return(metrics)
    threshold = solved_threshold(config.env_name)
    to_solve = steps_to_solve(metrics, threshold) if threshold is not None else None
    sps = config.env_steps / run_s
    rows = []
    for i, seed in enumerate(seeds):
        rows.append(
            {
                "seed": seed,
                "final_return": float(final[i]),
                "solved": None if threshold is None else bool(final[i] >= threshold),
                "steps_to_solve": None if to_solve is None else int(to_solve[i]),
                "wall_s": compile_s + run_s,
                "run_s": run_s,
                "compile_s": compile_s,
                "env_steps": config.env_steps,
                "env_steps_per_s": sps,
            }
        )
    write_metrics(out, seeds, metrics)
    summary = {
        "config": config.to_dict(),
        "seeds": seeds,
        "solved_threshold": threshold,
        "runs": rows,
        "total_env_steps_per_s": sps * len(seeds),
        "compile_s": compile_s,
        "run_s": run_s,
        "device": str(jax.devices()[0]),
        "jax_version": jax.__version__,
        "metrics": {k: v.tolist() for k, v in metrics.items()},
    }
    write_json(out / "results.json", summary)
    print_table(rows, threshold)
    print(
        f"mean final return {np.nanmean(final):.1f} +- {np.nanstd(final):.1f} over {len(seeds)} "
        f"seed(s); {sps * len(seeds):,.0f} env-steps/s in total; compile {compile_s:.1f}s, "
        f"run {run_s:.1f}s"
    )
    print(f"wrote {out / 'metrics.csv'}, {out / 'results.json'}, {out / 'config.json'}")
    return 0


def print_table(rows: list[dict[str, Any]], threshold: float | None) -> None:
    solved_head = f"solved(>={threshold:g})" if threshold is not None else "solved"
    head = (
        f"{'seed':>5}  {'final return':>12}  {solved_head:>14}  {'steps to solve':>14}  "
        f"{'wall s':>7}  {'env-steps/s':>11}  {'compile s':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        solved = "-" if r["solved"] is None else ("yes" if r["solved"] else "no")
        steps = r["steps_to_solve"]
        steps_text = "-" if steps is None or steps < 0 else f"{steps:,}"
        print(
            f"{r['seed']:>5}  {r['final_return']:>12.1f}  {solved:>14}  {steps_text:>14}  "
            f"{r['wall_s']:>7.1f}  {r['env_steps_per_s']:>11,.0f}  {r['compile_s']:>9.1f}"
        )


def parse_grid_item(text: str) -> tuple[str, Any]:
    """``name=v1,v2,...`` (values), ``name=log:LO:HI`` or ``name=uniform:LO:HI`` (random search)."""
    from ppo_jax.sweep import LogUniform, Uniform

    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not raw:
        raise argparse.ArgumentTypeError(
            f"--grid takes NAME=V1,V2,... or NAME=log:LO:HI or NAME=uniform:LO:HI, got {text!r}"
        )
    try:
        if raw.startswith(("log:", "uniform:")):
            kind, lo, hi = raw.split(":")
            dist = LogUniform if kind == "log" else Uniform
            return name, dist(float(lo), float(hi))
        return name, [float(v) for v in raw.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--grid {text!r}: values must be numbers") from None


def _setting_label(setting: dict[str, float]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in setting.items())


def cmd_sweep(args: argparse.Namespace) -> int:
    import jax

    from ppo_jax import progress
    from ppo_jax.plotting import learning_curves
    from ppo_jax.summary import final_return, solved_threshold, steps_to_solve
    from ppo_jax.sweep import plan_sweep, random_settings, run_sweep

    config = config_from_args(args)
    items = args.grid or []
    if not items:
        raise ValueError("give at least one --grid NAME=V1,V2,...")
    space = dict(items)
    is_random = any(not isinstance(v, list) for v in space.values())
    if args.random is not None:
        settings: Any = random_settings(space, args.random, jax.random.PRNGKey(args.random_seed))
    elif is_random:
        raise ValueError("--grid NAME=log:LO:HI / uniform:LO:HI needs --random N (samples)")
    else:
        settings = space
    seeds: list[int] = args.seeds
    plan = plan_sweep(config, settings, seeds, chunk_size=args.chunk_size)
    out = prepare_out_dir(args.out, f"sweep-{config.env_name}")
    write_json(
        out / "config.json",
        {"config": config.to_dict(), "settings": plan.settings, "seeds": seeds},
    )
    say = (lambda *a: None) if args.quiet else print
    say(
        f"ppo-jax sweep: {config.env_name}, {len(plan.settings)} setting(s) x {len(seeds)} "
        f"seed(s) = {plan.num_runs} runs of {config.env_steps:,} env steps, on "
        f"{plan.num_devices} device(s) ({jax.devices()[0].platform})"
    )
    gib = 1024**3
    if plan.num_chunks > 1:
        say(
            f"  memory: ~{plan.run_bytes / 2**20:.1f} MiB per run, "
            f"{plan.free_bytes / gib:.1f} GiB free per device -> {plan.num_chunks} chunks of "
            f"{plan.chunk_size} runs, one after another"
        )
    else:
        say(f"  memory: ~{plan.run_bytes / 2**20:.1f} MiB per run; all runs in one call")
    say(f"  output folder: {out}")
    every = max(1, math.ceil(config.num_updates / PROGRESS_LINES))
    t0 = time.perf_counter()
    printer = ProgressPrinter(plan.chunk_size, config.num_updates, t0, args.quiet, "runs")
    with progress.listen(printer):
        result = run_sweep(plan, progress_every=every)
    wall = time.perf_counter() - t0
    metrics = result.metrics
    final = final_return(metrics)  # [settings, seeds]
    threshold = solved_threshold(config.env_name)
    to_solve = steps_to_solve(metrics, threshold) if threshold is not None else None
    rows: list[dict[str, Any]] = []
    for i, setting in enumerate(result.settings):
        solved = None if threshold is None else float(np.mean(final[i] >= threshold))
        hit = [] if to_solve is None else [int(s) for s in to_solve[i] if s >= 0]
        rows.append(
            {
                "setting": i,
                **setting,
                "final_return_mean": float(np.nanmean(final[i])),
                "final_return_std": float(np.nanstd(final[i])),
                "solved_fraction": solved,
                "median_steps_to_solve": float(np.median(hit)) if hit else None,
            }
        )
    ranked = sorted(rows, key=lambda r: -np.nan_to_num(r["final_return_mean"], nan=-np.inf))
    write_sweep_files(out, result, ranked, metrics, final)
    env_steps = metrics["env_steps"][0, 0]
    top = ranked[:MAX_PLOTTED]
    fig = learning_curves(
        env_steps,
        [metrics["episode_return"][r["setting"]] for r in top],
        [_setting_label(result.settings[r["setting"]]) for r in top],
        f"{config.env_name}: {len(seeds)} seeds per setting"
        + (f" (best {len(top)} of {len(rows)})" if len(rows) > len(top) else ""),
        threshold,
    )
    fig.savefig(out / "learning_curves.png")
    total = plan.num_runs * config.env_steps
    print_sweep_table(ranked, list(space), threshold)
    print(
        f"{plan.num_runs} runs, {total:,} env steps in {wall:.1f}s wall (compile included): "
        f"{total / wall:,.0f} env-steps/s on {plan.num_devices} device(s)"
    )
    print(
        f"wrote {out / 'sweep.csv'}, {out / 'metrics.csv'}, {out / 'results.json'}, "
        f"{out / 'learning_curves.png'}"
    )
    return 0


MAX_PLOTTED = 10
"""Settings drawn in a sweep's learning-curve plot (best final return first)."""


def write_sweep_files(
    out: Path,
    result: Any,
    ranked: list[dict[str, Any]],
    metrics: dict[str, np.ndarray],
    final: np.ndarray,
) -> None:
    names = list(ranked[0])
    tmp = out / "sweep.csv.tmp"
    with tmp.open("w", newline="") as fh:
        dict_writer = csv.DictWriter(fh, fieldnames=["rank", *names])
        dict_writer.writeheader()
        for rank, row in enumerate(ranked, 1):
            dict_writer.writerow({"rank": rank, **row})
    os.replace(tmp, out / "sweep.csv")
    n_set, _, n_upd = metrics["episode_return"].shape
    tmp = out / "metrics.csv.tmp"
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["setting", "seed", "update", *metrics])
        for i in range(n_set):
            for j, seed in enumerate(result.seeds):
                for u in range(n_upd):
                    cells: list[Any] = [i, seed, u + 1]
                    for v in metrics.values():
                        x = v[i, j, u].item()
                        cells.append("" if isinstance(x, float) and math.isnan(x) else x)
                    writer.writerow(cells)
    os.replace(tmp, out / "metrics.csv")
    write_json(
        out / "results.json",
        {
            "settings": result.settings,
            "seeds": result.seeds,
            "ranked": ranked,
            "final_return": final.tolist(),
            "chunk_size": result.chunk_size,
            "num_chunks": result.num_chunks,
            "num_devices": result.num_devices,
        },
    )


def print_sweep_table(
    ranked: list[dict[str, Any]], fields: list[str], threshold: float | None
) -> None:
    head = (
        f"{'rank':>4}  "
        + "  ".join(f"{f:>13}" for f in fields)
        + f"  {'final return':>17}  {'solved':>7}  {'steps to solve':>14}"
    )
    print(head)
    print("-" * len(head))
    for rank, r in enumerate(ranked, 1):
        solved = "-" if r["solved_fraction"] is None else f"{100 * r['solved_fraction']:.0f}%"
        steps = r["median_steps_to_solve"]
        steps_text = "-" if steps is None else f"{steps:,.0f}"
        ret = f"{r['final_return_mean']:.1f} +- {r['final_return_std']:.1f}"
        print(
            f"{rank:>4}  "
            + "  ".join(f"{r[f]:>13.4g}" for f in fields)
            + f"  {ret:>17}  {solved:>7}  {steps_text:>14}"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ppo-jax", description="PPO in JAX on gymnax environments, one compiled call per run."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser(
        "train",
        help="train PPO on one env over several seeds in one compiled call",
    )
    tr.add_argument(
        "--seeds",
        type=parse_seeds,
        default=[0],
        metavar="N|LIST|A:B",
        help="a count (8 -> seeds 0..7), a list (0,5,9) or a range (3:7); default 1 seed (0)",
    )
    tr.add_argument("--out", default=None, help="output folder (default runs/ENV-TIMESTAMP)")
    tr.add_argument("--quiet", action="store_true", help="print only the final table")
    add_config_flags(tr)
    tr.set_defaults(func=cmd_train)

    sw = sub.add_parser(
        "sweep",
        help="train every hyperparameter setting x seed in one compiled call, ranked",
        description="Sweep traced hyperparameters (learning_rate, gamma, gae_lambda, clip_eps, "
        "ent_coef, vf_coef, max_grad_norm) over seeds, sharded over all devices.",
    )
    sw.add_argument(
        "--grid",
        action="append",
        type=parse_grid_item,
        metavar="NAME=V1,V2|NAME=log:LO:HI|NAME=uniform:LO:HI",
        help="a swept field and its values (repeat for a Cartesian product); with --random, "
        "a distribution or a list of choices",
    )
    sw.add_argument(
        "--random",
        type=int,
        default=None,
        metavar="N",
        help="random search: N settings sampled from the --grid space",
    )
    sw.add_argument("--random-seed", type=int, default=0, help="seed of the random search")
    sw.add_argument(
        "--seeds",
        type=parse_seeds,
        default=list(range(4)),
        metavar="N|LIST|A:B",
        help="seeds per setting: a count, a list or a range; default 4",
    )
    sw.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="force this many runs per compiled call (default: as many as fit)",
    )
    sw.add_argument("--out", default=None, help="output folder (default runs/sweep-ENV-TIMESTAMP)")
    sw.add_argument("--quiet", action="store_true", help="print only the final table")
    add_config_flags(sw)
    sw.set_defaults(func=cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError) as err:
        print(f"ppo-jax {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
