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
import shutil
import signal
import sys
import time
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ppo_jax.config import PPOConfig, config_field_names
from ppo_jax.types import Metrics

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
    group = parser.add_argument_group(
        "PPO config (unset fields come from the tuned config of --env, see ppo_jax.configs; "
        "the package defaults solve CartPole-v1)"
    )
    for f in dataclasses.fields(PPOConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        # argparse %-formats help strings: a literal "%" in a docstring must be doubled.
        help_text = f"{docs.get(f.name, '')} (default: {default})".replace("%", "%%")
        hint = hints[f.name]
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        if f.name == "env_name":
            group.add_argument(flag, "--env", metavar="ENV", **kwargs)
        elif f.name == "env_kwargs":
            kwargs["help"] = "Extra gymnax.make keyword argument NAME=VALUE (repeatable)."
            group.add_argument("--env-kwarg", action="append", type=_parse_env_kwarg, **kwargs)
        elif f.name in ("hidden_sizes", "cnn_channels"):
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
    return config_for(changes)


def config_origin(config: PPOConfig) -> str:
    """One line saying which tuned config ``config`` starts from and what differs from it."""
    from ppo_jax.configs import get_config, tuned_configs

    base = get_config(config.env_name).to_dict()
    tuned = config.env_name in tuned_configs()
    changed = [f"{k}={v}" for k, v in config.to_dict().items() if v != base[k]]
    origin = f"ppo_jax.configs {config.env_name!r}" if tuned else "package defaults (not tuned)"
    return origin + (f", changed: {', '.join(changed)}" if changed else "")


def config_for(fields: dict[str, Any]) -> PPOConfig:
    """``fields`` (from flags and/or a config file) applied on top of the tuned config of their
    ``env_name`` (``ppo_jax.configs.get_config``; CartPole-v1 when none is given)."""
    from ppo_jax.configs import get_config

    fields = dict(fields)
    if isinstance(fields.get("env_kwargs"), list):
        fields["env_kwargs"] = tuple(fields["env_kwargs"])
    base = get_config(fields.get("env_name", PPOConfig.env_name))
    return PPOConfig.from_dict({**base.to_dict(), **fields})


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
BAR_POINTS = 25
"""Progress reports per run when a progress bar is shown (each costs one host callback per
seed; 25 keeps the measured cost near 1% of throughput, see benchmarks/throughput.py)."""


def progress_style(args: argparse.Namespace) -> str:
    """``bar`` on an interactive terminal, else ``lines``; ``none`` with ``--quiet``."""
    if getattr(args, "quiet", False):
        return "none"
    choice = getattr(args, "progress", "auto")
    if choice != "auto":
        return str(choice)
    return "bar" if sys.stderr.isatty() else "lines"


def report_every(num_updates: int, style: str) -> int:
    """Updates between progress reports: about ``BAR_POINTS`` or ``PROGRESS_LINES`` per run;
    0 (no host callbacks at all, so the executable can come from the persistent compilation
    cache) when no progress is shown."""
    if style == "none":
        return 0
    points = BAR_POINTS if style == "bar" else PROGRESS_LINES
    return max(1, math.ceil(num_updates / points))


class ProgressPrinter:
    """Aggregates per-run progress events (one per seed or run per report point) into one
    progress bar (tqdm) or one printed line per point."""

    def __init__(
        self,
        num_seeds: int,
        num_updates: int,
        start: float,
        style: str,
        unit: str = "seeds",
        steps_done: int = 0,
    ) -> None:
        self.unit = unit
        self.num_seeds = num_seeds
        self.num_updates = num_updates
        self.start = start
        self.style = style
        self.steps_done = steps_done
        self.pending: dict[int, list[Any]] = {}
        self.bar: Any = None
        if style == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=num_updates, unit="update", dynamic_ncols=True, leave=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, event: Any) -> None:
        group = self.pending.setdefault(event.update, [])
        group.append(event)
        if len(group) < self.num_seeds:
            return
        del self.pending[event.update]
        if self.style == "none":
            return
        per_seed = [e.return_sum / e.episodes for e in group if e.episodes > 0]
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        steps = group[0].env_steps
        rate = (steps - self.steps_done) * self.num_seeds / elapsed
        if self.bar is not None:
            self.bar.n = event.update
            self.bar.set_postfix_str(
                f"return {np.mean(per_seed):.1f} ({len(per_seed)}/{self.num_seeds} {self.unit})"
                if per_seed
                else "return n/a",
                refresh=False,
            )
            self.bar.set_description(f"{rate:,.0f} env-steps/s", refresh=False)
            self.bar.refresh()
            return
        ret = (
            f"return {np.mean(per_seed):7.1f} +- {np.std(per_seed):5.1f}"
            if per_seed
            else "return     n/a (no episode ended)"
        )
        print(
            f"  update {event.update:>5}/{self.num_updates}  env-steps {steps:>10,}  {ret}"
            f"  ({len(per_seed)}/{self.num_seeds} {self.unit})  {rate:>9,.0f} env-steps/s"
            f"  {elapsed:6.1f}s",
            flush=True,
        )


# --------------------------------------------------------------------------- commands
CHECKPOINTS_PER_RUN = 10
"""Default number of checkpoints over a run (``--checkpoint-every``)."""

NONFINITE_METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "grad_norm")
"""Metrics checked for NaN/inf after every segment of updates."""


class StopRequests:
    """SIGINT/SIGTERM handler: asks the training loop to stop at the next checkpoint."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None:  # second signal: give up waiting
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        print(
            f"\n{self.signal_name}: stopping after the current segment of updates "
            "(a checkpoint and the metrics so far will be written; send again to abort)",
            file=sys.stderr,
            flush=True,
        )


def first_nonfinite(metrics: dict[str, np.ndarray], params: Any, first_update: int) -> str | None:
    """A message naming the first non-finite metric (update, seed) or parameter, else None."""
    for name in NONFINITE_METRICS:
        bad = ~np.isfinite(np.asarray(metrics[name]))
        if bad.any():
            seed_i, u = np.argwhere(bad)[0]
            return f"non-finite {name} at update {first_update + int(u) + 1} (seed index {seed_i})"
    import jax

    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if not np.all(np.isfinite(np.asarray(leaf))):
            return f"non-finite parameter {jax.tree_util.keystr(path)} after update {first_update}"
    return None


def load_config_file(path: str) -> dict[str, Any]:
    """Fields from a TOML file (top level keys = PPOConfig fields, plus ``seeds``)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as err:
        raise ValueError(f"--config {path!r}: cannot read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"--config {path!r}: invalid TOML: {err}") from None
    allowed = {*config_field_names(), "seeds"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"--config {path!r}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return data


def resolve_train_setup(args: argparse.Namespace) -> tuple[PPOConfig, list[int], Any]:
    """Config, seeds and checkpoint (or None) for ``train``: from ``--resume``, or from
    ``--config`` overridden by flags."""
    from ppo_jax import checkpoint

    flags = {n: getattr(args, n) for n in config_field_names() if getattr(args, n) is not None}
    if args.resume is not None:
        given = args.config is not None or args.seeds is not None or args.out is not None
        if flags or given or args.checkpoint_every is not None:
            raise ValueError(
                "--resume continues a run with its saved config; do not combine it with config "
                "flags, --config, --seeds, --out or --checkpoint-every "
                f"(got {sorted(flags) or 'other options'})"
            )
        run_dir = Path(args.resume)
        if not (run_dir / "config.json").is_file():
            raise ValueError(
                f"--resume {str(run_dir)!r}: no config.json (not a ppo-jax run folder)"
            )
        ckpt = checkpoint.load(checkpoint.latest(run_dir))
        saved = json.loads((run_dir / "config.json").read_text())
        if saved.get("config") != ckpt.config:
            raise ValueError(f"--resume {str(run_dir)!r}: checkpoint and config.json disagree")
        return PPOConfig.from_dict(ckpt.config), ckpt.seeds, ckpt
    base = load_config_file(args.config) if args.config else {}
    seeds = args.seeds if args.seeds is not None else parse_seeds(str(base.pop("seeds", 1)))
    base.pop("seeds", None)
    return config_for({**base, **flags}), seeds, None


def open_sinks(args: argparse.Namespace, out: Path, config: PPOConfig) -> list[Any]:
    """Metric writers: ``metrics.jsonl`` always; TensorBoard and W&B when asked for."""
    from ppo_jax.sinks import JsonlWriter, TensorBoardWriter, WandbWriter

    sinks: list[Any] = [JsonlWriter(out / "metrics.jsonl")]
    if getattr(args, "tensorboard", None):
        sinks.append(TensorBoardWriter(args.tensorboard))
    if getattr(args, "wandb", None):
        sinks.append(
            WandbWriter(args.wandb, out, config.to_dict(), name=out.name, mode=args.wandb_mode)
        )
    return sinks


def check_disk_space(out: Path, state_bytes: int, metric_bytes: int) -> None:
    """Refuse to start when the output folder cannot hold the checkpoints and metrics."""
    from ppo_jax.checkpoint import KEEP_CHECKPOINTS

    need = (KEEP_CHECKPOINTS + 1) * (state_bytes + metric_bytes) + 4 * metric_bytes + 2**20
    free = shutil.disk_usage(out).free
    if free < need:
        raise ValueError(
            f"--out {str(out)!r}: {free / 2**20:.1f} MiB free, the run needs about "
            f"{need / 2**20:.1f} MiB for checkpoints and metrics"
        )


def cmd_train(args: argparse.Namespace) -> int:  # noqa: C901 - the CLI's main sequence
    import jax

    from ppo_jax import checkpoint, progress
    from ppo_jax.envs import env_spec, make_env
    from ppo_jax.networks import uses_cnn
    from ppo_jax.sinks import metrics_rows
    from ppo_jax.summary import final_return, solved_threshold, steps_to_solve
    from ppo_jax.train import compile_run_updates, device_layout, init_seeds, runner_template

    config, seeds, ckpt = resolve_train_setup(args)
    # Refuse unsupported envs, a CNN torso for non-image observations and a device layout that
    # does not fit, before any folder is made.
    obs_shape, _ = env_spec(*make_env(config))
    uses_cnn(config, obs_shape)
    layout = {
        "shard": bool(getattr(args, "shard_seeds", False)),
        "split_envs": bool(getattr(args, "split_envs", False)),
    }
    device_layout(config, len(seeds), **layout)
    if ckpt is None:
        every_arg = args.checkpoint_every
        if every_arg is None:
            every_arg = max(1, math.ceil(config.num_updates / CHECKPOINTS_PER_RUN))
        if every_arg < 0:
            raise ValueError(f"--checkpoint-every must be >= 0, got {every_arg}")
        out = prepare_out_dir(args.out, config.env_name)
        write_json(
            out / "config.json",
            {"config": config.to_dict(), "seeds": seeds, "checkpoint_every": every_arg},
        )
    else:
        out = Path(args.resume)
        every_arg = int(json.loads((out / "config.json").read_text())["checkpoint_every"])
    saving = every_arg > 0
    every = every_arg if saving else config.num_updates
    say = (lambda *a: None) if args.quiet else print
    verb = f"resuming at update {ckpt.update}" if ckpt is not None else "starting"
    say(
        f"ppo-jax train: {config.env_name}, {len(seeds)} seed(s), {config.env_steps:,} env steps "
        f"each ({config.num_updates} updates of {config.num_envs} envs x {config.num_steps} "
        f"steps), device {jax.devices()[0].platform}; {verb}"
    )
    say(f"  config: {config_origin(config)}")
    say(f"  output folder: {out}")
    template = runner_template(config, len(seeds), **layout)  # shapes only, no compile
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(template))
    check_disk_space(out, state_bytes, len(seeds) * config.num_updates * len(Metrics._fields) * 4)
    t0 = time.perf_counter()
    if ckpt is None:
        runner = init_seeds(config, seeds, **layout)
        start = 0
        metrics_parts: list[dict[str, np.ndarray]] = []
    else:
        runner = checkpoint.restore_runner(ckpt, template, f"--resume {str(out)!r}")
        start = ckpt.update
        metrics_parts = [ckpt.metrics] if ckpt.update else []
    sinks = open_sinks(args, out, config)
    style = progress_style(args)
    every_report = report_every(config.num_updates, style)
    segment = compile_run_updates(config, runner, every, progress_every=every_report, **layout)
    compile_s = time.perf_counter() - t0
    say(f"  compiled in {compile_s:.1f}s")
    stop_at = config.num_updates
    if args.stop_after is not None:
        stop_at = min(stop_at, math.ceil(args.stop_after / every) * every)
    run_s = 0.0
    status = "finished"
    last_ckpt = None
    printer = ProgressPrinter(
        len(seeds),
        config.num_updates,
        time.perf_counter(),
        style,
        steps_done=start * config.batch_size,
    )
    with StopRequests() as stops, progress.listen(printer):
        while start < stop_at:
            if start % every:
                raise ValueError(f"checkpoint at update {start} is not a multiple of {every}")
            length = min(every, config.num_updates - start)
            t1 = time.perf_counter()
            new_runner, seg_jax = segment(runner, start)
            jax.block_until_ready(new_runner)
            run_s += time.perf_counter() - t1
            seg = {k: np.asarray(v) for k, v in seg_jax.items()}
            problem = first_nonfinite(seg, new_runner.train_state.params, start)
            if problem is not None:
                status = f"stopped: {problem}"
                break
            runner, start = new_runner, start + length
            metrics_parts.append(seg)
            for step, values in metrics_rows(seg, seeds):
                for sink in sinks:
                    sink.add_scalars(step, values)
            if saving:
                merged = {k: np.concatenate([p[k] for p in metrics_parts], 1) for k in seg}
                last_ckpt = checkpoint.save(
                    out,
                    checkpoint.Checkpoint(
                        config=config.to_dict(),
                        seeds=seeds,
                        update=start,
                        runner_leaves=[np.asarray(x) for x in jax.tree.leaves(runner)],
                        metrics=merged,
                    ),
                )
            if stops.signal_name is not None:
                status = f"interrupted ({stops.signal_name})"
                break
        if status == "finished" and start < config.num_updates:
            status = f"paused after update {start} (--stop-after)"
    printer.close()
    for sink in sinks:
        sink.close()
    if not metrics_parts:
        print(f"ppo-jax train: {status}; no update completed", file=sys.stderr)
        return 3
    metrics = {k: np.concatenate([p[k] for p in metrics_parts], 1) for k in metrics_parts[0]}
    done_steps = start * config.batch_size
    final = final_return(metrics)
    threshold = solved_threshold(config.env_name)
    to_solve = steps_to_solve(metrics, threshold) if threshold is not None else None
    new_steps = done_steps - (ckpt.update * config.batch_size if ckpt is not None else 0)
    sps = new_steps / run_s if run_s > 0 else float("nan")
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
                "env_steps": done_steps,
                "env_steps_per_s": sps,
            }
        )
    write_metrics(out, seeds, metrics)
    summary = {
        "config": config.to_dict(),
        "seeds": seeds,
        "status": status,
        "updates_done": start,
        "solved_threshold": threshold,
        "runs": rows,
        "total_env_steps_per_s": sps * len(seeds),
        "compile_s": compile_s,
        "run_s": run_s,
        "device": str(jax.devices()[0]),
        "jax_version": jax.__version__,
        "last_checkpoint": None if last_ckpt is None else str(last_ckpt),
        "metrics": {k: v.tolist() for k, v in metrics.items()},
    }
    write_json(out / "results.json", summary)
    write_plots(out, config.env_name, metrics, threshold)
    print_table(rows, threshold)
    print(
        f"mean final return {np.nanmean(final):.1f} +- {np.nanstd(final):.1f} over {len(seeds)} "
        f"seed(s); {sps * len(seeds):,.0f} env-steps/s in total; compile {compile_s:.1f}s, "
        f"run {run_s:.1f}s"
    )
    print(f"wrote {out / 'metrics.csv'}, {out / 'results.json'}, {out / 'learning_curves.png'}")
    if status != "finished":
        where = (
            f"last good checkpoint {last_ckpt}"
            if last_ckpt is not None
            else "no checkpoint (use --checkpoint-every)"
        )
        print(f"ppo-jax train: {status}; {where}", file=sys.stderr)
        if last_ckpt is not None and not status.startswith("stopped"):
            print(f"  continue with: ppo-jax train --resume {out}", file=sys.stderr)
        return (
            3
            if status.startswith("stopped")
            else (130 if "SIGINT" in status else 143 if "SIGTERM" in status else 0)
        )
    return 0


def save_figure(fig: Any, path: Path) -> None:
    """Write a matplotlib figure to ``path`` (via a temporary file) and free it."""
    import matplotlib.pyplot as plt

    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)


def write_plots(
    out: Path, env_name: str, metrics: dict[str, np.ndarray], threshold: float | None
) -> None:
    """``learning_curves.png`` (return vs env steps, mean over seeds with a 95% band) and
    ``diagnostics.png`` (losses, entropy, KL, clip fraction, explained variance)."""
    from ppo_jax.plotting import diagnostics_figure, learning_curves

    seeds = metrics["episode_return"].shape[0]
    fig = learning_curves(
        metrics["env_steps"][0],
        [metrics["episode_return"]],
        [f"{seeds} seed(s)"],
        f"{env_name}: episode return",
        threshold,
    )
    save_figure(fig, out / "learning_curves.png")
    save_figure(diagnostics_figure(metrics, env_name), out / "diagnostics.png")


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

    if args.coordinator is not None:
        from ppo_jax.distributed import initialize

        if args.num_processes is None or args.process_id is None:
            raise ValueError("--coordinator needs --num-processes and --process-id")
        initialize(args.coordinator, args.num_processes, args.process_id)
    lead = jax.process_index() == 0  # only the first process prints and writes files
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
    out = prepare_out_dir(args.out, f"sweep-{config.env_name}") if lead else Path(os.devnull)
    if lead:
        write_json(
            out / "config.json",
            {"config": config.to_dict(), "settings": plan.settings, "seeds": seeds},
        )
    say = (lambda *a: None) if args.quiet or not lead else print
    say(
        f"ppo-jax sweep: {config.env_name}, {len(plan.settings)} setting(s) x {len(seeds)} "
        f"seed(s) = {plan.num_runs} runs of {config.env_steps:,} env steps, on "
        f"{plan.num_devices} device(s) ({jax.devices()[0].platform})"
    )
    gib = 1024**3
    per_run = (
        f"{plan.run_bytes / 2**20:.1f} MiB"
        if plan.run_bytes >= 2**20
        else (f"{plan.run_bytes / 2**10:.0f} KiB")
    )
    if plan.num_chunks > 1:
        say(
            f"  memory: ~{per_run} per run, "
            f"{plan.free_bytes / gib:.1f} GiB free per device -> {plan.num_chunks} chunks of "
            f"{plan.chunk_size} runs, one after another"
        )
    else:
        say(f"  memory: ~{per_run} per run; all runs in one call")
    say(f"  output folder: {out}")
    style = progress_style(args) if lead else "none"
    t0 = time.perf_counter()
    printer = ProgressPrinter(
        plan.chunk_size * jax.local_device_count() // plan.num_devices,  # runs on this process
        config.num_updates,
        t0,
        style,
        "runs",
    )
    with progress.listen(printer):
        result = run_sweep(plan, progress_every=report_every(config.num_updates, style))
    printer.close()
    wall = time.perf_counter() - t0
    if not lead:
        return 0
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
    save_figure(fig, out / "learning_curves.png")
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


def load_run(run_dir: Path) -> tuple[PPOConfig, list[int], dict[str, Any]]:
    """Config, seeds and ``config.json`` content of a ``ppo-jax train`` run folder."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise ValueError(f"{str(run_dir)!r} is not a ppo-jax run folder (no config.json)")
    try:
        saved = json.loads(path.read_text())
        return PPOConfig.from_dict(saved["config"]), list(saved["seeds"]), saved
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(path)!r} is not a valid ppo-jax config file: {err!r}") from None


def read_metrics_csv(path: Path) -> dict[tuple[str, ...], dict[str, np.ndarray]]:
    """``metrics.csv`` of a train run (key ``()``) or a sweep (key ``(setting,)``) as arrays
    ``[seeds, updates]`` per metric."""
    if not path.is_file():
        raise ValueError(f"{str(path)!r} not found: nothing to plot")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "update" not in rows[0] or "seed" not in rows[0]:
        raise ValueError(f"{str(path)!r} is not a ppo-jax metrics file")
    id_cols = {"setting", "seed", "update"}
    names = [c for c in rows[0] if c not in id_cols]
    groups: dict[tuple[str, ...], dict[str, dict[str, list[float]]]] = {}
    for row in rows:
        group: tuple[str, ...] = (row["setting"],) if "setting" in row else ()
        per_seed = groups.setdefault(group, {})
        values = per_seed.setdefault(row["seed"], {})
        for n in names:
            values.setdefault(n, []).append(float(row[n]) if row[n] != "" else np.nan)
    out: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
    for group, per_seed in groups.items():
        out[group] = {n: np.array([per_seed[s][n] for s in per_seed]) for n in names}
    return out


def cmd_plot(args: argparse.Namespace) -> int:
    from ppo_jax.plotting import learning_curves
    from ppo_jax.summary import solved_threshold

    run_dir = Path(args.run_dir)
    config, _, saved = load_run(run_dir)
    groups = read_metrics_csv(run_dir / "metrics.csv")
    threshold = solved_threshold(config.env_name)
    written = []
    if list(groups) == [()]:
        write_plots(run_dir, config.env_name, groups[()], threshold)
        written = ["learning_curves.png", "diagnostics.png"]
    else:
        settings = saved.get("settings", [])
        keys = sorted(groups, key=lambda g: int(g[0]))
        labels = [
            _setting_label(settings[int(g[0])]) if int(g[0]) < len(settings) else f"setting {g[0]}"
            for g in keys
        ]
        first = groups[keys[0]]
        fig = learning_curves(
            first["env_steps"][0],
            [groups[g]["episode_return"] for g in keys][:MAX_PLOTTED],
            labels[:MAX_PLOTTED],
            f"{config.env_name}: sweep",
            threshold,
        )
        save_figure(fig, run_dir / "learning_curves.png")
        written = ["learning_curves.png"]
    print("wrote " + ", ".join(str(run_dir / w) for w in written))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import jax

    from ppo_jax import checkpoint
    from ppo_jax.envs import make_env
    from ppo_jax.evaluate import RENDERABLE_ENVS, evaluate, record_episode
    from ppo_jax.train import runner_template

    run_dir = Path(args.run_dir)
    config, seeds, _ = load_run(run_dir)
    if args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    if args.gif is not None:
        if config.env_name not in RENDERABLE_ENVS:
            raise ValueError(
                f"--gif: gymnax cannot render {config.env_name}; renderable: "
                f"{list(RENDERABLE_ENVS)}"
            )
        import importlib.util

        classic = ("-v0", "-v1")
        if config.env_name.endswith(classic) and importlib.util.find_spec("pygame") is None:
            raise ValueError(
                "--gif: rendering classic-control envs needs pygame: pip install 'ppo-jax[render]'"
            )
        if not str(args.gif).lower().endswith(".gif"):
            raise ValueError(f"--gif must name a .gif file, got {args.gif!r}")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    ckpt = checkpoint.load(checkpoint.latest(run_dir))
    template = runner_template(config, len(seeds))
    runner = checkpoint.restore_runner(ckpt, template, f"checkpoint of {str(run_dir)!r}")
    params = runner.train_state.params
    mode = "greedy" if not args.stochastic else "stochastic"
    print(
        f"ppo-jax eval: {config.env_name}, checkpoint at update {ckpt.update}/"
        f"{config.num_updates}, {args.episodes} {mode} episode(s) per seed"
    )
    print(f"{'seed':>5}  {'mean return':>11}  {'std':>7}  {'min':>7}  {'max':>7}")
    results = []
    for i, seed in enumerate(seeds):
        p = jax.tree.map(lambda x, i=i: x[i], params)
        res = evaluate(
            config,
            p,
            jax.random.PRNGKey(args.eval_seed + seed),
            args.episodes,
            greedy=not args.stochastic,
        )
        r = np.asarray(res.returns)
        results.append({"seed": seed, "returns": r.tolist()})
        print(f"{seed:>5}  {r.mean():>11.1f}  {r.std():>7.1f}  {r.min():>7.1f}  {r.max():>7.1f}")
    write_json(run_dir / "eval.json", {"update": ckpt.update, "mode": mode, "runs": results})
    if args.gif is not None:
        from gymnax.visualize import Visualizer

        p0 = jax.tree.map(lambda x: x[0], params)
        env, env_params = make_env(config)
        states, returns = record_episode(
            config,
            p0,
            jax.random.PRNGKey(args.eval_seed),
            max_steps=args.gif_max_steps,
            greedy=not args.stochastic,
        )
        Visualizer(env, env_params, states, returns).animate(args.gif)
        print(f"wrote {args.gif} ({len(states)} frames, seed {seeds[0]})")
    print(f"wrote {run_dir / 'eval.json'}")
    return 0


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
        default=None,
        metavar="N|LIST|A:B",
        help="a count (8 -> seeds 0..7), a list (0,5,9) or a range (3:7); default 1 seed (0)",
    )
    tr.add_argument("--out", default=None, help="output folder (default runs/ENV-TIMESTAMP)")
    tr.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="read config fields (and seeds) from a TOML file; flags override it",
    )
    tr.add_argument(
        "--tensorboard",
        default=None,
        metavar="DIR",
        help="also write TensorBoard event files to DIR",
    )
    tr.add_argument(
        "--wandb",
        default=None,
        metavar="PROJECT",
        help="also log to Weights & Biases project PROJECT (pip install wandb)",
    )
    tr.add_argument(
        "--wandb-mode",
        default=None,
        choices=("online", "offline", "disabled"),
        help="W&B mode; offline works without network (default: wandb's own)",
    )
    tr.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its latest checkpoint",
    )
    tr.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="UPDATES",
        help="save the full training state every UPDATES updates and at the end "
        "(default: every 10%% of the run; 0: no checkpoints)",
    )
    tr.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="UPDATES",
        help="pause (with a checkpoint) at the first checkpoint at or after UPDATES "
        "updates; continue later with --resume",
    )
    tr.add_argument(
        "--shard-seeds",
        action="store_true",
        help="split the seeds over all devices (one XLA host device per CPU core, or every "
        "GPU) when they divide the seed count; faster, but a seed's float rounding then "
        "depends on the device layout",
    )
    tr.add_argument(
        "--split-envs",
        action="store_true",
        help="split every seed's environments and minibatches over all devices (data "
        "parallel, gradients averaged): speeds up runs with fewer seeds than cores; "
        "num_envs must be a multiple of the device count",
    )
    tr.add_argument("--quiet", action="store_true", help="print only the final table")
    tr.add_argument(
        "--progress",
        choices=("auto", "bar", "lines"),
        default="auto",
        help="live progress: a bar on a terminal, lines in logs (auto)",
    )
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
    sw.add_argument(
        "--progress",
        choices=("auto", "bar", "lines"),
        default="auto",
        help="live progress: a bar on a terminal, lines in logs (auto)",
    )
    multi = sw.add_argument_group("multi-process (jax.distributed; run the same command on each)")
    multi.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="address of process 0's coordinator",
    )
    multi.add_argument("--num-processes", type=int, default=None)
    multi.add_argument("--process-id", type=int, default=None)
    add_config_flags(sw)
    sw.set_defaults(func=cmd_sweep)

    pl = sub.add_parser("plot", help="write PNG learning curves of a train or sweep run folder")
    pl.add_argument("run_dir", metavar="RUN_DIR")
    pl.set_defaults(func=cmd_plot)

    ev = sub.add_parser("eval", help="evaluate the latest checkpoint of a train run folder")
    ev.add_argument("run_dir", metavar="RUN_DIR")
    ev.add_argument("--episodes", type=int, default=10, help="episodes per seed (default 10)")
    ev.add_argument("--stochastic", action="store_true", help="sample actions (default greedy)")
    ev.add_argument("--eval-seed", type=int, default=1000, help="base seed of the episodes")
    ev.add_argument(
        "--gif",
        default=None,
        metavar="FILE.gif",
        help="render one episode of the first seed to a GIF",
    )
    ev.add_argument("--gif-max-steps", type=int, default=200, help="frames at most (default 200)")
    ev.set_defaults(func=cmd_eval)
    return parser


def use_all_cpu_cores(count: int | None = None) -> None:
    """Expose one XLA host (CPU) device per core (or ``count`` of them), so sharded sweeps use
    every core.

    Only sets ``XLA_FLAGS`` when the user has not chosen a host device count; it must run before
    JAX starts its backends (it does: the CLI calls it first). Accelerators are unaffected.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        if count is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
            count = cores or os.cpu_count() or 1
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}"


def enable_compile_cache() -> None:
    """Keep compiled XLA programs on disk between runs (``PPO_JAX_COMPILE_CACHE`` = a folder,
    or ``off``; default ``~/.cache/ppo_jax/xla``). A repeated run of the same config then skips
    most of its compile time. JAX does not cache programs with host callbacks, so runs with live
    progress still compile their training program; ``--quiet`` runs do not."""
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
    jax.config.update("jax_persistent_cache_min_compile_time_secs", COMPILE_CACHE_MIN_SECONDS)


COMPILE_CACHE_MIN_SECONDS = 0.5
"""Programs that compile faster than this are not written to the persistent cache."""


def main(argv: Sequence[str] | None = None) -> int:
    use_all_cpu_cores()
    enable_compile_cache()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError) as err:
        print(f"ppo-jax {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
