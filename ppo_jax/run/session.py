"""Sessions: checkpointed, resumable, logged training as one library call.

:func:`run_experiment` is everything ``ppo-jax train`` does: it checks every input, claims the
run folder, writes ``config.json``, compiles a segment of updates once, and then loops over small
named steps — run a segment, check it is finite, save a checkpoint, append the metric rows,
report progress, honour a stop request — before writing the metrics files, ``results.json`` and
the plots. ``resume=True`` continues a folder from its newest checkpoint; the result is
bit-identical to an uninterrupted run. :func:`load_run` reads any run folder back.
"""

from __future__ import annotations

import math
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from ppo_jax.core.config import INT32_MAX, PPOConfig, env_name_kind
from ppo_jax.core.envs import trusted
from ppo_jax.core.spec import MetricsFn, Schedule
from ppo_jax.core.train import train_state_shapes
from ppo_jax.core.types import METRIC_NAMES, EvalState, RunnerState, RunningStats
from ppo_jax.io import checkpoint, rundir
from ppo_jax.io.console import ProgressPrinter, report_every, resolve_style
from ppo_jax.io.plotting import write_run_plots
from ppo_jax.io.sinks import JsonlWriter, TensorBoardWriter, WandbWriter, metrics_rows
from ppo_jax.run import drivers, progress
from ppo_jax.run.summary import final_return, iqm_with_ci, solved_threshold, steps_to_solve

CHECKPOINTS_PER_RUN = 10
"""Default number of checkpoints over a run (``checkpoint_every=None``)."""
NONFINITE_METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "grad_norm")
"""Metrics checked for NaN/inf after every segment of updates."""
TEXT_BYTES_PER_VALUE = 80
"""Disk bytes one metric value may take across metrics.csv, metrics.jsonl and results.json
(measured: about 65 with the per-seed returns of the JSON lines)."""
PLOT_BYTES = 2**20


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


def first_nonfinite(metrics: dict[str, np.ndarray], params: Any, first_update: int) -> str | None:
    """A message naming the first non-finite metric (update, row) or parameter, else None."""
    # Updates a run skipped after reaching stop_at_return log 0 env steps and NaN losses.
    steps = metrics.get("env_steps")
    trained = True if steps is None else np.asarray(steps) > 0
    for name in NONFINITE_METRICS:
        bad = ~np.isfinite(np.asarray(metrics[name])) & trained
        if bad.any():
            row, u = np.argwhere(bad)[0]
            return f"non-finite {name} at update {first_update + int(u) + 1} (seed index {row})"
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if not np.all(np.isfinite(np.asarray(leaf))):
            return f"non-finite parameter {jax.tree_util.keystr(path)} after update {first_update}"
    return None


def describe(obj: Any) -> str | None:
    """A stable name of an extension object (recorded so a resume can check it)."""
    if obj is None:
        return None
    if hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    return repr(obj)[:500]


def _check_int(name: str, value: Any, low: int, none_ok: bool = True) -> int | None:
    if value is None and none_ok:
        return None
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= INT32_MAX:
        raise ValueError(f"{name} must be an int in [{low}, {INT32_MAX}], got {value!r}")
    return value


class _Setup(NamedTuple):
    """Everything a session needs, checked before anything is written."""

    config: PPOConfig
    """The config as given (traced fields included); ``plan.config`` is its static part."""
    plan: drivers.Plan
    seeds: list[int]
    checkpoint_every: int
    stop_at: int
    identity: dict[str, Any]
    template: Any
    """Shapes of the state a segment carries (a ``RunnerState`` ``[R]``, or PBT's carry)."""
    state_bytes: int
    max_checkpoint_bytes: int
    kind: str = "train"
    """``"train"`` or ``"pbt"``: the command that resumes the folder."""
    init: Callable[[], Any] | None = None
    """Fresh carried state (default: ``drivers.init_runs(plan)``)."""
    compile: Callable[[Any, int], drivers.SegmentFn] | None = None
    """``compile(state, length)``: the segment function (default: ``drivers.compile_segments``)."""
    unit: int = 1
    """Segments are whole multiples of this many updates (PBT: its interval)."""
    row_label: str = "seed"
    """What a row of the metrics is (``seed``; PBT: ``member``)."""
    extra: dict[str, Any] = {}  # noqa: RUF012 (never mutated)
    """Kind-specific entries of ``config.json``."""


def _identity(
    config: PPOConfig,
    seeds: list[int],
    hp: dict[str, float],
    env: Any,
    *,
    network: Any,
    lr_schedule: Any,
    metrics_fn: Any,
) -> dict[str, Any]:
    return {
        "kind": "train",
        "seeds": list(seeds),
        "hp": hp,
        "env": config.env_name if env is None else "object " + str(describe(type(env))),
        "network": describe(type(network)) if network is not None else None,
        "lr_schedule": describe(lr_schedule),
        "metrics_fn": describe(metrics_fn),
    }


def _differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    return [
        f"{k}: {str(got.get(k))[:80]} (this run: {str(want.get(k))[:80]})"
        for k in sorted(set(want) | set(got))
        if want.get(k) != got.get(k)
    ]


def _check_disk(out: Path, setup: _Setup) -> None:
    """Refuse to start when the folder's disk cannot hold the checkpoints, metrics and plots."""
    config = setup.plan.config
    values = len(setup.seeds) * config.num_updates * (len(METRIC_NAMES) + 8)
    per_checkpoint = setup.state_bytes + 4 * values + 2**16
    saves = checkpoint.KEEP_CHECKPOINTS + 1 if setup.checkpoint_every else 0
    need = saves * per_checkpoint + TEXT_BYTES_PER_VALUE * values + 2 * PLOT_BYTES
    free = shutil.disk_usage(out).free
    if free < need:
        raise ValueError(
            f"{str(out)!r}: {free / 2**20:.1f} MiB free, the run needs about "
            f"{need / 2**20:.1f} MiB for checkpoints and metrics"
        )


def _check_memory(plan: drivers.Plan) -> None:
    """Refuse runs whose estimated device memory exceeds what the devices have."""
    from ppo_jax.run.sweep import free_device_memory

    per_device = math.ceil(plan.num_runs / plan.layout.runs) * drivers.estimate_run_bytes(plan)
    per_device //= plan.layout.envs
    free = min(free_device_memory(d) for d in plan.layout.devices)
    if per_device > free:
        raise ValueError(
            f"the run needs about {per_device / 2**30:.1f} GiB per device, {free / 2**30:.1f} "
            "GiB are free: lower num_envs, num_steps, hidden_sizes or the number of seeds"
        )


def _segment_length(checkpoint_every: int, report: int, num_updates: int, unit: int = 1) -> int:
    """Updates per compiled segment: checkpoints and progress reports both fall on segment
    boundaries (consecutive segments replay the whole run bit for bit); a multiple of ``unit``
    (``checkpoint_every`` must be one too, unless it is the whole run)."""
    every = checkpoint_every or num_updates
    if unit > 1:
        units = max(1, every // unit)
        return unit * (math.gcd(units, max(1, report // unit)) if report else units)
    return max(1, math.gcd(every, report) if report else every)


def run_experiment(
    config: PPOConfig | None,
    seeds: int | list[int] | None,
    out_dir: str | Path | None,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    checkpoint_every: int | None = None,
    hp: Any = None,
    env: Any = None,
    env_params: Any = None,
    tensorboard: str | Path | None = None,
    wandb: str | None = None,
    progress: str | Callable[[progress.ProgressEvent], None] | None = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    shard: bool | str = "auto",
    split_envs: bool = False,
    wandb_mode: str | None = None,
    log: Callable[[str], None] | None = None,
    trust_env_module: bool = False,
) -> rundir.RunResult:
    """Train ``seeds`` with ``config`` into the run folder ``out_dir``, checkpointed and logged.

    Args:
      config, seeds: what to train (``seeds``: a count or a list). With ``resume=True`` both
        may be ``None`` (taken from the folder); if given they must equal the saved ones.
      out_dir: a new (or empty) folder; ``None`` makes ``runs/ENV-TIMESTAMP``. The folder is
        claimed atomically: a second process writing the same folder is refused.
      resume: continue ``out_dir`` from its newest checkpoint (bit-identical to a run that was
        never interrupted).
      stop_after: pause at the first checkpoint at or after this many updates.
      checkpoint_every: updates between checkpoints (default: 10% of the run; 0: none).
      hp: traced hyperparameters (``Hyperparams`` or a dict), default the config's.
      env, env_params, network, lr_schedule, metrics_fn, shard, split_envs: as for
        :func:`ppo_jax.train_seeds` (objects that are not named by ``config.env_name`` must be
        given again to resume).
      tensorboard: also write TensorBoard event files to this folder.
      wandb, wandb_mode: also log to this Weights & Biases project.
      progress: ``"bar"``, ``"lines"``, ``"auto"``, ``None`` (silent), or a callable receiving
        each :class:`~ppo_jax.run.progress.ProgressEvent`.
      log: receives one-line messages (default: silent).
      trust_env_module: with ``resume=True`` and ``config=None``, allow the folder's
        ``module:attribute`` environment to be imported and called with its ``env_kwargs``
        (without it, or ``env=``, such a folder is refused before anything is imported or
        written: a run folder is data). gymnax and suite ids need no trust.

    Returns:
      :class:`~ppo_jax.io.rundir.RunResult`; its ``status`` says whether the run finished,
      paused (``stop_after``), was interrupted (SIGINT/SIGTERM) or stopped on a non-finite value
      (the last good checkpoint is kept).

    Every input is checked before anything is written; bad values raise ``ValueError`` or
    ``TypeError`` naming the argument.
    """
    say = log or (lambda _: None)
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be a bool, got {resume!r}")
    if not callable(progress):
        resolve_style(progress)
    if tensorboard is not None:
        rundir.check_output_folder(tensorboard, "tensorboard")
    if wandb is not None and (not isinstance(wandb, str) or not wandb):
        raise ValueError(f"wandb must be a project name, got {wandb!r}")
    stop = _check_int("stop_after", stop_after, 1)
    every = _check_int("checkpoint_every", checkpoint_every, 0)
    if stop is not None and every == 0:
        raise ValueError("stop_after pauses at a checkpoint: it needs checkpoint_every >= 1")
    if resume:
        config, seed_values, every, hp = _saved_run(
            out_dir, config, seeds, every, hp, trust_env_module
        )
    elif config is None or seeds is None:
        raise ValueError("config and seeds are needed to start a run")
    else:
        seed_values = drivers.seed_list(seeds)
    extensions = {"network": network, "lr_schedule": lr_schedule, "metrics_fn": metrics_fn}
    plan = drivers.plan_seeds(
        config,
        seed_values,
        hp=hp,
        env=env,
        env_params=env_params,
        shard=shard,
        split_envs=split_envs,
        **extensions,
    )
    _check_memory(plan)
    setup = _make_setup(
        drivers.check_config(config), plan, seed_values, every, stop, hp, env, extensions
    )
    out, lock, ckpt = _claim(setup, out_dir, resume, hp)
    with lock:
        return _train(setup, out, ckpt, tensorboard, wandb, wandb_mode, progress, say)


def _saved_run(
    out_dir: Any, config: Any, seeds: Any, every: int | None, hp: Any, trust: bool
) -> tuple[PPOConfig, list[int], int, Any]:
    """Config, seeds, checkpoint interval and hyperparameters of the run folder to resume;
    what the caller gave must equal what was saved. The config is the caller's when given,
    else the folder's (trusted with its environment only when ``trust``)."""
    if out_dir is None:
        raise ValueError("resume=True needs the run folder to continue (out_dir)")
    saved = rundir.read_run_config(Path(out_dir))
    if saved.kind != "train":
        raise ValueError(f"{str(out_dir)!r} holds a {saved.kind} run, not a train run")
    if config is not None:
        differences = check_config_equal(config, saved.config)
        if differences:
            raise ValueError(f"resume: config differs from the saved one in {differences}")
        saved = saved._replace(config=config)
    saved = saved._replace(config=trusted(saved.config, trust))
    if seeds is not None and drivers.seed_list(seeds) != saved.seeds:
        raise ValueError(f"resume: seeds {seeds} differ from the saved {saved.seeds}")
    if every is not None and every != saved.checkpoint_every:
        raise ValueError(
            f"resume: checkpoint_every={every} differs from the saved {saved.checkpoint_every}"
        )
    return saved.config, saved.seeds, saved.checkpoint_every, hp if hp is not None else saved.hp


def _make_setup(
    config: PPOConfig,
    plan: drivers.Plan,
    seeds: list[int],
    every: int | None,
    stop: int | None,
    hp: Any,
    env: Any,
    extensions: dict[str, Any],
) -> _Setup:
    num_updates = config.num_updates
    if every is None:
        every = max(1, math.ceil(num_updates / CHECKPOINTS_PER_RUN))
    stop_at = num_updates if stop is None else min(num_updates, math.ceil(stop / every) * every)
    hp_record = {k: float(v) for k, v in plan.hp._asdict().items()}
    if hp is None:  # exactly the config's values (not their float32 roundings)
        hp_record = config.hyperparams()._asdict()
    identity = _identity(config, seeds, hp_record, env, **extensions)
    template = drivers.runner_template(plan)
    state_bytes, bound = checkpoint_size(template, len(seeds), num_updates)
    return _Setup(config, plan, seeds, every, stop_at, identity, template, state_bytes, bound)


def checkpoint_size(
    template: Any, rows: int, num_updates: int, extra_metrics: int = 0
) -> tuple[int, int]:
    """``(state bytes, largest payload)`` of a checkpoint of ``rows`` runs whose carried state
    is shaped like ``template``, with ``extra_metrics`` metric rows beyond the built-in ones."""
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(template))
    bound = checkpoint.payload_bound(
        state_bytes, rows, num_updates, NUM_METRICS_BOUND + extra_metrics
    )
    return state_bytes, bound


def newest_state(
    out: Path, template: Callable[[], Any], rows: int, num_updates: int, extra_metrics: int = 0
) -> tuple[Any, checkpoint.Checkpoint] | None:
    """The carried state (shaped like ``template()``, built only when there is a checkpoint)
    and the newest checkpoint of ``out``; ``None`` when it has none."""
    found = sorted((out / rundir.CHECKPOINTS).glob(checkpoint.CHECKPOINT_GLOB))
    if not found:
        return None
    shapes = template()
    _, bound = checkpoint_size(shapes, rows, num_updates, extra_metrics)
    ckpt = checkpoint.load(found[-1], bound)
    return checkpoint.restore(ckpt, shapes, f"checkpoint of {str(out)!r}"), ckpt


def checkpoint_status(ckpt: checkpoint.Checkpoint, num_updates: int) -> tuple[bool, str]:
    """``(completed, status)`` of a run folder whose newest checkpoint is ``ckpt``."""
    completed = ckpt.update == num_updates
    return completed, "finished" if completed else f"paused after update {ckpt.update}"


NUM_METRICS_BOUND = len(METRIC_NAMES) + 64
"""Metrics a checkpoint may hold (built-in ones and room for custom ones)."""


def _claim(
    setup: _Setup, out_dir: Any, resume: bool, hp: Any
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
    _check_disk(_existing_parent(target or Path("runs")), setup)
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


def check_config_equal(given: Any, saved: PPOConfig) -> list[str]:
    """The fields in which ``given`` differs from ``saved`` (empty when equal)."""
    given = drivers.check_config(given)
    a, b = given.to_dict(), saved.to_dict()
    return [f"{k}={a[k]!r} (saved {b[k]!r})" for k in a if a[k] != b[k]]


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _load_checkpoint(out: Path, setup: _Setup) -> checkpoint.Checkpoint:
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
    setup: _Setup,
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


def _train(
    setup: _Setup,
    out: Path,
    ckpt: checkpoint.Checkpoint | None,
    tensorboard: Any,
    wandb: str | None,
    wandb_mode: str | None,
    progress_arg: Any,
    say: Callable[[str], None],
) -> rundir.RunResult:
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
                problem = first_nonfinite(seg, new_runner.train_state.params, start)
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
    result = _result(
        setup, out, runner, metrics, status, compile_s, run_s, 0 if ckpt is None else ckpt.update
    )
    try:
        result = _write_outputs(setup, out, result, runner, last_ckpt, compile_s, run_s)
    except rundir.OutputError as err:
        raise rundir.OutputError(_with_resume_hint(str(err), out, last_ckpt, setup)) from None
    return result._replace(checkpoint=last_ckpt)


def resume_command(kind: str, out: Path | str | None, config: PPOConfig) -> str:
    """The command that continues the ``kind`` run folder ``out`` (with ``--trust-env-module``
    when its config names a ``module:attribute`` environment)."""
    trust = " --trust-env-module" if env_name_kind(config.env_name) == "module" else ""
    return f"ppo-jax {kind} --resume {out}{trust}"


def _with_resume_hint(message: str, out: Path, last_ckpt: Path | None, setup: _Setup) -> str:
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
    out: Path, setup: _Setup, runner: Any, parts: list[dict[str, np.ndarray]], update: int
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


EARLY_FINISH = "finished early: every run reached stop_at_return={}"
"""Status of a session whose runs all stopped at their target return."""
ABSOLUTE_FACTOR = 10
"""The absolute metric re-evaluates each run's best parameters on this many times
``eval_episodes`` episodes (as Stoix and Mava report it)."""
ABSOLUTE_SEED = 2**31 - 7
"""Key of the absolute metric's episodes (apart from the runs' own keys)."""


def evaluation_of(state: Any) -> EvalState | None:
    """The evaluation carry of a session's state (a ``RunnerState``, or PBT's carry holding
    one); ``None`` without evaluation during training."""
    runner = state if isinstance(state, RunnerState) else getattr(state, "runner", None)
    return None if runner is None else runner.evaluation


def all_stopped(state: Any) -> bool:
    """Whether every run of ``state`` stopped at ``stop_at_return``."""
    evaluation = evaluation_of(state)
    return evaluation is not None and bool(np.all(np.asarray(evaluation.stopped)))


def write_best(out: Path, setup: _Setup, state: Any, update: int) -> None:
    """``best/best.msgpack``: every run's best evaluated parameters, their observation
    statistics, return and update (nothing without evaluation during training)."""
    evaluation = evaluation_of(state)
    if evaluation is None:
        return
    evaluation = jax.device_get(evaluation)
    arrays = {
        "params": evaluation.best_params,
        "obs_norm": evaluation.best_obs_norm,
        "best_return": evaluation.best_return,
        "best_update": evaluation.best_update,
    }
    record = checkpoint.Checkpoint(
        config=setup.config.to_dict(),
        identity=setup.identity,
        update=update,
        state=checkpoint.state_arrays(arrays),
        metrics={},
    )
    checkpoint.atomic_write(out / rundir.BEST_FILE, checkpoint.encode(record))


def read_best(out: Path, rows: int) -> dict[str, Any] | None:
    """What :func:`write_best` wrote (``params``, ``obs_norm``, ``best_return``,
    ``best_update``, each with a ``[rows]`` axis), rebuilt from the file's own names (no
    environment, no network); ``None`` when the folder has no such file."""
    path = out / rundir.BEST_FILE
    if not path.is_file():
        return None
    record = checkpoint.load(path)
    source = f"{str(path)!r}"
    params, mean = _stored_policy(record, "['params']", "['obs_norm']", rows, source)
    stats = None
    if mean is not None:
        shapes: Any = jax.ShapeDtypeStruct  # RunningStats of shapes, not arrays
        stats = RunningStats(
            mean=shapes(mean.shape, np.float32),
            var=shapes(mean.shape, np.float32),
            samples=shapes((rows,), np.float32),
        )
    template = {
        "params": params,
        "obs_norm": stats,
        "best_return": jax.ShapeDtypeStruct((rows,), np.float32),
        "best_update": jax.ShapeDtypeStruct((rows,), np.int32),
    }
    return dict(jax.device_get(checkpoint.restore(record, template, source)))


def absolute_metric(setup: _Setup, state: Any) -> dict[str, Any] | None:
    """Each run's best evaluated parameters (from the session's final ``state``) played on
    ``ABSOLUTE_FACTOR * eval_episodes`` episodes, the same episode starts for every run:
    per-run mean returns, their IQM with a 95% CI, and the episode count; ``None`` without
    evaluation during training. A run that never evaluated gets NaN."""
    from ppo_jax.core.evaluate import eval_steps
    from ppo_jax.run.evaluate import PolicyInputs, evaluate_spec

    evaluation = evaluation_of(state)
    if evaluation is None:
        return None
    evaluation = jax.device_get(evaluation)
    config = setup.plan.config
    episodes = ABSOLUTE_FACTOR * config.eval_episodes
    inputs = PolicyInputs(evaluation.best_params, evaluation.best_obs_norm, len(setup.seeds))
    played = evaluate_spec(
        setup.plan.spec,
        setup.plan.env_params,
        inputs,
        jax.random.PRNGKey(ABSOLUTE_SEED),
        episodes,
        config.eval_greedy,
        eval_steps(setup.plan.spec),
    )
    returns = np.asarray(played.returns, np.float64).mean(axis=-1)
    returns = np.where(np.asarray(evaluation.best_update) >= 0, returns, np.nan)
    nan = float("nan")
    iqm, low, high = (
        iqm_with_ci({"runs": returns})["runs"] if np.isfinite(returns).any() else (nan,) * 3
    )
    return {
        "episodes": episodes,
        "returns": [None if not np.isfinite(r) else float(r) for r in returns],
        "best_eval_return": [float(r) for r in np.asarray(evaluation.best_return)],
        "best_eval_update": [int(u) + 1 for u in np.asarray(evaluation.best_update)],
        "iqm": iqm,
        "ci_low": low,
        "ci_high": high,
    }


def _summary_rows(
    setup: _Setup, metrics: dict[str, np.ndarray], compile_s: float, run_s: float, new_updates: int
) -> list[dict[str, Any]]:
    config = setup.plan.config
    if not metrics:
        return []
    final = final_return(metrics)
    threshold = solved_threshold(config.env_name)
    to_solve = steps_to_solve(metrics, threshold) if threshold is not None else None
    # Each run's own steps: a run stopped at stop_at_return took fewer than the others.
    run_steps = np.max(np.asarray(metrics["env_steps"]), axis=-1)
    sps = new_updates * config.batch_size / run_s if run_s > 0 else float("nan")
    return [
        {
            setup.row_label: seed,
            "final_return": float(final[i]),
            "solved": None if threshold is None else bool(final[i] >= threshold),
            "steps_to_solve": None if to_solve is None else int(to_solve[i]),
            "wall_s": compile_s + run_s,
            "run_s": run_s,
            "compile_s": compile_s,
            "env_steps": int(run_steps[i]),
            "env_steps_per_s": sps,
        }
        for i, seed in enumerate(setup.seeds)
    ]


def _result(
    setup: _Setup,
    out: Path,
    runner: Any,
    metrics: dict[str, np.ndarray],
    status: str,
    compile_s: float,
    run_s: float,
    first_update: int,
) -> rundir.RunResult:
    done = metrics["env_steps"].shape[-1] if metrics else 0
    state = jax.device_get(runner.train_state)
    evaluation = evaluation_of(runner)
    best = None if evaluation is None else jax.device_get(evaluation)
    return rundir.RunResult(
        config=setup.config,
        seeds=list(setup.seeds),
        params=state.params,
        metrics=metrics,
        completed=done == setup.plan.config.num_updates or status.startswith("finished"),
        status=status,
        out_dir=out,
        train_state=state,
        summary=_summary_rows(setup, metrics, compile_s, run_s, done - first_update),
        best_params=None if best is None else best.best_params,
        best_obs_norm=None if best is None else best.best_obs_norm,
    )


def _write_outputs(
    setup: _Setup,
    out: Path,
    result: rundir.RunResult,
    state: Any,
    last_ckpt: Path | None,
    compile_s: float,
    run_s: float,
) -> rundir.RunResult:
    """``best/`` (unless the last checkpoint wrote it already), the metrics files,
    ``results.json`` (with the absolute metric when the run evaluated) and the plots; returns
    ``result`` with the absolute metric in its summary rows."""
    if last_ckpt != checkpoint.checkpoint_path(out, result.updates_done):
        write_best(out, setup, state, result.updates_done)
    absolute = absolute_metric(setup, state) if result.metrics else None
    if absolute is not None:
        rows = [
            {**row, "best_eval_return": b, "best_eval_update": u, "absolute_return": r}
            for row, b, u, r in zip(
                result.summary,
                absolute["best_eval_return"],
                absolute["best_eval_update"],
                absolute["returns"],
                strict=True,
            )
        ]
        result = result._replace(summary=rows)
    config = result.config
    metrics = result.metrics
    threshold = solved_threshold(config.env_name)
    summary = {
        "config": config.to_dict(),
        "seeds": result.seeds,
        "status": result.status,
        "updates_done": result.updates_done,
        "solved_threshold": threshold,
        "runs": result.summary,
        "total_env_steps_per_s": (
            result.summary[0]["env_steps_per_s"] * len(result.seeds) if result.summary else None
        ),
        "compile_s": compile_s,
        "run_s": run_s,
        "device": str(jax.devices()[0]),
        "layout": setup.plan.layout.describe(),
        "jax_version": jax.__version__,
        "last_checkpoint": None if last_ckpt is None else str(last_ckpt),
        "metrics": {k: v.tolist() for k, v in metrics.items()},
    }
    if metrics:
        rundir.write_metrics_csv(
            out / rundir.METRICS_CSV, metrics, [setup.row_label], [[s] for s in result.seeds]
        )
    label = f"{len(result.seeds)} {setup.row_label}(s)"
    if metrics:
        iqm, low, high = iqm_with_ci({"runs": final_return(metrics)})["runs"]
        summary["final_return_iqm"] = {"iqm": iqm, "ci_low": low, "ci_high": high}
        label += f", final IQM {iqm:.4g} [95% CI {low:.4g}, {high:.4g}]"
    if absolute is not None:
        summary["absolute_metric"] = absolute
    rundir.write_json(out / rundir.RESULTS_FILE, summary)
    if metrics:
        curves = [(label, np.asarray(metrics["episode_return"]))]
        write_run_plots(out, config.env_name, metrics, threshold, curves)
    return result


def load_run(out_dir: str | Path, *, trust_env_module: bool = False) -> rundir.RunResult:
    """The results of any run folder ``run_experiment`` or the CLI wrote (train, sweep or
    PBT), from its files: metrics from ``results.json`` (or the newest checkpoint, for a run
    that never finished), parameters from the newest checkpoint (``None`` if there is none).

    Reading builds no environment and imports nothing the folder names: the learner state is
    rebuilt from the checkpoint's own array names (any network), so a folder whose
    environment module is not importable here loads too. The returned ``config`` stays marked
    as read from the folder (:attr:`~ppo_jax.PPOConfig.env_origin`): evaluating it later
    imports a ``module:attribute`` environment only with ``trust_env_module=True`` here (or
    ``env=`` there)."""
    out = Path(out_dir)
    saved = rundir.read_run_config(out)
    saved = saved._replace(config=trusted(saved.config, trust_env_module))
    results_path = out / rundir.RESULTS_FILE
    results = rundir.read_json(results_path, "results") if results_path.is_file() else None
    if saved.kind == "sweep":
        return _load_sweep(out, saved, results)
    if saved.kind == "pbt":
        from ppo_jax.run.pbt import load_pbt

        return load_pbt(out, saved, results)
    config = saved.config if saved.hp is None else saved.config.replace(**saved.hp)
    params = train_state = None
    metrics: dict[str, np.ndarray] = {}
    status, completed = "finished", False
    loaded = newest_learner(out, ".train_state", len(saved.seeds))
    if loaded is not None:
        train_state, ckpt = loaded
        params = train_state.params
        metrics = check_metrics(ckpt.metrics, len(saved.seeds), f"checkpoint of {str(out)!r}")
        completed, status = checkpoint_status(ckpt, config.num_updates)
    best = read_best(out, len(saved.seeds)) or {}
    return with_results(
        rundir.RunResult(
            config=config,
            seeds=saved.seeds,
            params=params,
            metrics=metrics,
            completed=completed,
            status=status,
            out_dir=out,
            train_state=train_state,
            best_params=best.get("params"),
            best_obs_norm=best.get("obs_norm"),
        ),
        results,
    )


def _stored_policy(
    ckpt: checkpoint.Checkpoint, params_at: str, obs_norm_at: str, rows: int, source: str
) -> tuple[Any, Any]:
    """The shapes of the parameter dict stored under ``params_at`` and the stored
    observation-statistics mean under ``obs_norm_at`` (``None`` without), each with a
    ``[rows]`` leading axis (``ValueError`` otherwise)."""
    params = checkpoint.stored_dict(ckpt, params_at, source)
    mean = ckpt.state.get(obs_norm_at + ".mean")
    stored = [*jax.tree.leaves(params), *([] if mean is None else [mean])]
    if any(len(x.shape) < 1 or x.shape[0] != rows for x in stored):
        raise ValueError(f"{source}: its arrays do not have the run folder's {rows} rows")
    return params, mean


def newest_learner(out: Path, prefix: str, rows: int) -> tuple[Any, checkpoint.Checkpoint] | None:
    """The ``[rows]`` learner state (:class:`~ppo_jax.core.types.TrainState`, numpy leaves)
    stored under the path name ``prefix`` in the newest checkpoint of ``out``, and that
    checkpoint; ``None`` when there is none. Its shapes come from the checkpoint's own arrays
    (parameters, observation statistics), so no environment or network is built; every array
    of the learner must be there with a ``[rows]`` leading axis."""
    found = sorted((out / rundir.CHECKPOINTS).glob(checkpoint.CHECKPOINT_GLOB))
    if not found:
        return None
    ckpt = checkpoint.load(found[-1])
    source = f"checkpoint {str(found[-1])!r}"
    params, mean = _stored_policy(ckpt, prefix + ".params", prefix + ".obs_norm", rows, source)
    one_run = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), params)
    template = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((rows, *x.shape), x.dtype),
        train_state_shapes(one_run, None if mean is None else tuple(mean.shape[1:])),
    )
    state = checkpoint.restore(ckpt, template, source, prefix)
    return jax.device_get(state), ckpt


def with_results(run: rundir.RunResult, results: Any) -> rundir.RunResult:
    """``run`` with the metrics, status and summary of its folder's ``results.json`` document
    (``results``; ``None`` when the run never finished: ``run`` as it is)."""
    if not isinstance(results, dict):
        return run
    path = Path(run.out_dir or ".") / rundir.RESULTS_FILE
    done, runs = results.get("updates_done", 0), results.get("runs", [])
    if isinstance(done, bool) or not isinstance(done, int) or not isinstance(runs, list):
        raise ValueError(f"{str(path)!r}: 'updates_done' must be an int and 'runs' a list")
    status = str(results.get("status", run.status))[:200]
    return run._replace(
        metrics=_metrics_from_json(results.get("metrics"), len(run.seeds), path),
        status=status,
        completed=done == run.config.num_updates or status.startswith("finished"),
        summary=[r for r in runs if isinstance(r, dict)],
    )


def _metrics_from_json(raw: Any, rows: int, path: Path) -> dict[str, np.ndarray]:
    if not isinstance(raw, dict):
        raise ValueError(f"{str(path)!r}: 'metrics' must be an object of name -> [rows][updates]")
    out = {}
    for name, values in raw.items():
        try:
            arr = np.asarray(
                [[np.nan if v is None else v for v in row] for row in values], np.float64
            )
        except (TypeError, ValueError, OverflowError):
            arr = np.zeros((0,))
        if arr.ndim != 2 or arr.shape[0] != rows:
            raise ValueError(f"{str(path)!r}: metric {name!r} is not [{rows} rows, updates]")
        out[name] = arr
    return check_metrics(out, rows, str(path))


def check_metrics(metrics: dict[str, np.ndarray], rows: int, where: str) -> dict[str, np.ndarray]:
    """``metrics`` as read from a run folder, checked: every array ``[rows, updates]`` with
    one ``updates`` for all, ``episode_return`` and ``env_steps`` among them (when there are
    any); ``ValueError`` naming ``where`` otherwise."""
    shapes = {tuple(np.shape(v)) for v in metrics.values()}
    if metrics and (
        len(shapes) != 1
        or len(next(iter(shapes))) != 2
        or next(iter(shapes))[0] != rows
        or not {"episode_return", "env_steps"} <= set(metrics)
    ):
        raise ValueError(
            f"{where}: its metrics must be [{rows} rows, updates] arrays of one length, "
            "episode_return and env_steps among them"
        )
    return metrics


def _load_sweep(out: Path, saved: rundir.RunConfig, results: Any) -> rundir.RunResult:
    """A sweep folder as rows of (setting, seed): metrics from ``metrics.csv``."""
    settings = saved.settings or []
    groups = rundir.read_metrics_csv(out / rundir.METRICS_CSV)
    indices = [g[0] if len(g) == 1 and g[0].isascii() and g[0].isdigit() else "" for g in groups]
    if not all(i and int(i) < len(settings) for i in indices):
        raise ValueError(
            f"{str(out / rundir.METRICS_CSV)!r}: its 'setting' column must index the "
            f"{len(settings)} settings of config.json"
        )
    keys = sorted(groups, key=lambda g: int(g[0]))
    metrics = {
        name: np.concatenate([groups[g][name] for g in keys], axis=0) for name in groups[keys[0]]
    }
    seeds = [s for _ in keys for s in saved.seeds]
    row_settings = [settings[int(g[0])] for g in keys for _ in saved.seeds]
    return rundir.RunResult(
        config=saved.config,
        seeds=seeds,
        params=None,
        metrics=metrics,
        completed=isinstance(results, dict),
        status="finished" if isinstance(results, dict) else "incomplete",
        out_dir=out,
        kind="sweep",
        settings=row_settings,
    )


def replot(run_dir: Path) -> list[Path]:
    """Write the plots of a run folder again from its files; returns the files written."""
    from ppo_jax.io.plotting import learning_curves, save_figure, update_steps
    from ppo_jax.run.sweep import MAX_PLOTTED, setting_label

    run = load_run(run_dir)
    if not run.metrics:
        raise ValueError(f"{str(run_dir)!r} holds no metrics yet: nothing to plot")
    threshold = solved_threshold(run.config.env_name)
    if run.kind == "pbt":
        from ppo_jax.run.pbt import write_pbt_plots

        written = write_run_plots(Path(run_dir), run.config.env_name, run.metrics, threshold)
        return [*written, write_pbt_plots(Path(run_dir), run)]
    if run.kind != "sweep" or not run.settings:
        return write_run_plots(Path(run_dir), run.config.env_name, run.metrics, threshold)
    labels = list(dict.fromkeys(setting_label(s) for s in run.settings))[:MAX_PLOTTED]
    per_label = [np.asarray([setting_label(s) == label for s in run.settings]) for label in labels]
    fig = learning_curves(
        update_steps(run.metrics),
        [run.metrics["episode_return"][rows] for rows in per_label],
        labels,
        f"{run.config.env_name}: sweep",
        threshold,
    )
    save_figure(fig, Path(run_dir) / rundir.LEARNING_CURVES)
    return [Path(run_dir) / rundir.LEARNING_CURVES]
