"""PBT sessions: :func:`run_pbt_experiment`, population-based training in a run folder.

The algorithm — one compiled program over intervals, exploit and explore inside it — is
:mod:`ppo_jax.run.population` (:func:`~ppo_jax.run.population.pbt`); this module runs it through
the session loop that ``ppo-jax train`` shares (:mod:`ppo_jax.run.session_loop`): checkpoints,
resume, metric sinks and plots.

Old spellings: every public name of :mod:`ppo_jax.run.population` (``pbt``, ``PBTResult``,
``plan_pbt``, ...) and the PBT folder records of :mod:`ppo_jax.run.folders` (``load_pbt``,
``space_to_json``, ``space_from_json``, ``saved_settings``, ``write_pbt_plots``) lived here
before 0.3.0 and are still importable from this module (see :data:`ppo_jax.compat.OLD_NAMES`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ppo_jax.core.config import PPOConfig
from ppo_jax.core.envs import trusted
from ppo_jax.core.spec import MetricsFn, Schedule
from ppo_jax.io import rundir
from ppo_jax.io.console import resolve_style
from ppo_jax.io.rundir import RunResult
from ppo_jax.run import drivers, session_loop
from ppo_jax.run.folders import (
    HYPERPARAMETERS_PLOT,
    PBT_FILE_KEY,
    PBT_METRICS,
    checkpoint_size,
    load_pbt,
    saved_settings,
    space_from_json,
    space_to_json,
    write_pbt_plots,
)
from ppo_jax.run.population import (
    PBTCarry,
    PBTPlan,
    PBTResult,
    carry_template,
    check_perturb,
    check_rank_by,
    compile_pbt,
    compile_pbt_segments,
    init_carry,
    initial_settings,
    pbt,
    pbt_result,
    plan_pbt,
    run_pbt,
    segment_metrics,
)
from ppo_jax.run.session_loop import claim_folder
from ppo_jax.run.session_setup import (
    CHECKPOINTS_PER_RUN,
    SessionSetup,
    check_config_equal,
    check_count,
    check_memory,
    run_identity,
)

__all__ = [
    "HYPERPARAMETERS_PLOT",
    "PBT_FILE_KEY",
    "PBT_METRICS",
    "PBTCarry",
    "PBTPlan",
    "PBTResult",
    "carry_template",
    "check_perturb",
    "check_rank_by",
    "compile_pbt",
    "compile_pbt_segments",
    "init_carry",
    "initial_settings",
    "load_pbt",
    "pbt",
    "pbt_result",
    "plan_pbt",
    "run_pbt",
    "run_pbt_experiment",
    "saved_settings",
    "segment_metrics",
    "space_from_json",
    "space_to_json",
    "write_pbt_plots",
]


def run_pbt_experiment(
    config: PPOConfig | None,
    space: Mapping[str, Any] | None,
    population: int | None,
    out_dir: str | Path | None,
    *,
    seed: int = 0,
    interval: int = 10,
    fraction: float = 0.25,
    perturb: Sequence[float] = (0.8, 1.25),
    resample_probability: float = 0.25,
    rank_by: str = "episode_return",
    resume: bool = False,
    stop_after: int | None = None,
    checkpoint_every: int | None = None,
    env: Any = None,
    env_params: Any = None,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    tensorboard: str | Path | None = None,
    wandb: str | None = None,
    wandb_mode: str | None = None,
    progress: Any = None,
    log: Callable[[str], None] | None = None,
    trust_env_module: bool = False,
) -> RunResult:
    """Everything ``ppo-jax pbt`` does: :func:`pbt` in a run folder, checkpointed every
    ``checkpoint_every`` updates (a multiple of ``interval``; default about 10% of the run),
    resumable bit for bit (``resume=True``: ``config``, ``space`` and ``population`` may be
    ``None``, read from the folder), with ``metrics.csv``/``metrics.jsonl`` (rows are members;
    ``hp/<name>`` and ``pbt/parent`` columns beside the metrics), TensorBoard/W&B, and plots of
    every member's return and hyperparameters. The rows of the returned
    :class:`~ppo_jax.io.rundir.RunResult` are the members (``seeds`` holds member indices).
    Arguments as for :func:`pbt` and :func:`ppo_jax.run_experiment` (``trust_env_module``:
    resuming a folder whose config names a ``module:attribute`` environment imports it only
    when True)."""
    say = log or (lambda _: None)
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be a bool, got {resume!r}")
    if not callable(progress):
        resolve_style(progress)
    if tensorboard is not None:
        rundir.check_output_folder(tensorboard, "tensorboard")
    stop = check_count("stop_after", stop_after, 1)
    every = check_count("checkpoint_every", checkpoint_every, 0)
    if stop is not None and every == 0:
        raise ValueError("stop_after pauses at a checkpoint: it needs checkpoint_every >= 1")
    options: dict[str, Any] = {
        "seed": seed,
        "interval": interval,
        "fraction": fraction,
        "perturb": perturb,
        "resample_probability": resample_probability,
    }
    if rank_by != "episode_return":  # recorded only when not the default (older folders)
        options["rank_by"] = rank_by
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs the run folder to continue (out_dir)")
        config, space, population, every, options = _saved_pbt(
            Path(out_dir), config, space, population, every
        )
        config = trusted(config, trust_env_module)
    elif config is None or space is None or population is None:
        raise ValueError("config, space and population are needed to start a PBT run")
    extensions = {"network": network, "lr_schedule": lr_schedule, "metrics_fn": metrics_fn}
    plan = plan_pbt(
        config, space, population, env=env, env_params=env_params, **extensions, **options
    )
    check_memory(plan.plan)
    num_updates = plan.plan.config.num_updates
    if every is None:
        every = plan.interval * max(1, round(num_updates / CHECKPOINTS_PER_RUN / plan.interval))
        every = min(every, num_updates)
    elif every and every % plan.interval and every != num_updates:
        raise ValueError(
            f"checkpoint_every={every} must be a multiple of interval={plan.interval} (or 0)"
        )
    stop_at = num_updates if stop is None else min(num_updates, math.ceil(stop / every) * every)
    pbt_doc = {
        "space": space_to_json(space),
        "population": plan.plan.num_runs,
        **options,
        "perturb": [float(f) for f in options["perturb"]],
    }
    members = list(range(plan.plan.num_runs))
    hp_record = config.hyperparams()._asdict()
    identity = run_identity(config, members, hp_record, env, **extensions)
    identity.update(kind="pbt", **pbt_doc)
    template = carry_template(plan)
    state_bytes, bound = checkpoint_size(template, len(members), num_updates, PBT_METRICS)
    setup = SessionSetup(
        drivers.check_config(config),
        plan.plan,
        members,
        every,
        stop_at,
        identity,
        template,
        state_bytes,
        bound,
        kind="pbt",
        init=lambda: init_carry(plan),
        compile=lambda carry, length: compile_pbt_segments(plan, carry, length),
        unit=plan.interval,
        row_label="member",
        extra={PBT_FILE_KEY: pbt_doc},
    )
    out, lock, ckpt = claim_folder(setup, out_dir, resume, None)
    with lock:
        result = session_loop.run_session(
            setup, out, ckpt, tensorboard, wandb, wandb_mode, progress, say
        )
        if result.metrics:
            write_pbt_plots(out, result)
    return result._replace(kind="pbt", settings=plan.initial_settings)


def _saved_pbt(
    out: Path, config: Any, space: Any, population: Any, every: int | None
) -> tuple[PPOConfig, dict[str, Any], int, int, dict[str, Any]]:
    """Config, space, population, checkpoint interval and options of a PBT folder to resume;
    what the caller gave must equal what was saved."""
    saved = rundir.read_run_config(out)
    if saved.kind != "pbt":
        raise ValueError(f"{str(out)!r} holds a {saved.kind} run, not a PBT run")
    saved_space, saved_population, options = saved_settings(out, saved)
    if config is not None:
        differences = check_config_equal(config, saved.config)
        if differences:
            raise ValueError(f"resume: config differs from the saved one in {differences}")
        saved = saved._replace(config=config)  # the caller's: named on this call
    if space is not None and space_to_json(space) != space_to_json(saved_space):
        raise ValueError("resume: space differs from the saved one")
    if population is not None and population != saved_population:
        raise ValueError(f"resume: population {population} differs from {saved_population}")
    if every is not None and every != saved.checkpoint_every:
        raise ValueError(
            f"resume: checkpoint_every={every} differs from the saved {saved.checkpoint_every}"
        )
    return saved.config, saved_space, saved_population, saved.checkpoint_every, options
