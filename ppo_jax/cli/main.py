"""``ppo-jax``: parse flags, call ``ppo_jax.run`` and ``ppo_jax.io``, print.

Every command is a few lines over the library: ``train`` is :func:`ppo_jax.run_experiment`,
``sweep`` is :func:`ppo_jax.run_sweep_experiment`, ``pbt`` is
:func:`ppo_jax.run_pbt_experiment` (all three the one pipeline of ``ppo_jax.run.experiment``),
``eval`` is :func:`ppo_jax.load_run` + :func:`ppo_jax.evaluate`, ``plot`` is
:func:`ppo_jax.io.plotting.replot`. ``bench`` is :func:`ppo_jax.benchmark` +
:meth:`~ppo_jax.run.benchmark.BenchResult.write`. Invalid input exits 2 with one line naming
the field.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ppo_jax.cli.flags import add_config_flags, bounded_int, config_flags, parse_int
from ppo_jax.core.config import PPOConfig
from ppo_jax.importpath import allow_env_module_from_cwd
from ppo_jax.io.console import print_pbt_table, print_sweep_table, print_train_table
from ppo_jax.io.stats import final_return

SEED_MAX = 2**32 - 1
EXIT_CODES = {"stopped": 3, "SIGINT": 130, "SIGTERM": 143}


class ArgumentParser(argparse.ArgumentParser):
    """argparse without prefix matching (``--learning-rat`` is refused), whose usage errors
    are one line and exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message[:300])
        self.exit(2, f"{self.prog}: error: {shown}\n")


# --------------------------------------------------------------------------- config
def config_for(fields: dict[str, Any]) -> PPOConfig:
    """``fields`` (from flags and/or a config file) on top of the tuned config of their
    ``env_name`` (``ppo_jax.get_config``; CartPole-v1 when none is given)."""
    from ppo_jax.io.tuned import get_config

    fields = dict(fields)
    if isinstance(fields.get("env_kwargs"), list):
        fields["env_kwargs"] = tuple(
            tuple(p) if isinstance(p, list) else p for p in fields["env_kwargs"]
        )
    base = get_config(fields.get("env_name", PPOConfig().env_name))
    return PPOConfig.from_dict({**base.to_dict(), **fields})


def config_origin(config: PPOConfig) -> str:
    """One line saying which tuned config ``config`` starts from and what differs from it."""
    from ppo_jax.io.tuned import get_config, tuned_configs

    base = get_config(config.env_name).to_dict()
    tuned = config.env_name in tuned_configs()
    changed = [f"{k}={v}" for k, v in config.to_dict().items() if v != base[k]]
    origin = f"ppo_jax.get_config({config.env_name!r})" if tuned else "package defaults (not tuned)"
    return origin + (f", changed: {', '.join(changed)}" if changed else "")


def resolve_config(args: argparse.Namespace) -> tuple[PPOConfig, list[int] | None]:
    """Config and seeds (``None`` when none are given): ``--config`` (TOML) overridden by
    flags, on the tuned config."""
    from ppo_jax.io.configfile import load_config_file, parse_seeds

    base = load_config_file(args.config) if args.config else {}
    seeds = base.pop("seeds", None)
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds)
    return config_for({**base, **config_flags(args)}), seeds


def _trust_needs_resume(args: argparse.Namespace) -> None:
    if args.trust_env_module:
        raise ValueError(
            "--trust-env-module trusts the environment a run folder names, with --resume; a "
            "new run builds the environment you name (--env, --config)"
        )


# --------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from ppo_jax.run.experiment import run_experiment

    common = {
        **_session_options(args, quiet=args.quiet),
        "shard": True if args.shard_seeds else "auto",
        "split_envs": args.split_envs,
    }
    if args.resume is not None:
        _refuse_with_resume(args)
        result = run_experiment(
            None,
            None,
            args.resume,
            resume=True,
            trust_env_module=args.trust_env_module,
            **common,
        )
    else:
        _trust_needs_resume(args)
        config, seeds = resolve_config(args)
        if not args.quiet:
            print(f"  config: {config_origin(config)}")
        result = run_experiment(
            config, seeds or [0], args.out, checkpoint_every=args.checkpoint_every, **common
        )
    if not result.metrics:
        print(f"ppo-jax train: {result.status}; no update completed", file=sys.stderr)
        return 3
    print_train_table(result)
    return _session_exit("train", result.status, result.checkpoint, result.out_dir, result.config)


# --------------------------------------------------------------------------- sweep
def parse_grid_item(text: str) -> tuple[str, Any]:
    """``name=v1,v2,...`` (values), ``name=log:LO:HI`` or ``name=uniform:LO:HI`` (random search)."""
    from ppo_jax.core.search import LogUniform, Uniform

    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not raw:
        raise argparse.ArgumentTypeError(
            f"expected NAME=V1,V2,... or NAME=log:LO:HI or NAME=uniform:LO:HI, got {text[:80]!r}"
        )
    try:
        if raw.startswith(("log:", "uniform:")):
            kind, lo, hi = raw.split(":")
            dist = LogUniform if kind == "log" else Uniform
            return name, dist(float(lo), float(hi))
        return name, [float(v) for v in raw.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:80]!r}: values must be numbers") from None


def grid_space(items: list[tuple[str, Any]] | None, flag: str = "--grid") -> dict[str, Any]:
    if not items:
        raise ValueError(f"give at least one {flag} NAME=V1,V2,...")
    names = [n for n, _ in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{flag} names {repeated} more than once; give each field once")
    return dict(items)


def check_processes(args: argparse.Namespace) -> None:
    """``--coordinator`` with ``--num-processes`` and ``--process-id``, all or none."""
    given = [args.coordinator, args.num_processes, args.process_id]
    if any(v is not None for v in given) and args.coordinator is None:
        raise ValueError("--num-processes/--process-id need --coordinator HOST:PORT")
    if args.coordinator is not None:
        from ppo_jax.run.parallel import initialize

        if args.num_processes is None or args.process_id is None:
            raise ValueError("--coordinator needs --num-processes and --process-id")
        initialize(args.coordinator, args.num_processes, args.process_id)


def cmd_sweep(args: argparse.Namespace) -> int:
    import jax

    from ppo_jax.core.search import random_settings
    from ppo_jax.run.sweep import run_sweep_experiment

    check_processes(args)  # jax.distributed must start before anything touches JAX
    lead = jax.process_index() == 0
    common = _session_options(args, quiet=args.quiet or not lead)
    if args.resume is not None:
        _refuse_with_resume(args, ("--grid", args.grid), ("--random", args.random))
        swept, ranked = run_sweep_experiment(
            None,
            None,
            None,
            args.resume,
            chunk_size=args.chunk_size,
            write=lead,
            resume=True,
            trust_env_module=args.trust_env_module,
            **common,
        )
        fields = sorted({k for s in swept.settings for k in s})
    else:
        _trust_needs_resume(args)
        space = grid_space(args.grid)
        config, seeds = resolve_config(args)
        is_random = any(not isinstance(v, list) for v in space.values())
        if args.random is not None:
            key = jax.random.PRNGKey(args.random_seed)
            settings: Any = random_settings(space, args.random, key)
        elif is_random:
            raise ValueError("--grid NAME=log:LO:HI / uniform:LO:HI needs --random N (samples)")
        else:
            settings = space
        swept, ranked = run_sweep_experiment(
            config,
            settings,
            seeds or list(range(4)),
            args.out,
            chunk_size=args.chunk_size,
            write=lead,
            checkpoint_every=args.checkpoint_every,
            **common,
        )
        fields = list(space)
    if not lead:
        return 0
    if not swept.metrics:
        print(f"ppo-jax sweep: {swept.status}; no update completed", file=sys.stderr)
        return 3
    print_sweep_table(ranked, fields)
    if swept.status.startswith("finished") and swept.out_dir is not None:
        files = ("sweep.csv", "metrics.csv", "results.json", "learning_curves.png")
        print("wrote " + ", ".join(str(swept.out_dir / f) for f in files))
    return _session_exit("sweep", swept.status, swept.checkpoint, swept.out_dir, swept.config)


def _session_options(args: argparse.Namespace, quiet: bool = False) -> dict[str, Any]:
    """The session options the ``train``, ``sweep`` and ``pbt`` commands share."""
    return {
        "stop_after": args.stop_after,
        "tensorboard": args.tensorboard,
        "wandb": args.wandb,
        "wandb_mode": args.wandb_mode,
        "progress": "none" if quiet else args.progress,
        "log": (lambda _: None) if quiet else print,
    }


def _refuse_with_resume(args: argparse.Namespace, *more: tuple[str, Any]) -> None:
    """``--resume`` continues a folder with its saved settings: any flag that would change
    them is refused in one line."""
    given = [f"--{n.replace('_', '-')}" for n in config_flags(args)]
    given += [
        f
        for f, v in (
            ("--config", args.config),
            ("--seeds", getattr(args, "seeds", None)),
            ("--out", args.out),
            ("--checkpoint-every", args.checkpoint_every),
            *more,
        )
        if v is not None
    ]
    if given:
        raise ValueError(
            f"--resume continues a run with its saved settings ({args.command}); do not combine "
            "it with config flags, --config, --seeds, --out, --checkpoint-every or the "
            f"{args.command} settings (got {given[:5]})"
        )


def _session_exit(
    kind: str, status: str, checkpoint: Any, out_dir: Any, config: PPOConfig | None
) -> int:
    """The exit status of a session (0 when it finished, also early at ``stop_at_return``),
    with the line that says how to continue it on stderr."""
    from ppo_jax.run.experiment import resume_command

    if status.startswith("finished"):
        if status != "finished":
            print(f"ppo-jax {kind}: {status}")
        return 0
    where = f"last good checkpoint {checkpoint}" if checkpoint else "no checkpoint"
    print(f"ppo-jax {kind}: {status}; {where}", file=sys.stderr)
    if checkpoint is not None and not status.startswith("stopped") and config is not None:
        print(f"  continue with: {resume_command(kind, out_dir, config)}", file=sys.stderr)
    return next((code for key, code in EXIT_CODES.items() if key in status), 0)


# --------------------------------------------------------------------------- pbt, compare
def cmd_pbt(args: argparse.Namespace) -> int:
    from ppo_jax.run.pbt import run_pbt_experiment

    common = _session_options(args, quiet=args.quiet)
    if args.resume is not None:
        _refuse_with_resume(args, ("--space", args.space))
        result = run_pbt_experiment(
            None,
            None,
            None,
            args.resume,
            resume=True,
            trust_env_module=args.trust_env_module,
            **common,
        )
    else:
        _trust_needs_resume(args)
        config, _ = resolve_config(args)
        result = run_pbt_experiment(
            config,
            grid_space(args.space, "--space"),
            args.population,
            args.out,
            seed=args.seed,
            interval=args.interval,
            fraction=args.fraction,
            perturb=args.perturb,
            resample_probability=args.resample_probability,
            rank_by=args.rank_by,
            checkpoint_every=args.checkpoint_every,
            **common,
        )
    if not result.metrics:
        print(f"ppo-jax pbt: {result.status}; no update completed", file=sys.stderr)
        return 3
    print_pbt_table(result, final_return(result.metrics))
    return _session_exit("pbt", result.status, result.checkpoint, result.out_dir, result.config)


def parse_factors(text: str) -> tuple[float, ...]:
    """``--perturb F1,F2,...``: numbers (checked further by ``ppo_jax.pbt``)."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers F1,F2,..., got {text[:80]!r}") from None


def cmd_compare(args: argparse.Namespace) -> int:
    from ppo_jax.io.console import print_compare_table
    from ppo_jax.run.compare import compare_runs

    baseline: int | str = str(args.baseline)
    if args.baseline.isdigit():  # the row number the table prints (1 = the first)
        if int(args.baseline) < 1:
            raise ValueError("--baseline: row numbers start at 1 (the '#' column)")
        baseline = int(args.baseline) - 1
    rows = compare_runs([Path(d) for d in args.run_dirs], plot=args.plot, baseline=baseline)
    print_compare_table(rows)
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


# --------------------------------------------------------------------------- plot, eval
def cmd_plot(args: argparse.Namespace) -> int:
    from ppo_jax.io.plotting import replot

    written = replot(Path(args.run_dir))
    print("wrote " + ", ".join(str(w) for w in written))
    return 0


def eval_output(run_dir: Path, out: str | None) -> Path:
    """Where ``ppo-jax eval`` writes: ``--out`` (refused when it exists, or its folder does
    not), else ``RUN/eval.json``, or ``eval-2.json``, ``eval-3.json``, ... when taken: an
    earlier result is never overwritten."""
    if out is not None:
        path = Path(out)
        if path.exists():
            raise ValueError(f"--out {out!r} exists: name a new file (or remove that one)")
        if not path.parent.is_dir():
            raise ValueError(f"--out {out!r}: the folder {str(path.parent)!r} does not exist")
        return path
    from ppo_jax.io.rundir import EVAL_FILE

    path, number = run_dir / EVAL_FILE, 1
    while path.exists():
        number += 1
        path = run_dir / f"{Path(EVAL_FILE).stem}-{number}{Path(EVAL_FILE).suffix}"
    return path


def cmd_eval(args: argparse.Namespace) -> int:
    from ppo_jax.io.console import print_eval_table
    from ppo_jax.io.plotting import save_episode_gif
    from ppo_jax.io.rundir import write_json
    from ppo_jax.io.runload import DamagedCheckpointWarning, load_run
    from ppo_jax.io.stats import iqm_interval
    from ppo_jax.run.evaluate import (
        check_gif_request,
        evaluate_run,
        evaluated_parameters,
        record_run_episode,
    )

    run_dir = Path(args.run_dir)
    target = eval_output(run_dir, args.out)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DamagedCheckpointWarning)  # eval needs the parameters
        try:
            run = load_run(run_dir, trust_env_module=args.trust_env_module)
        except DamagedCheckpointWarning as err:
            raise ValueError(f"{err.problem}; eval needs its parameters") from None
    if args.gif is not None:
        check_gif_request(run.config, args.gif)
    source, updates = evaluated_parameters(run, best=args.best)
    mode = "stochastic" if args.stochastic else "greedy"
    results = evaluate_run(
        run, args.episodes, greedy=not args.stochastic, seed=args.eval_seed, best=args.best
    )
    which = "each seed's best evaluated parameters" if args.best else "the newest checkpoint"
    print(
        f"ppo-jax eval: {run.config.env_name}, {which} ({source}), {args.episodes} {mode} "
        "episode(s) per seed"
    )
    summary = iqm_interval([np.mean(row["returns"]) for row in results])
    print_eval_table(results, updates, run.config.num_updates, summary)
    record = {
        "update": run.updates_done,
        "mode": mode,
        "best": args.best,
        "parameters": source,
        "updates": updates,
        "runs": results,
        "summary": {"statistic": "IQM over seeds of each seed's mean return", **summary.to_dict()},
    }
    write_json(target, record)
    if args.gif is not None:
        episode = record_run_episode(
            run, max_steps=args.gif_max_steps, greedy=not args.stochastic, seed=args.eval_seed
        )
        save_episode_gif(run.config, *episode, args.gif)
        print(f"wrote {args.gif} ({len(episode[0])} frames, seed {run.seeds[0]})")
    print(f"wrote {target}")
    return 0


# --------------------------------------------------------------------------- bench
def parse_counts(text: str) -> tuple[int, ...]:
    """``--seeds 1,8,64`` / ``--num-envs 4,64,1024``: comma-separated distinct ints >= 1."""
    from ppo_jax.run.benchmark import check_counts

    try:
        return check_counts([parse_int(part, 1) for part in text.split(",")], "values")
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated distinct counts >= 1 like 1,8,64, got {text[:80]!r}"
        ) from None


BENCH_FLAGS = {
    "seeds": "--seeds",
    "num_envs": "--num-envs",
    "updates": "--updates",
    "repeats": "--repeats",
    "budget_s": "--budget-s",
}
"""``ppo_jax.benchmark`` arguments -> the flags that set them (for error messages)."""


def bench_error(text: str, given: dict[str, Any], preset: str | None) -> str:
    """A grid error of ``ppo_jax.benchmark`` naming the flag (or the preset) that set the
    value."""
    name = next((k for k in BENCH_FLAGS if text.startswith(k)), None)
    if name is None or name not in given:
        return text
    if given[name] is None:
        where = f"--preset {preset}" if preset else "the default grid"
        return f"{text} (from {where}; set {BENCH_FLAGS[name]})"
    return BENCH_FLAGS[name] + text[len(name) :]


def bench_config(
    args: argparse.Namespace, preset: str | None
) -> tuple[PPOConfig, tuple[int, ...] | None]:
    """The config (``--config`` file, flags, tuned config of ``--env``) and the seed counts
    of ``--seeds`` (or one count: the number of seeds a config file lists). With a
    ``num_envs`` grid (``--num-envs``, the preset's), the config takes its first value (and
    at least one update of it): the cells replace the config's ``num_envs`` anyway."""
    from ppo_jax.io.configfile import load_config_file
    from ppo_jax.io.tuned import get_config
    from ppo_jax.run.benchmark import PRESETS

    fields = load_config_file(args.config) if args.config else {}
    listed = fields.pop("seeds", None)
    seeds = args.seeds
    if seeds is None and listed is not None:
        seeds = (len(listed) if isinstance(listed, list) else int(listed),)
    fields = {**fields, **config_flags(args)}
    envs = args.grid_num_envs or (PRESETS[preset].num_envs if preset else None)
    if envs is None:
        return config_for(fields), seeds
    merged = {**get_config(fields.get("env_name", PPOConfig().env_name)).to_dict(), **fields}
    merged["num_envs"] = envs[0]
    merged["total_timesteps"] = max(merged["total_timesteps"], envs[0] * merged["num_steps"])
    try:
        return config_for(merged), seeds
    except ValueError as err:
        if "num_envs" not in str(err):
            raise
        raise ValueError(f"num_envs={envs[0]}: {err}") from None


def cmd_bench(args: argparse.Namespace) -> int:
    from ppo_jax.io.bench_report import bench_table, check_out_dir, write_report
    from ppo_jax.run.benchmark import benchmark, resolve_grid

    if args.quick and args.preset is not None:
        raise ValueError("give --quick or --preset, not both (--quick is --preset quick)")
    preset = "quick" if args.quick else args.preset
    try:
        config, seeds = bench_config(args, preset)
    except ValueError as err:
        raise ValueError(bench_error(str(err), {"num_envs": args.grid_num_envs}, preset)) from None
    out = args.out or os.path.join(
        "runs",
        f"bench-{config.env_name.replace(':', '-').replace('/', '-')}-"
        + time.strftime("%Y%m%d-%H%M%S"),
    )
    check_out_dir(out)
    given = {
        "seeds": seeds,
        "num_envs": args.grid_num_envs,
        "updates": args.updates,
        "repeats": args.repeats,
        "budget_s": args.budget_s,
    }
    try:  # the whole grid is checked before anything compiles
        resolve_grid(
            config, seeds, args.grid_num_envs, args.updates, args.repeats, args.fit or None,
            args.budget_s, preset,
        )  # fmt: skip
    except ValueError as err:
        raise ValueError(bench_error(str(err), given, preset)) from None
    if not args.quiet:
        print(f"ppo-jax bench: {config.env_name}; {config_origin(config)}")
    result = benchmark(
        config,
        seeds,
        args.grid_num_envs,
        updates=args.updates,
        repeats=args.repeats,
        preset=preset,
        layout=args.layout,
        env_only=not args.no_env_only,
        fit=args.fit or None,
        budget_s=args.budget_s,
        log=(lambda _: None) if args.quiet else print,
    )
    report = result.to_dict()
    print()
    print(bench_table(report))
    written = write_report(report, out)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


# --------------------------------------------------------------------------- parser
def _run_flags(p: argparse.ArgumentParser, default_out: str, seeds: bool = True) -> None:
    if seeds:
        p.add_argument(
            "--seeds",
            default=None,
            metavar="N|LIST|A:B",
            help="a count (8 -> seeds 0..7), a list (0,5,9) or a range (3:7)",
        )
    p.add_argument("--out", default=None, help=f"output folder (default {default_out})")
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="read config fields (and seeds) from a TOML file; flags override it. Like "
        "--env, a module:attribute env_name in the file is imported and called: give only "
        "files you would run",
    )
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "lines"),
        default="auto",
        help="live progress: a bar on a terminal, lines in logs (auto)",
    )


def _session_flags(p: argparse.ArgumentParser) -> None:
    """Checkpoints, resume, stopping and the metric sinks (``train``, ``sweep`` and ``pbt``:
    the one experiment pipeline)."""
    p.add_argument(
        "--tensorboard",
        default=None,
        metavar="DIR",
        help="also write TensorBoard events to DIR (one series per run)",
    )
    p.add_argument(
        "--wandb",
        default=None,
        metavar="PROJECT",
        help="also log to Weights & Biases project PROJECT (pip install wandb)",
    )
    p.add_argument(
        "--wandb-mode",
        default=None,
        choices=("online", "offline", "disabled"),
        help="W&B mode; offline works without network",
    )
    p.add_argument(
        "--resume", default=None, metavar="RUN_DIR", help="continue RUN_DIR from its checkpoint"
    )
    _trust_flag(p, "with --resume, import and call the module:attribute environment")
    p.add_argument(
        "--checkpoint-every",
        type=bounded_int(0),
        default=None,
        metavar="UPDATES",
        help="save the full training state every UPDATES updates and at the end "
        "(default: every 10%% of the run; 0: no checkpoints)",
    )
    p.add_argument(
        "--stop-after",
        type=bounded_int(1),
        default=None,
        metavar="UPDATES",
        help="pause (with a checkpoint) at the first checkpoint at or after UPDATES updates; "
        "continue later with --resume",
    )


def _trust_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--trust-env-module",
        action="store_true",
        help=f"{what} that the run folder's config.json names, with its env_kwargs, and "
        "env_kwargs that steer what a suite loads (EnvPool's base_path, ...) (a run folder "
        "is data: without this flag such a folder is refused before anything is imported; "
        "gymnax and suite ids with plain env_kwargs need no trust)",
    )


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="ppo-jax", description="PPO in JAX, one compiled call per run (see the README)."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    tr = sub.add_parser(
        "train", help="train PPO on one env over several seeds in one compiled call"
    )
    _run_flags(tr, "runs/ENV-TIMESTAMP")
    _session_flags(tr)
    tr.add_argument(
        "--shard-seeds",
        action="store_true",
        help="split the seeds over the devices (the default already does when there are "
        "several; kept for old command lines)",
    )
    tr.add_argument(
        "--split-envs",
        action="store_true",
        help="split every seed's environments and minibatches over all devices (data "
        "parallel, gradients averaged)",
    )
    add_config_flags(tr)
    tr.set_defaults(func=cmd_train)

    sw = sub.add_parser(
        "sweep",
        help="train every hyperparameter setting x seed in one compiled call, ranked",
        description="Sweep traced hyperparameters (learning_rate, gamma, gae_lambda, "
        "clip_eps, ent_coef, vf_coef, max_grad_norm) over seeds, sharded over all devices.",
    )
    _run_flags(sw, "runs/sweep-ENV-TIMESTAMP")
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
        type=bounded_int(1, 2**20),
        default=None,
        metavar="N",
        help="random search: N settings sampled from the --grid space",
    )
    sw.add_argument(
        "--random-seed", type=bounded_int(0, SEED_MAX), default=0, help="seed of the random search"
    )
    sw.add_argument(
        "--chunk-size",
        type=bounded_int(1, 2**20),
        default=None,
        help="force this many runs per compiled call (default: as many as fit)",
    )
    _session_flags(sw)
    multi = sw.add_argument_group("multi-process (jax.distributed; run the same command on each)")
    multi.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="address of process 0's coordinator",
    )
    multi.add_argument("--num-processes", type=bounded_int(1, 2**16), default=None)
    multi.add_argument("--process-id", type=bounded_int(0, 2**16), default=None)
    add_config_flags(sw)
    sw.set_defaults(func=cmd_sweep)

    pb = sub.add_parser(
        "pbt",
        help="population-based training in one compiled call (exploit/explore every interval)",
    )
    _run_flags(pb, "runs/pbt-ENV-TIMESTAMP", seeds=False)
    pb.set_defaults(seeds=None)
    pb.add_argument(
        "--space",
        action="append",
        type=parse_grid_item,
        metavar="NAME=log:LO:HI|NAME=uniform:LO:HI|NAME=V1,V2",
        help="a searched traced field: a distribution or a list of choices (repeat)",
    )
    pb.add_argument("--population", type=bounded_int(2, 2**16), default=8, help="members (8)")
    pb.add_argument("--interval", type=bounded_int(1), default=10, help="updates between steps")
    pb.add_argument(
        "--fraction", type=float, default=0.25, help="bottom/top share exploited (0.25)"
    )
    pb.add_argument(
        "--perturb",
        type=parse_factors,
        default=(0.8, 1.25),
        metavar="F1,F2",
        help="factors an inherited value is multiplied by (0.8,1.25)",
    )
    pb.add_argument("--resample-probability", type=float, default=0.25, help="(0.25)")
    pb.add_argument(
        "--rank-by",
        choices=("episode_return", "eval_return"),
        default="episode_return",
        help="rank members by the interval's training return (default) or by its "
        "evaluations (needs --eval-every dividing --interval)",
    )
    pb.add_argument("--seed", type=bounded_int(0, SEED_MAX), default=0, help="seed of the run")
    _session_flags(pb)
    add_config_flags(pb)
    pb.set_defaults(func=cmd_pbt)

    cp = sub.add_parser(
        "compare",
        help="compare finished run folders (a sweep: each setting): IQM with 95%% CIs, "
        "P(improvement) over a baseline",
    )
    cp.add_argument(
        "run_dirs",
        metavar="RUN_DIR",
        nargs="+",
        help="train, sweep or PBT folders of one environment (a sweep gives one row per setting)",
    )
    cp.add_argument(
        "--baseline",
        default="1",
        metavar="N|TEXT",
        help="the row the others are compared with: its number in the '#' column, its label, "
        "or a part of exactly one label, e.g. learning_rate=0.001 (default 1, the first)",
    )
    cp.add_argument("--plot", default=None, metavar="FILE.png", help="performance profiles")
    cp.set_defaults(func=cmd_compare)

    pl = sub.add_parser("plot", help="write PNG learning curves of a run folder")
    pl.add_argument("run_dir", metavar="RUN_DIR")
    pl.set_defaults(func=cmd_plot)

    ev = sub.add_parser("eval", help="evaluate the newest checkpoint of a train run folder")
    ev.add_argument("run_dir", metavar="RUN_DIR")
    ev.add_argument(
        "--episodes", type=bounded_int(1, 10**6), default=10, help="episodes per seed (default 10)"
    )
    ev.add_argument("--stochastic", action="store_true", help="sample actions (default greedy)")
    _trust_flag(ev, "import and call the module:attribute environment")
    ev.add_argument(
        "--best",
        action="store_true",
        help="evaluate each seed's best parameters of the evaluations during training "
        "(runs trained with --eval-every; the absolute metric) instead of the newest",
    )
    ev.add_argument(
        "--eval-seed", type=bounded_int(0, SEED_MAX), default=1000, help="base seed of the episodes"
    )
    ev.add_argument(
        "--out",
        default=None,
        metavar="FILE.json",
        help="write the results here (refused if it exists; default RUN_DIR/eval.json, or "
        "eval-2.json, eval-3.json, ... when taken: a result is never overwritten)",
    )
    ev.add_argument(
        "--gif",
        default=None,
        metavar="FILE.gif",
        help="render one episode of the first seed to a GIF",
    )
    ev.add_argument(
        "--gif-max-steps",
        type=bounded_int(1, 10**5),
        default=200,
        help="frames at most (default 200)",
    )
    ev.set_defaults(func=cmd_eval)

    be = sub.add_parser(
        "bench",
        help="time a config over seeds x num_envs: compile, env-steps/s, environment only, "
        "FLOP ceiling, memory",
        description="Time a grid of seed counts x num_envs of one config (--env, --config and "
        "the config flags, as train takes them): compile and steady state apart, training and "
        "environment-only env-steps/s, the fraction of the FLOP ceiling, peak memory. Writes "
        "bench.json, bench.txt and bench_scaling.png to --out.",
    )
    be.add_argument(
        "--seeds",
        type=parse_counts,
        default=None,
        metavar="N1,N2",
        help="seed counts (runs in one compiled call), e.g. 1,8,64 (default 1,8)",
    )
    be.add_argument(
        "--num-envs",
        dest="grid_num_envs",  # not a config field: config_flags() must not take it
        type=parse_counts,
        default=None,
        metavar="N1,N2",
        help="parallel environments per seed, e.g. 4,64,1024 (default: the config's x 1,4,16)",
    )
    be.add_argument(
        "--updates",
        type=bounded_int(1),
        default=None,
        help="updates per run (default: the config's total_timesteps per seed)",
    )
    be.add_argument(
        "--repeats",
        type=bounded_int(0, 1000),
        default=None,
        help="timed runs per cell after the first (default 3; 0: the first run only)",
    )
    be.add_argument(
        "--quick", action="store_true", help="the quick preset: a 2 x 2 grid, under a minute"
    )
    be.add_argument(
        "--preset",
        choices=("quick", "gpu-check"),
        default=None,
        help="a named grid; gpu-check: seeds 1..512 x num_envs 32..16384 with --fit, 7 minutes",
    )
    be.add_argument(
        "--layout",
        choices=("auto", "one", "seeds", "envs"),
        default="auto",
        help="where a cell's runs go: as train does (auto), one device, the seeds split over "
        "the devices, every seed's environments split",
    )
    be.add_argument(
        "--fit",
        action="store_true",
        help="skip cells that do not fit in device memory and report the largest that does",
    )
    be.add_argument(
        "--budget-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="skip a cell when less time is left than the previous cell took",
    )
    be.add_argument(
        "--no-env-only", action="store_true", help="do not time the environment-only program"
    )
    be.add_argument("--out", default=None, help="output folder (default runs/bench-ENV-TIMESTAMP)")
    be.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="read config fields from a TOML file; flags override it",
    )
    be.add_argument("--quiet", action="store_true", help="print only the table")
    add_config_flags(be, skip=("num_envs",))
    be.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ppo_jax.run.parallel import configure_cpu_devices

    configure_cpu_devices()
    args = build_parser().parse_args(argv)
    if args.command != "bench":  # bench times cold compiles
        enable_compile_cache()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warnings(args.command, warnings.showwarning)
            allow_env_module_from_cwd(env_to_import(args))  # --env my_envs:MyEnv: ./my_envs.py
            return int(args.func(args))
    except (ValueError, TypeError) as err:
        message = "".join(c if c.isprintable() else " " for c in " ".join(str(err).split()))
        print(f"ppo-jax {args.command}: error: {message[:2000]}", file=sys.stderr)
        return 2


def one_line_warnings(command: str, show: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` that prints the package's own warnings about a folder (a
    damaged checkpoint) as one line, ``ppo-jax COMMAND: warning: ...``, and hands every other
    warning to ``show``."""
    from ppo_jax.io.runload import DamagedCheckpointWarning

    def showwarning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(category, type) and issubclass(category, DamagedCheckpointWarning):
            text = "".join(c if c.isprintable() else " " for c in " ".join(str(message).split()))
            print(f"ppo-jax {command}: warning: {text[:1000]}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    return showwarning


def env_to_import(args: argparse.Namespace) -> str | None:
    """The ``env_name`` this command will build from a name the user chose: ``--env`` or the
    ``--config`` file's of a new run, or the folder's with ``--trust-env-module``; ``None``
    for a command that builds no environment the user named (``plot``, ``compare``, an
    untrusted ``eval`` or ``--resume``). Only such a name may put the working directory on the
    import path (:func:`ppo_jax.importpath.allow_env_module_from_cwd`)."""
    new_run = (
        args.command in ("train", "sweep", "pbt", "bench") and getattr(args, "resume", None) is None
    )
    if new_run:
        if getattr(args, "env_name", None) is not None:
            return str(args.env_name)
        if getattr(args, "config", None):
            from ppo_jax.io.configfile import load_config_file

            name = load_config_file(args.config).get("env_name")
            return name if isinstance(name, str) else None
        return None
    folder = getattr(args, "resume", None) or getattr(args, "run_dir", None)
    if getattr(args, "trust_env_module", False) and folder is not None:
        from ppo_jax.io.runload import read_run_config

        return read_run_config(Path(folder)).config.env_name
    return None


def enable_compile_cache() -> None:
    """Keep compiled XLA programs on disk between runs (``PPO_JAX_COMPILE_CACHE`` = a folder,
    or ``off``; default ``~/.cache/ppo_jax/xla``): a repeated run of the same config skips most
    of its compile time (the programs carry no host callbacks, so all of them are cached)."""
    choice = os.environ.get("PPO_JAX_COMPILE_CACHE", "")
    if choice.lower() == "off":
        return
    import jax

    path = choice or os.path.join(os.path.expanduser("~"), ".cache", "ppo_jax", "xla")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return  # an unwritable cache only costs compile time
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
