"""Train sessions: checkpointed, resumable, logged training as one library call.

:func:`run_experiment` is everything ``ppo-jax train`` does: it checks every input, builds a
:class:`~ppo_jax.run.session_setup.SessionSetup`, claims the run folder (``config.json``) and
runs the session loop that PBT shares (:func:`ppo_jax.run.session_loop.run_session`: compiled
segments of updates, checkpoints, metric rows, progress, stop requests, then the metrics files,
``results.json`` and the plots). ``resume=True`` continues a folder from its newest checkpoint;
the result is bit-identical to an uninterrupted run. :func:`~ppo_jax.run.folders.load_run`
reads any run folder back.

Old spellings: ``load_run``, ``replot``, ``resume_command``, ``first_nonfinite``,
``NONFINITE_METRICS`` and ``EARLY_FINISH`` lived here before 0.3.0 and are still importable
from this module (their homes: :mod:`ppo_jax.run.folders`, :mod:`ppo_jax.run.session_loop`,
:mod:`ppo_jax.run.session_outputs`; the list of every old spelling is
:data:`ppo_jax.compat.OLD_NAMES`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ppo_jax.core.config import PPOConfig
from ppo_jax.core.envs import trusted
from ppo_jax.core.spec import MetricsFn, Schedule
from ppo_jax.io import rundir
from ppo_jax.io.console import resolve_style
from ppo_jax.run import drivers, progress, session_loop
from ppo_jax.run.folders import checkpoint_size, load_run, replot
from ppo_jax.run.session_loop import (
    NONFINITE_METRICS,
    claim_folder,
    first_nonfinite,
    resume_command,
)
from ppo_jax.run.session_outputs import EARLY_FINISH
from ppo_jax.run.session_setup import (
    CHECKPOINTS_PER_RUN,
    SessionSetup,
    check_config_equal,
    check_count,
    check_memory,
    run_identity,
)

__all__ = [
    "EARLY_FINISH",
    "NONFINITE_METRICS",
    "first_nonfinite",
    "load_run",
    "replot",
    "resume_command",
    "run_experiment",
]


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
    stop = check_count("stop_after", stop_after, 1)
    every = check_count("checkpoint_every", checkpoint_every, 0)
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
    check_memory(plan)
    setup = _make_setup(
        drivers.check_config(config), plan, seed_values, every, stop, hp, env, extensions
    )
    out, lock, ckpt = claim_folder(setup, out_dir, resume, hp)
    with lock:
        return session_loop.run_session(
            setup, out, ckpt, tensorboard, wandb, wandb_mode, progress, say
        )


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
) -> SessionSetup:
    num_updates = config.num_updates
    if every is None:
        every = max(1, math.ceil(num_updates / CHECKPOINTS_PER_RUN))
    stop_at = num_updates if stop is None else min(num_updates, math.ceil(stop / every) * every)
    hp_record = {k: float(v) for k, v in plan.hp._asdict().items()}
    if hp is None:  # exactly the config's values (not their float32 roundings)
        hp_record = config.hyperparams()._asdict()
    identity = run_identity(config, seeds, hp_record, env, **extensions)
    template = drivers.runner_template(plan)
    state_bytes, bound = checkpoint_size(template, len(seeds), num_updates)
    return SessionSetup(config, plan, seeds, every, stop_at, identity, template, state_bytes, bound)
