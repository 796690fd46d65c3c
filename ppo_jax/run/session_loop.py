"""The session loop that ``ppo-jax train`` and ``ppo-jax pbt`` share.

:func:`run_session` runs a checked :class:`~ppo_jax.run.session_setup.SessionSetup` in its run
folder: it compiles a segment of updates once, then loops over small named steps — run a
segment, check it is finite, save a checkpoint, append the metric rows, report progress,
honour a stop request — and ends by writing the metrics files, ``results.json`` and the plots
(:mod:`ppo_jax.run.session_outputs`). :func:`claim_folder` is a session's first write: it claims
a new folder (and writes ``config.json``) or locks the one to resume and checks its newest
checkpoint against the setup. Consecutive segments replay one long segment bit for bit, so a
resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ppo_jax.core.config import PPOConfig, env_name_kind
from ppo_jax.core.train import env_steps_done
from ppo_jax.io import checkpoint, rundir
from ppo_jax.io.console import ProgressPrinter, report_every, resolve_style
from ppo_jax.io.sinks import JsonlWriter, TensorBoardWriter, WandbWriter, metrics_rows
from ppo_jax.run import drivers, progress
from ppo_jax.run.folders import load_run
from ppo_jax.run.session_outputs import (
    EARLY_FINISH,
    all_stopped,
    session_result,
    write_best,
    write_outputs,
)
from ppo_jax.run.session_setup import SessionSetup, check_disk

NONFINITE_METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "grad_norm")
"""Metrics checked for NaN/inf after every segment of updates."""


class StopRequests:
    """SIGINT/SIGTERM handler (main thread only): asks the loop to stop after the current
    segment, with a checkpoint; a second signal aborts at once."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}
        self._log = log

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
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
        self._log(
            f"\n{self.signal_name}: stopping after the current segment of updates "
            "(a checkpoint and the metrics so far will be written; send again to abort)"
        )


def first_nonfinite(
    metrics: dict[str, np.ndarray], params: Any, first_update: int, steps_before: Any = None
) -> str | None:
    """A message naming the first non-finite metric (update, row) or parameter, else None.

    Updates a run skipped after reaching ``stop_at_return`` log NaN losses and the env steps
    it had taken: an update counts only where a row's ``env_steps`` grew, from
    ``steps_before`` (each row's env steps before these updates; without it, from 0)."""
    steps = metrics.get("env_steps")
    trained: Any = True
    if steps is not None:
        steps = np.asarray(steps)
        before = np.zeros(steps.shape[:-1]) if steps_before is None else steps_before
        previous = np.concatenate([np.reshape(before, (*steps.shape[:-1], 1)), steps[..., :-1]], -1)
        trained = steps > previous
    for name in NONFINITE_METRICS:
        bad = ~np.isfinite(np.asarray(metrics[name])) & trained
        if bad.any():
            row, u = np.argwhere(bad)[0]
            return f"non-finite {name} at update {first_update + int(u) + 1} (seed index {row})"
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if not np.all(np.isfinite(np.asarray(leaf))):
            return f"non-finite parameter {jax.tree_util.keystr(path)} after update {first_update}"
    return None


def _differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    return [
        f"{k}: {str(got.get(k))[:80]} (this run: {str(want.get(k))[:80]})"
        for k in sorted(set(want) | set(got))
        if want.get(k) != got.get(k)
    ]


def _segment_length(checkpoint_every: int, report: int, num_updates: int, unit: int = 1) -> int:
    """Updates per compiled segment: checkpoints and progress reports both fall on segment
    boundaries (consecutive segments replay the whole run bit for bit); a multiple of ``unit``
    (``checkpoint_every`` must be one too, unless it is the whole run)."""
    every = checkpoint_every or num_updates
    if unit > 1:
        units = max(1, every // unit)
        return unit * (math.gcd(units, max(1, report // unit)) if report else units)
    return max(1, math.gcd(every, report) if report else every)


def claim_folder(
    setup: SessionSetup, out_dir: Any, resume: bool, hp: Any
) -> tuple[Path, rundir.FolderLock, checkpoint.Checkpoint | None]:
    """Lock the folder to continue (and read its checkpoint), or claim a new one and write
    ``config.json``: the first writes of a session, after every check."""
    if resume:
        out = Path(out_dir)
        lock = rundir.claim_existing_folder(out)
        try:
            return out, lock, _load_checkpoint(out, setup)
        except BaseException:
            lock.release()
            raise
    config = setup.config
    target = None if out_dir is None else Path(out_dir)
    if target is not None:
        rundir.check_new_folder(target)
    check_disk(_existing_parent(target or Path("runs")), setup)
    prefix = "" if setup.kind == "train" else f"{setup.kind}-"
    default = prefix + config.env_name.replace(":", "-").replace("/", "-")
    out, lock = rundir.claim_new_folder(target, default)
    try:
        record = rundir.RunConfig(
            setup.kind,
            config,
            setup.seeds,
            setup.checkpoint_every,
            None if hp is None else setup.identity["hp"],
            extra={"identity": setup.identity, **setup.extra},
        )
        rundir.write_run_config(out, record)
    except BaseException:
        lock.release()
        raise
    return out, lock, None


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _load_checkpoint(out: Path, setup: SessionSetup) -> checkpoint.Checkpoint:
    """The newest checkpoint of ``out``, checked against this run (config, seeds, every
    identity field, every array's name, shape and dtype)."""
    ckpt = checkpoint.load(checkpoint.latest(out), max_bytes=setup.max_checkpoint_bytes)
    config = setup.config
    where = f"resume {str(out)!r}"
    if ckpt.config != config.to_dict():
        raise ValueError(f"{where}: the checkpoint's config and config.json disagree")
    problems = _differences(setup.identity, ckpt.identity)
    if problems:
        raise ValueError(f"{where}: the checkpoint belongs to another run: " + "; ".join(problems))
    if not 1 <= ckpt.update <= config.num_updates:
        raise ValueError(f"{where}: the checkpoint's update {ckpt.update} does not fit this run")
    for name, values in ckpt.metrics.items():
        if values.shape != (len(setup.seeds), ckpt.update):
            raise ValueError(
                f"{where}: checkpoint metric {name!r} is {list(values.shape)}, expected "
                f"[{len(setup.seeds)}, {ckpt.update}]"
            )
    checkpoint.restore(ckpt, setup.template, f"{where}: checkpoint")
    return ckpt


def _open_sinks(
    out: Path,
    setup: SessionSetup,
    ckpt: checkpoint.Checkpoint | None,
    tensorboard: Any,
    wandb: str | None,
    wandb_mode: str | None,
) -> list[Any]:
    """Metric writers. On resume ``metrics.jsonl`` is first rewritten to end exactly at the
    checkpoint, and TensorBoard hides what an interrupted session wrote after it."""
    jsonl = out / rundir.METRICS_JSONL
    start_step = 0
    if ckpt is not None:
        rundir.rewrite_jsonl(
            jsonl, metrics_rows(ckpt.metrics, setup.seeds) if ckpt.update else iter(())
        )
        start_step = ckpt.update * setup.plan.config.batch_size
    sinks: list[Any] = [JsonlWriter(jsonl)]
    if tensorboard is not None:
        sinks.append(TensorBoardWriter(tensorboard, purge_step=start_step + 1 if ckpt else None))
    if wandb is not None:
        sinks.append(
            WandbWriter(wandb, out, setup.config.to_dict(), name=out.name, mode=wandb_mode)
        )
    return sinks


def run_session(
    setup: SessionSetup,
    out: Path,
    ckpt: checkpoint.Checkpoint | None,
    tensorboard: Any,
    wandb: str | None,
    wandb_mode: str | None,
    progress_arg: Any,
    say: Callable[[str], None],
) -> rundir.RunResult:
    """Run ``setup`` in the claimed folder ``out`` (from :func:`claim_folder`; ``ckpt``: the
    checkpoint to resume from, or ``None``) until it finishes, pauses at ``setup.stop_at``,
    is interrupted (SIGINT/SIGTERM, with a checkpoint), stops on a non-finite value, or every
    run reached ``stop_at_return``; then write the outputs.

    Args:
      setup: the checked session (:class:`~ppo_jax.run.session_setup.SessionSetup`).
      out, ckpt: the folder and its checkpoint, as :func:`claim_folder` returned them.
      tensorboard, wandb, wandb_mode: the optional metric sinks.
      progress_arg: ``"bar"``, ``"lines"``, ``"auto"``, ``None`` or a callable receiving each
        :class:`~ppo_jax.run.progress.ProgressEvent`.
      say: receives one-line messages.

    Returns:
      The :class:`~ppo_jax.io.rundir.RunResult` (rows ``[R]``: seeds or members) with its
      ``status`` and newest ``checkpoint``.
    """
    plan, config = setup.plan, setup.plan.config
    start = 0 if ckpt is None else ckpt.update
    verb = "starting" if ckpt is None else f"resuming at update {start}"
    say(
        f"ppo-jax {setup.kind}: {config.env_name}, {len(setup.seeds)} {setup.row_label}(s), "
        f"{config.env_steps:,} env "
        f"steps each ({config.num_updates} updates of {config.num_envs} envs x "
        f"{config.num_steps} steps), {plan.layout.describe()} "
        f"({jax.devices()[0].platform}); {verb}"
    )
    say(f"  output folder: {out}")
    restored = None if ckpt is None else checkpoint.restore(ckpt, setup.template)
    if ckpt is not None and (ckpt.update >= config.num_updates or all_stopped(restored)):
        newest = checkpoint.latest(out)
        say(f"  already finished at update {ckpt.update}; newest checkpoint {newest}")
        trust = setup.config.env_origin is None  # the result's config as trusted as the given
        return load_run(out, trust_env_module=trust)._replace(checkpoint=newest)
    style = "none" if callable(progress_arg) else resolve_style(progress_arg)
    listener = progress_arg if callable(progress_arg) else None
    report = report_every(config.num_updates, style if listener is None else "lines")
    length = _segment_length(setup.checkpoint_every, report, config.num_updates, setup.unit)
    t0 = time.perf_counter()
    if restored is not None:
        runner = drivers.restart_episodes(plan, restored)  # EnvPool: fresh episodes
    else:
        runner = setup.init() if setup.init is not None else drivers.init_runs(plan)
    first = 0 if ckpt is None else ckpt.update
    compile_fn = setup.compile or (lambda r, n: drivers.compile_segments(plan, r, n, first))
    segment = compile_fn(runner, length)
    compile_s = time.perf_counter() - t0
    say(f"  compiled in {compile_s:.1f}s")
    parts = [] if ckpt is None or not ckpt.update else [ckpt.metrics]
    sinks = _open_sinks(out, setup, ckpt, tensorboard, wandb, wandb_mode)
    last_ckpt = None if ckpt is None else checkpoint.latest(out)
    run_s, status = 0.0, "finished"
    printer = ProgressPrinter(
        len(setup.seeds), config.num_updates, style, steps_done=start * config.batch_size
    )
    try:
        with StopRequests(say) as stops, progress.listen(listener or printer):
            while start < setup.stop_at:
                t1 = time.perf_counter()
                new_runner, seg_jax = segment(runner, start)
                jax.block_until_ready(new_runner)
                run_s += time.perf_counter() - t1
                seg = {k: np.asarray(v) for k, v in seg_jax.items()}
                done = env_steps_done(config, np.asarray(runner.train_state.step))
                problem = first_nonfinite(seg, new_runner.train_state.params, start, done)
                if problem is not None:
                    status = f"stopped: {problem}"
                    break
                runner, start = new_runner, start + seg["env_steps"].shape[-1]
                parts.append(seg)
                progress.report(progress.segment_event(seg, start, config.num_updates))
                reached = all_stopped(runner)
                stopping = stops.signal_name is not None or start >= setup.stop_at or reached
                if setup.checkpoint_every and (start % setup.checkpoint_every == 0 or stopping):
                    last_ckpt = _save(out, setup, runner, parts, start)
                for step, values in metrics_rows(seg, setup.seeds):  # after the checkpoint
                    for sink in sinks:
                        sink.add_scalars(step, values)
                if stops.signal_name is not None:
                    status = f"interrupted ({stops.signal_name})"
                    break
                if reached:
                    status = EARLY_FINISH.format(config.stop_at_return)
                    break
            if status == "finished" and start < config.num_updates:
                status = f"paused after update {start} (stop_after)"
    except rundir.OutputError as err:
        raise rundir.OutputError(_with_resume_hint(str(err), out, last_ckpt, setup)) from None
    finally:
        printer.close()
        for sink in sinks:
            sink.close()
    metrics = _merge(parts)
    result = session_result(
        setup, out, runner, metrics, status, compile_s, run_s, 0 if ckpt is None else ckpt.update
    )
    try:
        result = write_outputs(setup, out, result, runner, last_ckpt, compile_s, run_s)
    except rundir.OutputError as err:
        raise rundir.OutputError(_with_resume_hint(str(err), out, last_ckpt, setup)) from None
    return result._replace(checkpoint=last_ckpt)


def resume_command(kind: str, out: Path | str | None, config: PPOConfig) -> str:
    """The command that continues the ``kind`` run folder ``out`` (with ``--trust-env-module``
    when its config names a ``module:attribute`` environment)."""
    trust = " --trust-env-module" if env_name_kind(config.env_name) == "module" else ""
    return f"ppo-jax {kind} --resume {out}{trust}"


def _with_resume_hint(message: str, out: Path, last_ckpt: Path | None, setup: SessionSetup) -> str:
    if last_ckpt is None:
        return message + "; no checkpoint was written"
    return (
        f"{message}; the newest complete checkpoint is {last_ckpt}: free space, then continue "
        f"with: {resume_command(setup.kind, out, setup.config)}"
    )


def _merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return {}
    return {k: np.concatenate([np.asarray(p[k]) for p in parts], axis=-1) for k in parts[0]}


def _save(
    out: Path, setup: SessionSetup, runner: Any, parts: list[dict[str, np.ndarray]], update: int
) -> Path:
    write_best(out, setup, runner, update)
    return checkpoint.save(
        out,
        checkpoint.Checkpoint(
            config=setup.config.to_dict(),
            identity=setup.identity,
            update=update,
            state=checkpoint.state_arrays(jax.device_get(runner)),
            metrics=_merge(parts),
        ),
    )
