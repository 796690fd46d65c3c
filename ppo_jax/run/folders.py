"""Reading run folders back: :func:`load_run` and :func:`replot`.

Any folder a train, sweep or PBT session wrote is read from its files alone — ``config.json``,
``results.json`` or ``metrics.csv``, the newest checkpoint and ``best/`` — without building its
environment or importing anything it names: the learner state is rebuilt from the checkpoint's
own array names. Also here: the checkpoint size bounds a session reads and writes with, and
the PBT settings a PBT folder records (``config.json``'s ``"pbt"`` entry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ppo_jax.core.config import TRACED_FIELDS
from ppo_jax.core.envs import trusted
from ppo_jax.core.train import train_state_shapes
from ppo_jax.core.types import METRIC_NAMES
from ppo_jax.io import checkpoint, rundir
from ppo_jax.io.plotting import (
    hyperparameter_trajectories,
    learning_curves,
    save_figure,
    update_steps,
    write_run_plots,
)
from ppo_jax.run import drivers
from ppo_jax.run.population import check_int_range, initial_settings
from ppo_jax.run.summary import solved_threshold
from ppo_jax.run.sweep import MAX_PLOTTED, LogUniform, Uniform, check_space, setting_label


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


def read_best(out: Path, rows: int) -> dict[str, Any] | None:
    """What :func:`~ppo_jax.run.session_outputs.write_best` wrote (``params``, ``obs_norm``,
    ``best_return``, ``best_update``, each with a ``[rows]`` axis), rebuilt from the file's own
    names (no environment, no network); ``None`` when the folder has no such file."""
    path = out / rundir.BEST_FILE
    if not path.is_file():
        return None
    record = checkpoint.load(path)
    source = f"{str(path)!r}"
    params, stats = _stored_policy(record, "['params']", "['obs_norm']", rows, source)
    template = {
        "params": params,
        "obs_norm": stats,
        "best_return": jax.ShapeDtypeStruct((rows,), np.float32),
        "best_update": jax.ShapeDtypeStruct((rows,), np.int32),
    }
    return dict(jax.device_get(checkpoint.restore(record, template, source)))


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
        return load_sweep(out, saved, results)
    if saved.kind == "pbt":
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
    """The shapes of the parameter dict stored under ``params_at`` and of the observation
    statistics stored under ``obs_norm_at`` (one RunningStats, the tree of them of pytree
    observations, or ``None`` without), each with a ``[rows]`` leading axis (``ValueError``
    otherwise)."""
    params = checkpoint.stored_dict(ckpt, params_at, source)
    stats = checkpoint.stored_tree(ckpt, obs_norm_at, source)
    stored = [*jax.tree.leaves(params), *jax.tree.leaves(stats)]
    if any(len(x.shape) < 1 or x.shape[0] != rows for x in stored):
        raise ValueError(f"{source}: its arrays do not have the run folder's {rows} rows")
    return params, stats


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
    params, stats = _stored_policy(ckpt, prefix + ".params", prefix + ".obs_norm", rows, source)
    one_run = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), params)
    template = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((rows, *x.shape), x.dtype),
        train_state_shapes(one_run, None),
    )._replace(obs_norm=stats)
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


def load_sweep(out: Path, saved: rundir.RunConfig, results: Any) -> rundir.RunResult:
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
    run = load_run(run_dir)
    if not run.metrics:
        raise ValueError(f"{str(run_dir)!r} holds no metrics yet: nothing to plot")
    threshold = solved_threshold(run.config.env_name)
    if run.kind == "pbt":
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


# ----------------------------------------------------------------- PBT folders
PBT_METRICS = len(TRACED_FIELDS) + 1
"""Metric rows a PBT checkpoint holds beyond a train run's: ``hp/<name>`` and ``pbt/parent``."""
PBT_FILE_KEY = "pbt"
"""``config.json`` entry holding the PBT settings (space, population, seed, interval ...)."""


def space_to_json(space: Mapping[str, Any]) -> dict[str, Any]:
    """``space`` as JSON: ``{"log": [lo, hi]}``, ``{"uniform": [lo, hi]}`` or
    ``{"choices": [...]}`` per field."""
    out: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, LogUniform):
            out[name] = {"log": [float(dist.low), float(dist.high)]}
        elif isinstance(dist, Uniform):
            out[name] = {"uniform": [float(dist.low), float(dist.high)]}
        else:
            out[name] = {"choices": [float(v) for v in dist]}
    return out


def space_from_json(doc: Any, where: str) -> dict[str, Any]:
    """The inverse of :func:`space_to_json`; ``ValueError`` naming ``where`` if malformed."""
    if not isinstance(doc, dict) or not doc:
        raise ValueError(f"{where}: 'space' must be a non-empty object")
    space: dict[str, Any] = {}
    for name, entry in doc.items():
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ValueError(f"{where}: space[{name!r}] must be one of log/uniform/choices")
        (kind, values), *_ = entry.items()
        ok = isinstance(values, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e300
            for v in values
        )
        if kind in ("log", "uniform") and ok and len(values) == 2:
            space[name] = (LogUniform if kind == "log" else Uniform)(*map(float, values))
        elif kind == "choices" and ok and values:
            space[name] = [float(v) for v in values]
        else:
            raise ValueError(f"{where}: space[{name!r}] is malformed: {str(entry)[:80]}")
    check_space(space)
    return space


def saved_settings(out: Path, saved: Any) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Space, population and the other :func:`pbt` options recorded in a PBT folder's
    ``config.json`` (``saved``, its :class:`~ppo_jax.io.rundir.RunConfig`); ``ValueError``
    naming the file when they are missing or malformed."""
    where = f"{str(out / rundir.CONFIG_FILE)!r}"
    doc = saved.extra.get(PBT_FILE_KEY)
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: missing the {PBT_FILE_KEY!r} settings")
    saved_space = space_from_json(doc.get("space"), where)
    try:
        options = {
            "seed": int(doc["seed"]),
            "interval": int(doc["interval"]),
            "fraction": float(doc["fraction"]),
            "perturb": tuple(float(f) for f in doc["perturb"]),
            "resample_probability": float(doc["resample_probability"]),
        }
        if "rank_by" in doc:
            options["rank_by"] = str(doc["rank_by"])
        saved_population = int(doc["population"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise ValueError(f"{where}: the {PBT_FILE_KEY!r} settings are incomplete") from None
    return saved_space, saved_population, options


def write_pbt_plots(out: Path, result: rundir.RunResult) -> Path:
    """``hyperparameters.png``: each member's return and searched hyperparameters over
    training."""
    path = out / HYPERPARAMETERS_PLOT
    fig = hyperparameter_trajectories(
        update_steps(result.metrics),
        result.metrics["episode_return"],
        {k[3:]: v for k, v in result.metrics.items() if k.startswith("hp/")},
        f"{result.config.env_name}: PBT, {len(result.seeds)} members",
    )
    save_figure(fig, path)
    return path


HYPERPARAMETERS_PLOT = "hyperparameters.png"


def load_pbt(out: Path, saved: Any, results: Any) -> rundir.RunResult:
    """A PBT folder as a :class:`rundir.RunResult` (rows: members): metrics from ``results.json`` or
    the newest checkpoint, parameters from the newest checkpoint. Builds no environment (see
    :func:`ppo_jax.load_run`)."""
    space, population, options = saved_settings(out, saved)  # the space checked as it is read
    population = check_int_range("population", population, 2, drivers.MAX_RUNS)
    (seed,) = drivers.seed_list([options["seed"]], "seed")
    members = list(range(population))
    params = train_state = None
    metrics: dict[str, np.ndarray] = {}
    completed, status = False, "incomplete"
    num_updates = saved.config.num_updates
    loaded = newest_learner(out, ".runner.train_state", population)
    if loaded is not None:
        train_state, ckpt = loaded
        params = train_state.params
        metrics = check_metrics(ckpt.metrics, population, f"checkpoint of {str(out)!r}")
        completed, status = checkpoint_status(ckpt, num_updates)
    run = rundir.RunResult(
        config=saved.config,
        seeds=members,
        params=params,
        metrics=metrics,
        completed=completed,
        status=status,
        out_dir=out,
        train_state=train_state,
        kind="pbt",
        settings=initial_settings(space, population, seed),
    )
    best = read_best(out, population) or {}
    run = run._replace(best_params=best.get("params"), best_obs_norm=best.get("obs_norm"))
    return with_results(run, results)
