"""What a session writes when its loop ends, and the evaluation state it keeps.

The best evaluated parameters (``best/best.msgpack``), the absolute metric (each run's best
parameters played on ten times ``eval_episodes`` episodes), the per-run summary rows, the
:class:`~ppo_jax.io.rundir.RunResult`, and the files ``metrics.csv``, ``results.json`` and the
plots. Used by :mod:`ppo_jax.run.session_loop`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from ppo_jax.core.evaluate import eval_steps
from ppo_jax.core.types import EvalState, RunnerState
from ppo_jax.io import checkpoint, rundir
from ppo_jax.io.plotting import write_run_plots
from ppo_jax.io.stats import (
    SOLVED_DEFINITION,
    final_return,
    format_interval,
    iqm_interval,
    solved_threshold,
    steps_to_solve,
    trained_updates,
)
from ppo_jax.run.evaluate import PolicyInputs, evaluate_spec
from ppo_jax.run.session_setup import SessionSetup

EARLY_FINISH = "finished early: every run stopped at an evaluation reaching stop_at_return={}"
"""Status of a session whose runs all stopped at their target return (the table's ``stopped``
column counts them)."""
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


def write_best(out: Path, setup: SessionSetup, state: Any, update: int) -> None:
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


def absolute_metric(setup: SessionSetup, state: Any) -> dict[str, Any] | None:
    """Each run's best evaluated parameters (from the session's final ``state``) played on
    ``ABSOLUTE_FACTOR * eval_episodes`` episodes, the same episode starts for every run:
    per-run mean returns, their IQM with a 95% CI, and the episode count; ``None`` without
    evaluation during training. A run that never evaluated gets NaN."""
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


def summary_rows(
    setup: SessionSetup,
    metrics: dict[str, np.ndarray],
    compile_s: float,
    run_s: float,
    new_updates: int,
    stopped: Any = None,
) -> list[dict[str, Any]]:
    """One summary row per run (``R`` rows, from ``metrics`` ``name -> [R, U]``): final
    return, solved (:data:`~ppo_jax.io.stats.SOLVED_DEFINITION`), env steps to solve, the
    updates it trained and whether it ``stopped`` at ``stop_at_return`` (``[R]`` flags;
    ``None`` without a target), timings and throughput per run (``env_steps_per_s``) of this
    session's ``new_updates`` updates."""
    config = setup.plan.config
    if not metrics:
        return []
    final = final_return(metrics)
    threshold = solved_threshold(config.env_name)
    to_solve = steps_to_solve(metrics, threshold) if threshold is not None else None
    # Each run's own steps: a run stopped at stop_at_return took fewer than the others.
    run_steps = np.max(np.asarray(metrics["env_steps"]), axis=-1)
    trained = trained_updates(metrics["env_steps"])
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
            "updates": int(trained[i]),
            "stopped": None if stopped is None else bool(stopped[i]),
            "env_steps_per_s": sps,
        }
        for i, seed in enumerate(setup.seeds)
    ]


def session_result(
    setup: SessionSetup,
    out: Path,
    runner: Any,
    metrics: dict[str, np.ndarray],
    status: str,
    compile_s: float,
    run_s: float,
    first_update: int,
) -> rundir.RunResult:
    """The :class:`~ppo_jax.io.rundir.RunResult` of a session whose final carried state is
    ``runner`` (leaves ``[R, ...]``) and whose metrics are ``name -> [R, U]``."""
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
        summary=summary_rows(
            setup,
            metrics,
            compile_s,
            run_s,
            done - first_update,
            None if best is None or setup.plan.config.stop_at_return is None else best.stopped,
        ),
        best_params=None if best is None else best.best_params,
        best_obs_norm=None if best is None else best.best_obs_norm,
    )


def write_outputs(
    setup: SessionSetup,
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
        "solved_definition": SOLVED_DEFINITION,
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
    label = f"IQM of {len(result.seeds)} {setup.row_label}(s)"
    if metrics:
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
    rundir.write_json(out / rundir.RESULTS_FILE, summary)
    if metrics:
        curves = [(label, np.asarray(metrics["episode_return"]))]
        write_run_plots(out, config.env_name, metrics, threshold, curves)
    return result
