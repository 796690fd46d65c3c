"""The one experiment pipeline: plan -> compile -> update loop -> run folder, for every kind.

``ppo-jax train``, ``ppo-jax sweep`` and ``ppo-jax pbt`` (and :func:`run_experiment`,
:func:`ppo_jax.run.sweep.run_sweep_experiment`, :func:`ppo_jax.run.pbt.run_pbt_experiment`)
all run here. A kind of experiment is an :class:`Experiment` value, built and checked before
anything is written: the plan of its runs, the label of each metric row, the identity a resume
must match, what ``config.json`` records, the shapes of the state it carries, and three
functions (a fresh state, a compiled segment of updates, the kind's own outputs). :func:`run`
then does the same for every kind:

1. **claim** the run folder (a new one, whose ``config.json`` is its first write; or, with
   ``resume``, the locked folder and its newest checkpoint, checked against the experiment);
2. **compile** a segment of updates once (checkpoints and progress reports fall on segment
   boundaries; consecutive segments replay one long segment bit for bit, so a resumed run
   equals an uninterrupted one);
3. **loop** over small named steps: run a segment, check it is finite, save a checkpoint,
   append the metric rows to the sinks (``metrics.jsonl``, TensorBoard, W&B: one series per
   row), report progress, honour a stop request (``stop_after``, SIGINT/SIGTERM, every run at
   ``stop_at_return``);
4. **write** the outputs: ``metrics.csv``, ``results.json``, the plots, the best evaluated
   parameters and the absolute metric, and the kind's own files.

Everything a run folder holds is written through :mod:`ppo_jax.io.rundir` and read back by
:mod:`ppo_jax.io.runload`.
"""

from __future__ import annotations

import math
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

import jax
import numpy as np

from ppo_jax.core.config import INT32_MAX, PPOConfig
from ppo_jax.core.envkwargs import needs_trust
from ppo_jax.core.envs import trusted
from ppo_jax.core.episodes import eval_steps
from ppo_jax.core.spec import PROBLEM_PARTS, Problem, ProblemKeywords, problem_of
from ppo_jax.core.types import METRIC_NAMES, EvalState, RunnerState
from ppo_jax.io import checkpoint, rundir
from ppo_jax.io.console import ProgressPrinter, report_every, resolve_style
from ppo_jax.io.plotting import write_run_plots
from ppo_jax.io.runload import (
    checkpoint_size,
    load_run,
    newest_checkpoint,
    read_newest_checkpoint,
)
from ppo_jax.io.sinks import TensorBoardWriter, WandbWriter, metrics_rows
from ppo_jax.io.stats import (
    SOLVED_DEFINITION,
    final_return,
    format_interval,
    iqm_interval,
    solved_threshold,
    steps_to_solve,
    trained_updates,
)
from ppo_jax.run import parallel, programs, progress
from ppo_jax.run import plan as planning
from ppo_jax.run.evaluate import PolicyInputs, evaluate_spec

if TYPE_CHECKING:
    from typing import Unpack

CHECKPOINTS_PER_RUN = 10
"""Default number of checkpoints over a run (``checkpoint_every=None``)."""
NONFINITE_METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "grad_norm")
"""Metrics checked for NaN/inf after every segment of updates."""
EARLY_FINISH = "finished early: every run stopped at an evaluation reaching stop_at_return={}"
"""Status of an experiment whose runs all stopped at their target return (the table's
``stopped`` column counts them)."""
ABSOLUTE_FACTOR = 10
"""The absolute metric re-evaluates each run's best parameters on this many times
``eval_episodes`` episodes (as Stoix and Mava report it)."""
ABSOLUTE_SEED = 2**31 - 7
"""Key of the absolute metric's episodes (apart from the runs' own keys)."""
TEXT_BYTES_PER_VALUE = 80
"""Disk bytes one metric value may take across metrics.csv, metrics.jsonl and results.json
(measured: about 65 with the per-seed returns of the JSON lines)."""
PLOT_BYTES = 2**20

CURVES = "learning_curves"
"""Key of the curves an experiment's ``outputs`` may return for ``learning_curves.png``
(``[(label, returns [rows, updates])]``; not written to ``results.json``)."""

SegmentFn = programs.SegmentFn


# --------------------------------------------------------------------------- the kinds
class Experiment(NamedTuple):
    """One checked experiment of any kind (train, sweep, PBT): everything :func:`run` needs.

    Built by :func:`train_experiment`, :func:`ppo_jax.run.sweep.sweep_experiment` and
    :func:`ppo_jax.run.pbt.pbt_experiment`; nothing is compiled or written yet.
    """

    kind: str
    """``"train"``, ``"sweep"`` or ``"pbt"``: the command that resumes the folder."""
    config: PPOConfig
    """The config as given (traced fields included); ``plan.config`` is its static part."""
    plan: planning.Plan
    """The runs' plan (a chunked sweep: its first chunk's)."""
    rows: Sequence[tuple[int, ...]]
    """The label of each metric row ``[R]``: ``(seed,)``, ``(setting, seed)`` or ``(member,)``."""
    row_names: tuple[str, ...]
    """What the labels are: ``("seed",)``, ``("setting", "seed")`` or ``("member",)``."""
    record: rundir.RunConfig
    """What ``config.json`` records (its ``identity`` entry is what a resume must match)."""
    template: Any
    """Shapes of the state a segment carries (a ``RunnerState`` ``[R]``, or PBT's carry)."""
    init: Callable[[], Any]
    """A fresh carried state."""
    compile: Callable[[Any, int, int], SegmentFn]
    """``compile(state, length, first)``: the segment function of ``length`` updates whose
    ranges start at ``first`` (the first update of this session)."""
    unit: int = 1
    """Segments are whole multiples of this many updates (PBT: its interval)."""
    extra_metrics: int = 0
    """Metric rows beyond the built-in ones a checkpoint may hold (PBT's ``hp/`` columns)."""
    settings: list[dict[str, float]] | None = None
    """The hyperparameters of each row (sweeps; PBT: each member's first), or ``None``."""
    outputs: Callable[[Path, rundir.RunResult], dict[str, Any]] | None = None
    """The kind's own outputs (a sweep's ranking and ``sweep.csv``; PBT's hyperparameter
    plot): returns extra ``results.json`` entries, and under :data:`CURVES` the curves of
    ``learning_curves.png`` (default: one, over every row)."""
    saved_state: Callable[[Any], Any] | None = None
    """The part of the carried state a checkpoint holds (default: all of it)."""
    restored_state: Callable[[Any], Any] | None = None
    """The carried state from what a checkpoint held (the inverse of ``saved_state``)."""
    saved_template: Any = None
    """Shapes of what a checkpoint holds (default: ``template``)."""
    writer: bool = True
    """Whether this process writes (the other processes of a multi-process sweep run the same
    loop and write nothing)."""

    @property
    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = self.record.extra["identity"]
        return identity

    @property
    def num_rows(self) -> int:
        return len(self.rows)

    @property
    def checkpoint_template(self) -> Any:
        return self.template if self.saved_template is None else self.saved_template


def describe(obj: Any) -> str | None:
    """A stable name of an extension object (recorded so a resume can check it)."""
    if obj is None:
        return None
    if hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    return repr(obj)[:500]


def run_identity(kind: str, config: PPOConfig, rows: Any, hp: Any, problem: Problem) -> dict:
    """The identity of a run (kind, rows, hyperparameters, environment and the extension
    objects by name): recorded in ``config.json`` and every checkpoint, so that a resume with
    anything else is refused naming the field."""
    env = problem.env
    return {
        "kind": kind,
        "seeds": list(rows),
        "hp": hp,
        "env": config.env_name if env is None else "object " + str(describe(type(env))),
        "network": describe(type(problem.network)) if problem.network is not None else None,
        "lr_schedule": describe(problem.lr_schedule),
        "metrics_fn": describe(problem.metrics_fn),
    }


def train_experiment(
    config: PPOConfig,
    seeds: list[int],
    *,
    hp: Any = None,
    problem: Problem | None = None,
    shard: bool | str = "auto",
    split_envs: bool = False,
    checkpoint_every: int | None = None,
) -> Experiment:
    """The :class:`Experiment` of ``seeds`` runs of ``config`` (a ``ppo-jax train`` run):
    planned, its device memory checked, nothing compiled."""
    problem = problem or Problem()
    plan = planning.plan_seeds(
        config, seeds, hp=hp, problem=problem, shard=shard, split_envs=split_envs
    )
    planning.check_memory(plan)
    config = planning.check_config(config)
    hp_record = {k: float(v) for k, v in plan.hp._asdict().items()}
    if hp is None:  # exactly the config's values (not their float32 roundings)
        hp_record = config.hyperparams()._asdict()
    identity = run_identity("train", config, seeds, hp_record, problem)
    every = default_checkpoint_every(config.num_updates, checkpoint_every)
    record = rundir.RunConfig(
        "train",
        config,
        list(seeds),
        every,
        None if hp is None else hp_record,
        extra={"identity": identity},
    )
    return Experiment(
        kind="train",
        config=config,
        plan=plan,
        rows=[(s,) for s in seeds],
        row_names=("seed",),
        record=record,
        template=programs.runner_template(plan),
        init=lambda: programs.init_runs(plan),
        compile=lambda state, length, first: programs.compile_segments(plan, state, length, first),
    )


def default_checkpoint_every(num_updates: int, every: int | None, unit: int = 1) -> int:
    """Updates between checkpoints: ``every`` as given (0: none), else about
    ``CHECKPOINTS_PER_RUN`` per run, a multiple of ``unit``."""
    if every is not None:
        return every
    if unit > 1:
        return min(unit * max(1, round(num_updates / CHECKPOINTS_PER_RUN / unit)), num_updates)
    return max(1, math.ceil(num_updates / CHECKPOINTS_PER_RUN))


# --------------------------------------------------------------------------- options
class SessionKeywords(TypedDict, total=False):
    """How :func:`run` runs an experiment and where it logs (keyword arguments of
    :func:`run_experiment` and the other experiment functions)."""

    resume: bool
    stop_after: int | None
    checkpoint_every: int | None
    tensorboard: str | Path | None
    wandb: str | None
    wandb_mode: str | None
    progress: Any
    log: Callable[[str], None] | None
    trust_env_module: bool


class ExperimentKeywords(ProblemKeywords, SessionKeywords, total=False):
    """The keyword arguments every experiment function takes: the problem's parts
    (:class:`~ppo_jax.core.spec.ProblemKeywords`) and the session's
    (:class:`SessionKeywords`)."""


class Session(NamedTuple):
    """The checked options of one session of an experiment."""

    resume: bool = False
    stop_after: int | None = None
    checkpoint_every: int | None = None
    tensorboard: str | Path | None = None
    wandb: str | None = None
    wandb_mode: str | None = None
    progress: Any = None
    log: Callable[[str], None] | None = None
    trust_env_module: bool = False

    def say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)


SESSION_OPTIONS = Session._fields
"""The session's keyword arguments (:class:`SessionKeywords`)."""


def check_count(name: str, value: Any, low: int, none_ok: bool = True) -> int | None:
    """``value`` as an int in ``[low, INT32_MAX]`` (``None`` passes when ``none_ok``);
    ``ValueError`` naming ``name`` otherwise (numpy integers are accepted, bools are not)."""
    if value is None and none_ok:
        return None
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= INT32_MAX:
        raise ValueError(f"{name} must be an int in [{low}, {INT32_MAX}], got {value!r}")
    return value


def split_keywords(
    keywords: dict[str, Any], problem: Problem | None = None
) -> tuple[Session, Problem]:
    """The :class:`Session` and the :class:`~ppo_jax.core.spec.Problem` of an experiment
    function's keyword arguments, every value checked (``TypeError`` for an unknown keyword,
    ``ValueError`` for a bad value, naming it)."""
    unknown = sorted(set(keywords) - set(SESSION_OPTIONS) - set(PROBLEM_PARTS))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {unknown}; the session's are "
            f"{list(SESSION_OPTIONS)}, the problem's {list(PROBLEM_PARTS)}"
        )
    session = Session(**{k: v for k, v in keywords.items() if k in SESSION_OPTIONS})
    parts = {k: v for k, v in keywords.items() if k in PROBLEM_PARTS}
    return check_session(session), problem_of(problem, parts)


def check_session(session: Session) -> Session:
    """``session`` with its values checked (``TypeError``/``ValueError`` naming the option)."""
    if not isinstance(session.resume, bool):
        raise TypeError(f"resume must be a bool, got {session.resume!r}")
    if not isinstance(session.trust_env_module, bool):
        raise TypeError(f"trust_env_module must be a bool, got {session.trust_env_module!r}")
    if not callable(session.progress):
        resolve_style(session.progress)
    if session.tensorboard is not None:
        rundir.check_output_folder(session.tensorboard, "tensorboard")
    if session.wandb is not None and (not isinstance(session.wandb, str) or not session.wandb):
        raise ValueError(f"wandb must be a project name, got {session.wandb!r}")
    if session.wandb_mode not in (None, "online", "offline", "disabled"):
        raise ValueError(
            f"wandb_mode must be 'online', 'offline' or 'disabled', got {session.wandb_mode!r}"
        )
    stop = check_count("stop_after", session.stop_after, 1)
    every = check_count("checkpoint_every", session.checkpoint_every, 0)
    if stop is not None and every == 0:
        raise ValueError("stop_after pauses at a checkpoint: it needs checkpoint_every >= 1")
    if session.log is not None and not callable(session.log):
        raise TypeError(f"log must be a callable receiving one line, got {session.log!r}")
    return session._replace(stop_after=stop, checkpoint_every=every)


# --------------------------------------------------------------------------- train
def run_experiment(
    config: PPOConfig | None,
    seeds: int | list[int] | None,
    out_dir: str | Path | None,
    *,
    hp: Any = None,
    problem: Problem | None = None,
    shard: bool | str = "auto",
    split_envs: bool = False,
    **keywords: Unpack[ExperimentKeywords],
) -> rundir.RunResult:
    """Train ``seeds`` with ``config`` into the run folder ``out_dir``, checkpointed and logged.

    Args:
      config, seeds: what to train (``seeds``: a count or a list). With ``resume=True`` both
        may be ``None`` (taken from the folder); if given they must equal the saved ones.
      out_dir: a new (or empty) folder; ``None`` makes ``runs/ENV-TIMESTAMP``. The folder is
        claimed atomically: a second process writing the same folder is refused.
      hp: traced hyperparameters (``Hyperparams`` or a dict), default the config's.
      problem: a :class:`~ppo_jax.Problem`, or its parts as keywords (``env``,
        ``env_params``, ``network``, ``lr_schedule``, ``metrics_fn``), as for
        :func:`ppo_jax.train_seeds` (objects that are not named by ``config.env_name`` must be
        given again to resume).
      shard, split_envs: the device layout, as for :func:`ppo_jax.train_seeds`.
      **keywords: the problem's parts and the session's options:
        ``resume`` (continue ``out_dir`` from its newest checkpoint, bit-identical to a run
        that was never interrupted); ``stop_after`` (pause at the first checkpoint at or after
        this many updates); ``checkpoint_every`` (updates between checkpoints; default 10% of
        the run; 0: none); ``tensorboard`` (also write TensorBoard event files to this
        folder); ``wandb``, ``wandb_mode`` (also log to this Weights & Biases project);
        ``progress`` (``"bar"``, ``"lines"``, ``"auto"``, ``None``: silent, or a callable
        receiving each :class:`~ppo_jax.run.progress.ProgressEvent`); ``log`` (receives
        one-line messages; default silent); ``trust_env_module`` (with ``resume=True`` and
        ``config=None``, allow the folder's ``module:attribute`` environment to be imported
        and called with its ``env_kwargs``; without it, or ``env=``, such a folder is refused
        before anything is imported or written: a run folder is data).

    Returns:
      :class:`~ppo_jax.io.rundir.RunResult`; its ``status`` says whether the run finished,
      paused (``stop_after``), was interrupted (SIGINT/SIGTERM) or stopped on a non-finite value
      (the last good checkpoint is kept).

    Every input is checked before anything is written; bad values raise ``ValueError`` or
    ``TypeError`` naming the argument.
    """
    session, problem = split_keywords(dict(keywords), problem)
    every = session.checkpoint_every
    if session.resume:
        saved = saved_run(out_dir, "train", config, session)
        if seeds is not None and planning.seed_list(seeds) != saved.seeds:
            raise ValueError(f"resume: seeds {seeds} differ from the saved {saved.seeds}")
        config, seed_values, every = saved.config, saved.seeds, saved.checkpoint_every
        hp = hp if hp is not None else saved.hp
    elif config is None or seeds is None:
        raise ValueError("config and seeds are needed to start a run")
    else:
        seed_values = planning.seed_list(seeds)
    experiment = train_experiment(
        config,
        seed_values,
        hp=hp,
        problem=problem,
        shard=shard,
        split_envs=split_envs,
        checkpoint_every=every,
    )
    return run(experiment, out_dir, session)


def saved_run(
    out_dir: Any, kind: str, config: PPOConfig | None, session: Session
) -> rundir.RunConfig:
    """What ``config.json`` of the ``kind`` folder ``out_dir`` records, to resume it: its
    config is the caller's when given (it must equal the saved one), else the folder's
    (trusted with its environment only with ``session.trust_env_module``); a given
    ``checkpoint_every`` must equal the saved one."""
    from ppo_jax.io.runload import read_run_config

    if out_dir is None:
        raise ValueError("resume=True needs the run folder to continue (out_dir)")
    saved = read_run_config(Path(out_dir))
    if saved.kind != kind:
        raise ValueError(f"{str(out_dir)!r} holds a {saved.kind} run, not a {kind} run")
    if config is not None:
        differences = check_config_equal(config, saved.config)
        if differences:
            raise ValueError(f"resume: config differs from the saved one in {differences}")
        saved = saved._replace(config=config)
    saved = saved._replace(config=trusted(saved.config, session.trust_env_module))
    every = session.checkpoint_every
    if every is not None and every != saved.checkpoint_every:
        raise ValueError(
            f"resume: checkpoint_every={every} differs from the saved {saved.checkpoint_every}"
        )
    return saved


def check_config_equal(given: Any, saved: PPOConfig) -> list[str]:
    """The fields in which ``given`` differs from ``saved`` (empty when equal)."""
    given = planning.check_config(given)
    a, b = given.to_dict(), saved.to_dict()
    return [f"{k}={a[k]!r} (saved {b[k]!r})" for k in a if a[k] != b[k]]


# --------------------------------------------------------------------------- the pipeline
class _Loop(NamedTuple):
    """The fixed quantities of one session's loop."""

    checkpoint_every: int
    stop_at: int
    """The update after which this session stops (``stop_after`` rounded up to a checkpoint)."""
    state_bytes: int
    max_checkpoint_bytes: int


def run(experiment: Experiment, out_dir: Any, session: Session) -> rundir.RunResult:
    """Run ``experiment`` in the run folder ``out_dir`` until it finishes, pauses at
    ``session.stop_after``, is interrupted (SIGINT/SIGTERM, with a checkpoint), stops on a
    non-finite value, or every run reached ``stop_at_return``; then write the outputs.

    Returns the :class:`~ppo_jax.io.rundir.RunResult` (rows ``[R]``: the experiment's rows)
    with its ``status`` and newest ``checkpoint``."""
    loop = _loop_settings(experiment, session)
    if not experiment.writer:
        ckpt = _load_checkpoint(Path(out_dir), experiment, loop) if session.resume else None
        return _session(experiment, None, ckpt, loop, session)
    out, lock, ckpt = claim_folder(experiment, out_dir, session.resume, loop)
    with lock:
        return _session(experiment, out, ckpt, loop, session)


def _loop_settings(experiment: Experiment, session: Session) -> _Loop:
    num_updates = experiment.plan.config.num_updates
    every = experiment.record.checkpoint_every
    if every and experiment.unit > 1 and every % experiment.unit and every != num_updates:
        raise ValueError(
            f"checkpoint_every={every} must be a multiple of interval={experiment.unit} (or 0)"
        )
    stop = session.stop_after
    stop_at = num_updates if stop is None else min(num_updates, math.ceil(stop / every) * every)
    state_bytes, bound = checkpoint_size(
        experiment.checkpoint_template, experiment.num_rows, num_updates, experiment.extra_metrics
    )
    return _Loop(every, stop_at, state_bytes, bound)


def claim_folder(
    experiment: Experiment, out_dir: Any, resume: bool, loop: _Loop
) -> tuple[Path, rundir.FolderLock, checkpoint.Checkpoint | None]:
    """Lock the folder to continue (and read its checkpoint), or claim a new one and write
    ``config.json``: the first writes of a session, after every check."""
    if resume:
        out = Path(out_dir)
        lock = rundir.claim_existing_folder(out)
        try:
            return out, lock, _load_checkpoint(out, experiment, loop)
        except BaseException:
            lock.release()
            raise
    config = experiment.config
    target = None if out_dir is None else Path(out_dir)
    if target is not None:
        rundir.check_new_folder(target)
    check_disk(_existing_parent(target or Path("runs")), experiment, loop)
    prefix = "" if experiment.kind == "train" else f"{experiment.kind}-"
    default = prefix + config.env_name.replace(":", "-").replace("/", "-")
    out, lock = rundir.claim_new_folder(target, default)
    try:
        rundir.write_run_config(out, experiment.record)
    except BaseException:
        lock.release()
        raise
    return out, lock, None


def check_disk(out: Path, experiment: Experiment, loop: _Loop) -> None:
    """Refuse to start when the folder's disk cannot hold the checkpoints, metrics and plots."""
    config = experiment.plan.config
    values = experiment.num_rows * config.num_updates * (len(METRIC_NAMES) + 8)
    per_checkpoint = loop.state_bytes + 4 * values + 2**16
    saves = checkpoint.KEEP_CHECKPOINTS + 1 if loop.checkpoint_every else 0
    need = saves * per_checkpoint + TEXT_BYTES_PER_VALUE * values + 2 * PLOT_BYTES
    free = shutil.disk_usage(out).free
    if free < need:
        raise ValueError(
            f"{str(out)!r}: {free / 2**20:.1f} MiB free, the run needs about "
            f"{need / 2**20:.1f} MiB for checkpoints and metrics"
        )


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    return [
        f"{k}: {str(got.get(k))[:80]} (this run: {str(want.get(k))[:80]})"
        for k in sorted(set(want) | set(got))
        if want.get(k) != got.get(k)
    ]


def _load_checkpoint(out: Path, experiment: Experiment, loop: _Loop) -> checkpoint.Checkpoint:
    """The newest checkpoint of ``out``, checked against this experiment (config, rows, every
    identity field, every array's name, shape and dtype)."""
    ckpt = read_newest_checkpoint(out, loop.max_checkpoint_bytes)
    config = experiment.config
    where = f"resume {str(out)!r}"
    if ckpt.config != config.to_dict():
        raise ValueError(f"{where}: the checkpoint's config and config.json disagree")
    problems = _differences(experiment.identity, ckpt.identity)
    if problems:
        raise ValueError(f"{where}: the checkpoint belongs to another run: " + "; ".join(problems))
    if not 1 <= ckpt.update <= config.num_updates:
        raise ValueError(f"{where}: the checkpoint's update {ckpt.update} does not fit this run")
    for name, values in ckpt.metrics.items():
        if values.shape != (experiment.num_rows, ckpt.update):
            raise ValueError(
                f"{where}: checkpoint metric {name!r} is {list(values.shape)}, expected "
                f"[{experiment.num_rows}, {ckpt.update}]"
            )
    checkpoint.restore(ckpt, experiment.checkpoint_template, f"{where}: checkpoint")
    return ckpt


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
    metrics: dict[str, np.ndarray],
    params: Any,
    first_update: int,
    steps_before: Any = None,
    labels: Sequence[str] | None = None,
) -> str | None:
    """A message naming the first non-finite metric (update, row: its ``labels`` entry, else
    its index) or parameter, else None.

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
            where = f"seed index {row}" if labels is None else labels[int(row)].replace("_", " ")
            return f"non-finite {name} at update {first_update + int(u) + 1} ({where})"
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if not np.all(np.isfinite(np.asarray(leaf))):
            return f"non-finite parameter {jax.tree_util.keystr(path)} after update {first_update}"
    return None


def segment_length(checkpoint_every: int, report: int, num_updates: int, unit: int = 1) -> int:
    """Updates per compiled segment: checkpoints and progress reports both fall on segment
    boundaries (consecutive segments replay the whole run bit for bit); a multiple of ``unit``
    (``checkpoint_every`` must be one too, unless it is the whole run)."""
    every = checkpoint_every or num_updates
    if unit > 1:
        units = max(1, every // unit)
        return unit * (math.gcd(units, max(1, report // unit)) if report else units)
    return max(1, math.gcd(every, report) if report else every)


def row_labels(experiment: Experiment) -> list[str]:
    """One series name per row for the sinks: ``seed_3``, ``setting_1/seed_3``, ``member_2``."""
    return [
        "/".join(f"{n}_{v}" for n, v in zip(experiment.row_names, r, strict=True))
        for r in experiment.rows
    ]


def row_groups(experiment: Experiment) -> list[str]:
    """The group of each row whose metrics the sinks average (``""``: one group, a sweep's
    ``setting_i``)."""
    if experiment.row_names[0] == "setting":
        return [f"setting_{r[0]}" for r in experiment.rows]
    return ["" for _ in experiment.rows]


def _open_sinks(
    out: Path | None, experiment: Experiment, ckpt: checkpoint.Checkpoint | None, session: Session
) -> list[Any]:
    """Metric writers. On resume ``metrics.jsonl`` is first rewritten to end exactly at the
    checkpoint, and TensorBoard hides what an interrupted session wrote after it."""
    if out is None:
        return []
    labels, groups = row_labels(experiment), row_groups(experiment)
    start_step = 0
    if ckpt is not None:
        rows = metrics_rows(ckpt.metrics, labels, groups) if ckpt.update else iter(())
        rundir.rewrite_jsonl(out, rows)
        start_step = ckpt.update * experiment.plan.config.batch_size
    sinks: list[Any] = [rundir.open_jsonl(out)]
    if session.tensorboard is not None:
        purge = start_step + 1 if ckpt else None
        sinks.append(TensorBoardWriter(session.tensorboard, purge_step=purge))
    if session.wandb is not None:
        sinks.append(
            WandbWriter(
                session.wandb,
                out,
                experiment.config.to_dict(),
                name=out.name,
                mode=session.wandb_mode,
            )
        )
    return sinks


class _Progress(NamedTuple):
    """Where a session's loop stands: its carried state and what it has done."""

    state: Any
    start: int
    """Updates done."""
    parts: list[dict[str, np.ndarray]]
    """The metrics of the updates done (``[R, n]`` arrays per part)."""
    run_s: float
    status: str
    last_ckpt: Path | None


def _session(
    experiment: Experiment,
    out: Path | None,
    ckpt: checkpoint.Checkpoint | None,
    loop: _Loop,
    session: Session,
) -> rundir.RunResult:
    """One session (see :func:`run`): restore or start, compile, loop, write the outputs."""
    config = experiment.plan.config
    say = session.say if experiment.writer else _silent
    start = 0 if ckpt is None else ckpt.update
    _announce(experiment, out, start, say)
    restored = _restored(experiment, ckpt)
    finished = ckpt is not None and (ckpt.update >= config.num_updates or all_stopped(restored))
    if ckpt is not None and out is not None and finished:
        newest = newest_checkpoint(out)
        say(f"  already finished at update {ckpt.update}; newest checkpoint {newest}")
        if not (out / rundir.RESULTS_FILE).is_file():  # killed while writing its outputs
            say("  writing the outputs the last session did not finish")
            timing = (0.0, 0.0, 0)
            early = all_stopped(restored) and ckpt.update < config.num_updates
            status = EARLY_FINISH.format(config.stop_at_return) if early else "finished"
            result = session_result(experiment, out, restored, ckpt.metrics, status, timing)
            write_outputs(experiment, out, result, restored, newest, timing)
        trust = experiment.config.env_origin is None  # as trusted as the given config
        return load_run(out, trust_env_module=trust)._replace(checkpoint=newest)
    style = "none" if callable(session.progress) else resolve_style(session.progress)
    if not experiment.writer and style != "none":
        style = "lines"  # every process runs the same segments; only the writer prints
    report = report_every(config.num_updates, "lines" if callable(session.progress) else style)
    length = segment_length(loop.checkpoint_every, report, config.num_updates, experiment.unit)
    t0 = time.perf_counter()
    state = (
        experiment.init()
        if restored is None
        else programs.restart_episodes(
            experiment.plan,
            restored,  # EnvPool: fresh episodes
        )
    )
    segment = experiment.compile(state, length, start)
    compile_s = time.perf_counter() - t0
    say(f"  compiled in {compile_s:.1f}s")
    first = _Progress(
        state,
        start,
        [] if ckpt is None or not ckpt.update else [ckpt.metrics],
        0.0,
        "finished",
        None if ckpt is None or out is None else newest_checkpoint(out),
    )
    done = _loop(experiment, out, ckpt, loop, session, segment, first, style)
    timing = (compile_s, done.run_s, done.start - start)
    state = parallel.to_host(done.state)  # every process: a collective
    result = session_result(experiment, out, state, _merge(done.parts), done.status, timing)
    if out is None:
        return result
    try:
        result = write_outputs(experiment, out, result, state, done.last_ckpt, timing)
    except rundir.OutputError as err:
        hint = _with_resume_hint(str(err), out, done.last_ckpt, experiment)
        raise rundir.OutputError(hint) from None
    return result._replace(checkpoint=done.last_ckpt)


def _silent(_: str) -> None:
    return None


def _announce(experiment: Experiment, out: Path | None, start: int, say: Any) -> None:
    config, plan = experiment.plan.config, experiment.plan
    verb = "starting" if not start else f"resuming at update {start}"
    say(
        f"ppo-jax {experiment.kind}: {config.env_name}, {_rows_text(experiment)}, "
        f"{config.env_steps:,} env steps each ({config.num_updates} updates of "
        f"{config.num_envs} envs x {config.num_steps} steps), {plan.layout.describe()} "
        f"({jax.devices()[0].platform}); {verb}"
    )
    say(f"  output folder: {out}")


def _restored(experiment: Experiment, ckpt: checkpoint.Checkpoint | None) -> Any:
    """The carried state a checkpoint holds (``None`` without one)."""
    if ckpt is None:
        return None
    restored = checkpoint.restore(ckpt, experiment.checkpoint_template)
    if experiment.restored_state is not None:
        restored = experiment.restored_state(restored)
    return restored


def _loop(
    experiment: Experiment,
    out: Path | None,
    ckpt: checkpoint.Checkpoint | None,
    loop: _Loop,
    session: Session,
    segment: SegmentFn,
    done: _Progress,
    style: str,
) -> _Progress:
    """Run segments until the session stops; each segment is checked, checkpointed, logged,
    reported (see :func:`run`)."""
    config = experiment.plan.config
    say = session.say if experiment.writer else _silent
    listener = session.progress if callable(session.progress) else None
    sinks = _open_sinks(out, experiment, ckpt, session)
    labels, groups = row_labels(experiment), row_groups(experiment)
    printer = ProgressPrinter(
        experiment.num_rows,
        config.num_updates,
        style if experiment.writer else "none",
        "runs" if experiment.kind == "sweep" else "seeds",
        steps_done=done.start * config.batch_size,
    )
    try:
        with StopRequests(say) as stops, progress.listen(listener or printer):
            while done.start < loop.stop_at:
                done = _step(experiment, out, loop, segment, done, lambda: bool(stops.signal_name))
                if done.status.startswith("stopped:"):
                    break
                for step, values in metrics_rows(done.parts[-1], labels, groups):
                    for sink in sinks:  # after the checkpoint
                        sink.add_scalars(step, values)
                if stops.signal_name is not None:
                    done = done._replace(status=f"interrupted ({stops.signal_name})")
                    break
                if done.status == "stopped":  # every run at its stop_at_return
                    done = done._replace(status=EARLY_FINISH.format(config.stop_at_return))
                    break
            if done.status == "finished" and done.start < config.num_updates:
                done = done._replace(status=f"paused after update {done.start} (stop_after)")
    except rundir.OutputError as err:
        hint = _with_resume_hint(str(err), out, done.last_ckpt, experiment)
        raise rundir.OutputError(hint) from None
    finally:
        printer.close()
        for sink in sinks:
            sink.close()
    return done


def _step(
    experiment: Experiment,
    out: Path | None,
    loop: _Loop,
    segment: SegmentFn,
    done: _Progress,
    stop_requested: Callable[[], bool],
) -> _Progress:
    """One segment: run it, check it is finite (else the status says what and where, and the
    state stays the last good one), report progress, save a checkpoint when one is due.

    Every process of a multi-process experiment runs the same steps: what they fetch from the
    devices (the metrics, the parameters, the state of a checkpoint) is gathered by all of
    them, and only the writer writes."""
    config = experiment.plan.config
    t1 = time.perf_counter()
    new_state, seg_jax = segment(done.state, done.start)
    jax.block_until_ready(new_state)
    run_s = done.run_s + time.perf_counter() - t1
    fetched = parallel.to_host(seg_jax)  # a dict comes back with sorted keys: keep the order
    seg = {k: np.asarray(fetched[k])[: experiment.num_rows] for k in seg_jax}
    params = parallel.to_host(train_state_of(new_state).params)
    before = _steps_before(done, experiment.num_rows)
    problem = first_nonfinite(seg, params, done.start, before, row_labels(experiment))
    if problem is not None:
        return done._replace(run_s=run_s, status=f"stopped: {problem}")
    start = done.start + seg["env_steps"].shape[-1]
    parts = [*done.parts, seg]
    progress.report(progress.segment_event(seg, start, config.num_updates))
    evaluation = evaluation_of(new_state)  # fetched by every process: a collective
    stopped = evaluation is not None and bool(np.all(parallel.to_host(evaluation.stopped)))
    stopping = stop_requested() or start >= loop.stop_at or stopped
    due = bool(loop.checkpoint_every) and start % loop.checkpoint_every == 0
    last_ckpt = done.last_ckpt
    if loop.checkpoint_every and (due or stopping):
        host = parallel.to_host(new_state)
        if out is not None:
            last_ckpt = _save(out, experiment, host, parts, start)
    status = "stopped" if stopped else "finished"
    return _Progress(new_state, start, parts, run_s, status, last_ckpt)


def _steps_before(done: _Progress, rows: int) -> np.ndarray:
    """Each row's env steps before the next segment (0 before the first update)."""
    if not done.parts:
        return np.zeros((rows,))
    return np.asarray(done.parts[-1]["env_steps"])[:, -1]


def _rows_text(experiment: Experiment) -> str:
    if experiment.kind == "sweep" and experiment.settings is not None:
        settings = len({tuple(sorted(s.items())) for s in experiment.settings})
        seeds = experiment.num_rows // max(1, settings)
        return f"{settings} setting(s) x {seeds} seed(s) = {experiment.num_rows} runs"
    return f"{experiment.num_rows} {experiment.row_names[0]}(s)"


def resume_command(kind: str, out: Path | str | None, config: PPOConfig) -> str:
    """The command that continues the ``kind`` run folder ``out`` (with ``--trust-env-module``
    when its config names a ``module:attribute`` environment, or ``env_kwargs`` a folder may
    not set untrusted, such as EnvPool's ``base_path``)."""
    trust = " --trust-env-module" if needs_trust(config.env_name, config.env_kwargs) else ""
    return f"ppo-jax {kind} --resume {out}{trust}"


def _with_resume_hint(
    message: str, out: Path | None, last_ckpt: Path | None, experiment: Experiment
) -> str:
    if last_ckpt is None:
        return message + "; no checkpoint was written"
    return (
        f"{message}; the newest complete checkpoint is {last_ckpt}: free space, then continue "
        f"with: {resume_command(experiment.kind, out, experiment.config)}"
    )


def _merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return {}
    return {k: np.concatenate([np.asarray(p[k]) for p in parts], axis=-1) for k in parts[0]}


def _save(
    out: Path, experiment: Experiment, state: Any, parts: list[dict[str, np.ndarray]], update: int
) -> Path:
    write_best(out, experiment, state, update)
    saved = jax.device_get(state)
    if experiment.saved_state is not None:
        saved = experiment.saved_state(saved)
    return rundir.write_checkpoint(
        out,
        checkpoint.Checkpoint(
            config=experiment.config.to_dict(),
            identity=experiment.identity,
            update=update,
            state=checkpoint.state_arrays(saved),
            metrics=_merge(parts),
        ),
    )


# --------------------------------------------------------------------------- evaluation state
def runner_of(state: Any) -> RunnerState | None:
    """The ``RunnerState`` of an experiment's carried state (itself, or PBT's ``.runner``)."""
    return state if isinstance(state, RunnerState) else getattr(state, "runner", None)


def train_state_of(state: Any) -> Any:
    """The learner state ``[R]`` of an experiment's carried state."""
    runner = runner_of(state)
    return state.train_state if runner is None else runner.train_state


def evaluation_of(state: Any) -> EvalState | None:
    """The evaluation carry of an experiment's state; ``None`` without evaluation during
    training."""
    runner = runner_of(state)
    return None if runner is None else runner.evaluation


def all_stopped(state: Any) -> bool:
    """Whether every run of ``state`` stopped at ``stop_at_return``."""
    evaluation = evaluation_of(state)
    return evaluation is not None and bool(np.all(np.asarray(evaluation.stopped)))


def _rows_only(tree: Any, rows: int) -> Any:
    return jax.tree.map(lambda x: np.asarray(x)[:rows], tree)


def write_best(out: Path, experiment: Experiment, state: Any, update: int) -> None:
    """``best/best.msgpack``: every run's best evaluated parameters, their observation
    statistics, return and update (nothing without evaluation during training)."""
    evaluation = evaluation_of(state)
    if evaluation is None:
        return
    evaluation = _rows_only(jax.device_get(evaluation), experiment.num_rows)
    arrays = {
        "params": evaluation.best_params,
        "obs_norm": evaluation.best_obs_norm,
        "best_return": evaluation.best_return,
        "best_update": evaluation.best_update,
    }
    record = checkpoint.Checkpoint(
        config=experiment.config.to_dict(),
        identity=experiment.identity,
        update=update,
        state=checkpoint.state_arrays(arrays),
        metrics={},
    )
    rundir.write_best(out, record)


def absolute_metric(experiment: Experiment, state: Any) -> dict[str, Any] | None:
    """Each run's best evaluated parameters (from the final ``state``) played on
    ``ABSOLUTE_FACTOR * eval_episodes`` episodes, the same episode starts for every run:
    per-run mean returns, their IQM with a 95% CI, and the episode count; ``None`` without
    evaluation during training. A run that never evaluated gets NaN."""
    evaluation = evaluation_of(state)
    if evaluation is None:
        return None
    evaluation = _rows_only(jax.device_get(evaluation), experiment.num_rows)
    config = experiment.plan.config
    episodes = ABSOLUTE_FACTOR * config.eval_episodes
    inputs = PolicyInputs(evaluation.best_params, evaluation.best_obs_norm, experiment.num_rows)
    played = evaluate_spec(
        experiment.plan.spec,
        experiment.plan.env_params,
        inputs,
        jax.random.PRNGKey(ABSOLUTE_SEED),
        episodes,
        config.eval_greedy,
        eval_steps(experiment.plan.spec),
    )
    returns = np.asarray(played.returns, np.float64).mean(axis=-1)
    returns = np.where(np.asarray(evaluation.best_update) >= 0, returns, np.nan)
    interval = iqm_interval(returns)
    return {
        "episodes": episodes,
        "returns": [None if not np.isfinite(r) else float(r) for r in returns],
        "best_eval_return": [float(r) for r in np.asarray(evaluation.best_return)],
        "best_eval_update": [int(u) + 1 for u in np.asarray(evaluation.best_update)],
        "iqm": interval.point,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "interval": interval.to_dict(),
    }


# --------------------------------------------------------------------------- outputs
def summary_rows(
    experiment: Experiment,
    metrics: dict[str, np.ndarray],
    timing: tuple[float, float, int],
    stopped: Any = None,
) -> list[dict[str, Any]]:
    """One summary row per run (from ``metrics`` ``name -> [R, U]``): the row's labels, final
    return, solved (:data:`~ppo_jax.io.stats.SOLVED_DEFINITION`), env steps to solve, the
    updates it trained and whether it ``stopped`` at ``stop_at_return`` (``[R]`` flags;
    ``None`` without a target), timings and the throughput per run (``env_steps_per_s``) of
    this session's updates."""
    compile_s, run_s, new_updates = timing
    config = experiment.plan.config
    if not metrics:
        return []
    final = final_return(metrics)
    threshold = solved_threshold(config.env_name)
    to_solve = steps_to_solve(metrics, threshold) if threshold is not None else None
    # Each run's own steps: a run stopped at stop_at_return took fewer than the others.
    run_steps = np.max(np.asarray(metrics["env_steps"]), axis=-1)
    trained = trained_updates(metrics["env_steps"])
    sps = new_updates * config.batch_size / run_s if run_s > 0 else float("nan")
    rows = []
    for i, labels in enumerate(experiment.rows):
        row: dict[str, Any] = dict(zip(experiment.row_names, labels, strict=True))
        row.update(
            final_return=float(final[i]),
            solved=None if threshold is None else bool(final[i] >= threshold),
            steps_to_solve=None if to_solve is None else int(to_solve[i]),
            wall_s=compile_s + run_s,
            run_s=run_s,
            compile_s=compile_s,
            env_steps=int(run_steps[i]),
            updates=int(trained[i]),
            stopped=None if stopped is None else bool(stopped[i]),
            env_steps_per_s=sps,
        )
        rows.append(row)
    return rows


def session_result(
    experiment: Experiment,
    out: Path | None,
    state: Any,
    metrics: dict[str, np.ndarray],
    status: str,
    timing: tuple[float, float, int],
) -> rundir.RunResult:
    """The :class:`~ppo_jax.io.rundir.RunResult` of a session whose final carried state is
    ``state`` and whose metrics are ``name -> [R, U]``."""
    done = metrics["env_steps"].shape[-1] if metrics else 0
    rows = experiment.num_rows
    learner = _rows_only(jax.device_get(train_state_of(state)), rows)
    evaluation = evaluation_of(state)
    best = None if evaluation is None else _rows_only(jax.device_get(evaluation), rows)
    return rundir.RunResult(
        config=experiment.config,
        seeds=[r[-1] for r in experiment.rows],
        params=learner.params,
        metrics=metrics,
        completed=done == experiment.plan.config.num_updates or status.startswith("finished"),
        status=status,
        out_dir=out,
        train_state=learner,
        summary=summary_rows(
            experiment,
            metrics,
            timing,
            None if best is None or experiment.plan.config.stop_at_return is None else best.stopped,
        ),
        kind=experiment.kind,
        settings=experiment.settings,
        best_params=None if best is None else best.best_params,
        best_obs_norm=None if best is None else best.best_obs_norm,
    )


def write_outputs(
    experiment: Experiment,
    out: Path,
    result: rundir.RunResult,
    state: Any,
    last_ckpt: Path | None,
    timing: tuple[float, float, int],
) -> rundir.RunResult:
    """``best/`` (unless the last checkpoint wrote it already), ``metrics.csv``,
    ``results.json`` (with the absolute metric when the run evaluated), the plots and the
    kind's own outputs; returns ``result`` with the absolute metric in its summary rows."""
    compile_s, run_s, _ = timing
    if last_ckpt != rundir.checkpoint_file(out, result.updates_done):
        write_best(out, experiment, state, result.updates_done)
    absolute = absolute_metric(experiment, state) if result.metrics else None
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
    config, metrics = result.config, result.metrics
    threshold = solved_threshold(config.env_name)
    summary: dict[str, Any] = {
        "kind": experiment.kind,
        "config": config.to_dict(),
        "seeds": result.seeds if experiment.kind != "sweep" else experiment.record.seeds,
        "status": result.status,
        "updates_done": result.updates_done,
        "solved_threshold": threshold,
        "runs": result.summary,
        "solved_definition": SOLVED_DEFINITION,
        "total_env_steps_per_s": (
            result.summary[0]["env_steps_per_s"] * experiment.num_rows if result.summary else None
        ),
        "compile_s": compile_s,
        "run_s": run_s,
        "device": str(jax.devices()[0]),
        "layout": experiment.plan.layout.describe(),
        "jax_version": jax.__version__,
        "last_checkpoint": None if last_ckpt is None else str(last_ckpt),
    }
    if experiment.kind != "sweep":  # a sweep's rows are read from metrics.csv
        summary["metrics"] = {k: v.tolist() for k, v in metrics.items()}
    label = f"IQM of {experiment.num_rows} {experiment.row_names[-1]}(s)"
    if metrics:
        rundir.write_metrics_csv(out, metrics, list(experiment.row_names), experiment.rows)
        interval = iqm_interval(final_return(metrics))
        summary["final_return_iqm"] = {
            "iqm": interval.point,
            "ci_low": interval.low,
            "ci_high": interval.high,
            **interval.to_dict(),
        }
        label += f"; final return IQM {format_interval(interval)}"
    if absolute is not None:
        summary["absolute_metric"] = absolute
    if metrics:
        extra = {} if experiment.outputs is None else dict(experiment.outputs(out, result))
        curves = extra.pop(CURVES, None) or [(label, np.asarray(metrics["episode_return"]))]
        summary.update(extra)
        write_run_plots(out, config.env_name, metrics, threshold, curves)
    rundir.write_results(out, summary)
    return result
