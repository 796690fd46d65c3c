"""Reading run folders back: the ONE reader of what :mod:`ppo_jax.io.rundir` writes.

Any folder a train, sweep or PBT experiment wrote is read from its files alone —
``config.json``, ``results.json`` or ``metrics.csv``, the newest checkpoint and ``best/`` —
without building its environment or importing anything it names: the learner state is rebuilt
from the checkpoint's own array names (any network). Every field is checked as it is read; a
malformed file is a ``ValueError`` naming it. :func:`load_run` is the entry point
(``ppo_jax.load_run``).
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ppo_jax.core.config import TRACED_FIELDS, PPOConfig
from ppo_jax.core.envs import trusted
from ppo_jax.core.exploit import initial_settings
from ppo_jax.core.search import LogUniform, Uniform, check_space
from ppo_jax.core.train import train_state_shapes
from ppo_jax.core.types import METRIC_NAMES
from ppo_jax.io import checkpoint
from ppo_jax.io.rundir import (
    BEST_FILE,
    CHECKPOINTS,
    CONFIG_FILE,
    KINDS,
    MAX_CSV_BYTES,
    MAX_CSV_COLUMNS,
    MAX_JSON_BYTES,
    METRICS_CSV,
    PBT_FILE_KEY,
    RESULTS_FILE,
    RunConfig,
    RunResult,
)

MAX_POPULATION = 2**20
"""Most PBT members a folder may record."""


# --------------------------------------------------------------------------- files
def read_metrics_csv(path: Path) -> dict[tuple[str, ...], dict[str, np.ndarray]]:
    """``metrics.csv`` of a train run (key ``()``) or a sweep (key ``(setting,)``) as arrays
    ``[seeds, updates]`` per metric. Rows are read one at a time (memory: the numbers alone);
    a file over ``MAX_CSV_BYTES``, with more than ``MAX_CSV_COLUMNS`` columns, a row of
    another length than the header, a value that is not a number, or runs of different
    lengths is refused with a ``ValueError`` naming it."""
    where = f"{str(path)!r}"
    if not path.is_file():
        raise ValueError(f"{where} not found: nothing to read")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise ValueError(f"{where} is larger than {MAX_CSV_BYTES} bytes")
    groups: dict[tuple[str, ...], dict[str, list[list[float]]]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            if len(header) > MAX_CSV_COLUMNS or not {"update", "seed"} <= set(header):
                raise ValueError(f"{where} is not a ppo-jax metrics file")
            ids = {"setting", "seed", "update", "member"}
            metric_at = [i for i, c in enumerate(header) if c not in ids]
            run_at = header.index("member") if "member" in header else header.index("seed")
            setting_at = header.index("setting") if "setting" in header else None
            for row in reader:
                if len(row) != len(header):
                    raise ValueError(f"{where}: line {reader.line_num} has {len(row)} fields")
                group: tuple[str, ...] = () if setting_at is None else (row[setting_at],)
                columns = groups.setdefault(group, {}).setdefault(row[run_at], [])
                try:
                    columns.append([float(row[i]) if row[i] else np.nan for i in metric_at])
                except ValueError:
                    raise ValueError(
                        f"{where}: line {reader.line_num} holds a non-number"
                    ) from None
    except (csv.Error, UnicodeDecodeError) as err:
        raise ValueError(f"{where} is not a ppo-jax metrics file: {err}") from None
    if not groups:
        raise ValueError(f"{where} holds no rows")
    names = [header[i] for i in metric_at]
    out: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
    for group, runs in groups.items():
        if len({len(r) for r in runs.values()}) > 1:
            raise ValueError(f"{where}: its runs have different numbers of rows")
        table = np.asarray(list(runs.values()), np.float64)  # [runs, updates, metrics]
        out[group] = {n: table[:, :, k] for k, n in enumerate(names)}
    return out


def read_json(path: Path, what: str) -> Any:
    """A JSON document of at most ``MAX_JSON_BYTES``; ``ValueError`` naming the file."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ValueError(f"cannot read {what} {str(path)!r}: {err.strerror or err}") from None
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{what} {str(path)!r} is {size} bytes; at most {MAX_JSON_BYTES}")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{what} {str(path)!r} is not valid JSON: {type(err).__name__}") from None
    except OSError as err:
        raise ValueError(f"cannot read {what} {str(path)!r}: {err.strerror or err}") from None


def read_run_config(run_dir: Path) -> RunConfig:
    """``config.json`` of ``run_dir``, every field checked; ``ValueError`` naming the file and
    what is wrong. The config is marked as read from the folder
    (:attr:`~ppo_jax.PPOConfig.env_origin`): a ``module:attribute`` environment it names is
    not imported until the user trusts it."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{str(run_dir)!r} is not a ppo-jax run folder (no {CONFIG_FILE})")
    doc = read_json(path, "run config")
    where = f"{str(path)!r}"
    if not isinstance(doc, dict):
        raise ValueError(f"{where} must hold a JSON object, got {type(doc).__name__}")
    kind = doc.get(
        "kind", "sweep" if "settings" in doc and "checkpoint_every" not in doc else "train"
    )
    if kind not in KINDS:
        raise ValueError(f"{where}: 'kind' must be one of {KINDS}, got {kind!r}")
    if "config" not in doc:
        raise ValueError(f"{where}: missing 'config'")
    try:
        config = PPOConfig.from_dict(doc["config"]).with_env_origin(f"run folder {str(run_dir)!r}")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: 'config' is invalid: {err}") from None
    seeds = doc.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds)
    ):
        raise ValueError(f"{where}: 'seeds' must be a non-empty list of ints in [0, 2**32)")
    every = doc.get("checkpoint_every", 0)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ValueError(f"{where}: 'checkpoint_every' must be an int >= 0, got {every!r}")
    hp = doc.get("hp")
    if hp is not None and (
        not isinstance(hp, dict)
        or not set(hp) <= set(TRACED_FIELDS)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in hp.values())
    ):
        raise ValueError(f"{where}: 'hp' must be an object of numbers named {TRACED_FIELDS}")
    if hp is not None:
        try:
            config.replace(**hp)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: 'hp' is invalid: {err}") from None
    settings = doc.get("settings")
    if settings is not None and (
        not isinstance(settings, list) or not all(isinstance(s, dict) for s in settings)
    ):
        raise ValueError(f"{where}: 'settings' must be a list of objects")
    known = {"format", "kind", "config", "seeds", "checkpoint_every", "hp", "settings"}
    extra = {k: v for k, v in doc.items() if k not in known}
    return RunConfig(kind, config, seeds, every, hp, settings, extra)


NUM_METRICS_BOUND = len(METRIC_NAMES) + 64
"""Metrics a checkpoint may hold (built-in ones and room for custom ones)."""


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


def checkpoint_status(ckpt: checkpoint.Checkpoint, num_updates: int) -> tuple[bool, str]:
    """``(completed, status)`` of a run folder whose newest checkpoint is ``ckpt``."""
    completed = ckpt.update == num_updates
    return completed, "finished" if completed else f"paused after update {ckpt.update}"


def read_best(out: Path, rows: int) -> dict[str, Any] | None:
    """What :func:`~ppo_jax.run.experiment.write_best` wrote (``params``, ``obs_norm``,
    ``best_return``, ``best_update``, each with a ``[rows]`` axis), rebuilt from the file's own
    names (no environment, no network); ``None`` when the folder has no such file."""
    path = out / BEST_FILE
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
    found = sorted((out / CHECKPOINTS).glob(checkpoint.CHECKPOINT_GLOB))
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


def with_results(run: RunResult, results: Any) -> RunResult:
    """``run`` with the metrics, status and summary of its folder's ``results.json`` document
    (``results``; ``None`` when the run never finished: ``run`` as it is)."""
    if not isinstance(results, dict):
        return run
    path = Path(run.out_dir or ".") / RESULTS_FILE
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


def space_from_json(doc: Any, where: str) -> dict[str, Any]:
    """The inverse of :func:`~ppo_jax.io.rundir.space_to_json`; ``ValueError`` naming
    ``where`` if malformed."""
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
    where = f"{str(out / CONFIG_FILE)!r}"
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


def newest_checkpoint(out: Path) -> Path:
    """The path of the newest checkpoint of the run folder ``out``; ``ValueError`` if there is
    none."""
    return checkpoint.latest(out)


def read_newest_checkpoint(out: Path, max_bytes: int) -> checkpoint.Checkpoint:
    """The newest checkpoint of the run folder ``out``, its declared size checked against
    ``max_bytes`` before its payload is read (``ValueError`` naming the file otherwise)."""
    return checkpoint.load(checkpoint.latest(out), max_bytes=max_bytes)


# --------------------------------------------------------------------------- a whole folder
def row_labels_of(saved: RunConfig) -> tuple[list[int], list[dict[str, float]] | None]:
    """The seed of each metric row of a folder, and each row's setting (sweeps), from its
    ``config.json``: a train run's seeds, a sweep's settings x seeds (setting slowest), PBT's
    members."""
    if saved.kind == "sweep":
        settings = saved.settings or []
        return (
            [s for _ in settings for s in saved.seeds],
            [dict(st) for st in settings for _ in saved.seeds],
        )
    return list(saved.seeds), None


class DamagedCheckpointWarning(UserWarning):
    """A run folder's newest checkpoint (or ``best/`` file) cannot be read: :func:`load_run`
    goes on without it (no parameters; metrics from ``results.json``). The message is one
    line naming the file and what is wrong with it (``problem``) and what the result lacks."""

    def __init__(self, problem: str, without: str) -> None:
        super().__init__(f"{problem}; read without it ({without})")
        self.problem = problem


def load_run(
    out_dir: str | Path, *, params: bool = True, trust_env_module: bool = False
) -> RunResult:
    """The results of any run folder ``run_experiment`` or the CLI wrote (train, sweep or
    PBT), from its files: metrics from ``results.json`` (or ``metrics.csv``, or the newest
    checkpoint for a run that never finished), parameters from the newest checkpoint
    (``None`` if there is none).

    ``params=False`` reads the metrics alone (what ``ppo-jax plot`` and ``compare`` need): no
    parameters, no learner state, no ``best/``; a checkpoint is opened only for the metrics of
    a run that never wrote its metrics files (one killed outright). With ``params=True``, a
    newest checkpoint that cannot be read (truncated, corrupt, malformed) is reported as one
    :class:`DamagedCheckpointWarning` and the result has no parameters (``ppo-jax eval``
    refuses it); the metrics still come from ``results.json``.

    Reading builds no environment and imports nothing the folder names: the learner state is
    rebuilt from the checkpoint's own array names (any network), so a folder whose
    environment module is not importable here loads too. The returned ``config`` stays marked
    as read from the folder (:attr:`~ppo_jax.PPOConfig.env_origin`): evaluating it later
    imports a ``module:attribute`` environment only with ``trust_env_module=True`` here (or
    ``env=`` there)."""
    if not isinstance(params, bool):
        raise TypeError(f"params must be a bool, got {params!r}")
    out = Path(out_dir)
    saved = read_run_config(out)
    saved = saved._replace(config=trusted(saved.config, trust_env_module))
    results_path = out / RESULTS_FILE
    results = read_json(results_path, "results") if results_path.is_file() else None
    if saved.kind == "pbt":
        return load_pbt(out, saved, results, params)
    seeds, settings = row_labels_of(saved)
    config = saved.config if saved.hp is None else saved.config.replace(**saved.hp)
    train_state: Any = None
    metrics: dict[str, np.ndarray] = {}
    status, completed = "incomplete", False
    written = results is not None and (saved.kind != "sweep" or (out / METRICS_CSV).is_file())
    loaded = _newest(out, ".train_state", len(seeds), params, not written)
    if loaded is not None:
        train_state, ckpt = loaded
        metrics = check_metrics(ckpt.metrics, len(seeds), f"checkpoint of {str(out)!r}")
        completed, status = checkpoint_status(ckpt, config.num_updates)
    elif saved.kind == "train":
        status = "finished"
    best = _best(out, len(seeds)) if params else {}
    run = RunResult(
        config=config,
        seeds=seeds,
        params=None if train_state is None else train_state.params,
        metrics=metrics,
        completed=completed,
        status=status,
        out_dir=out,
        train_state=train_state,
        kind=saved.kind,
        settings=settings,
        best_params=best.get("params"),
        best_obs_norm=best.get("obs_norm"),
    )
    if saved.kind == "sweep":
        return sweep_results(run, saved, results)
    return with_results(run, results)


def sweep_results(run: RunResult, saved: RunConfig, results: Any) -> RunResult:
    """A sweep folder's rows with the metrics of its ``metrics.csv`` (written when a session
    ends) when the folder has one, and the status of its ``results.json``."""
    out = Path(run.out_dir or ".")
    csv_path = out / METRICS_CSV
    if not csv_path.is_file():
        return run
    settings = saved.settings or []
    groups = read_metrics_csv(csv_path)
    indices = [g[0] if len(g) == 1 and g[0].isascii() and g[0].isdigit() else "" for g in groups]
    if not all(i and int(i) < len(settings) for i in indices):
        raise ValueError(
            f"{str(csv_path)!r}: its 'setting' column must index the "
            f"{len(settings)} settings of config.json"
        )
    keys = sorted(groups, key=lambda g: int(g[0]))
    metrics = {
        name: np.concatenate([groups[g][name] for g in keys], axis=0) for name in groups[keys[0]]
    }
    if metrics["env_steps"].shape[0] != len(run.seeds):
        raise ValueError(
            f"{str(csv_path)!r}: {metrics['env_steps'].shape[0]} rows, config.json's settings x "
            f"seeds are {len(run.seeds)}"
        )
    status = run.status
    if isinstance(results, dict):
        status = str(results.get("status", "finished"))[:200]
    done = metrics["env_steps"].shape[-1]
    return run._replace(
        metrics=metrics,
        status=status,
        completed=done == run.config.num_updates or status.startswith("finished"),
        summary=[r for r in results.get("runs", []) if isinstance(r, dict)]
        if isinstance(results, dict)
        else [],
    )


def load_pbt(out: Path, saved: RunConfig, results: Any, params: bool = True) -> RunResult:
    """A PBT folder as a :class:`RunResult` (rows: members): metrics from ``results.json`` or
    the newest checkpoint, parameters from the newest checkpoint (``params``; see
    :func:`load_run`). Builds no environment."""
    space, population, options = saved_settings(out, saved)  # the space checked as it is read
    if not 2 <= population <= MAX_POPULATION:
        raise ValueError(f"{str(out)!r}: population must be in [2, {MAX_POPULATION}]")
    seed = options["seed"]
    if not 0 <= seed < 2**32:
        raise ValueError(f"{str(out)!r}: the PBT seed must be in [0, 2**32), got {seed}")
    members = list(range(population))
    train_state: Any = None
    metrics: dict[str, np.ndarray] = {}
    completed, status = False, "incomplete"
    num_updates = saved.config.num_updates
    loaded = _newest(out, ".runner.train_state", population, params, results is None)
    if loaded is not None:
        train_state, ckpt = loaded
        metrics = check_metrics(ckpt.metrics, population, f"checkpoint of {str(out)!r}")
        completed, status = checkpoint_status(ckpt, num_updates)
    settings = saved.settings or initial_settings(space, population, seed)
    run = RunResult(
        config=saved.config,
        seeds=members,
        params=None if train_state is None else train_state.params,
        metrics=metrics,
        completed=completed,
        status=status,
        out_dir=out,
        train_state=train_state,
        kind="pbt",
        settings=settings,
    )
    best = _best(out, population) if params else {}
    run = run._replace(best_params=best.get("params"), best_obs_norm=best.get("obs_norm"))
    return with_results(run, results)


def _newest(
    out: Path, prefix: str, rows: int, params: bool, need_metrics: bool
) -> tuple[Any, checkpoint.Checkpoint] | None:
    """What :func:`load_run` reads from the newest checkpoint: the learner state (``None``
    without ``params``) and the checkpoint, or ``None`` when there is none, when neither
    parameters nor metrics are needed from it, or when it cannot be read (one
    :class:`DamagedCheckpointWarning`)."""
    if not (params or need_metrics):
        return None
    try:
        if params:
            return newest_learner(out, prefix, rows)
        found = sorted((out / CHECKPOINTS).glob(checkpoint.CHECKPOINT_GLOB))
        return (None, checkpoint.load(found[-1])) if found else None
    except ValueError as err:
        _warn_damaged(err, "no parameters" if params else "no metrics")
        return None


def _best(out: Path, rows: int) -> dict[str, Any]:
    """:func:`read_best`, a damaged file reported as a warning (``{}`` then)."""
    try:
        return read_best(out, rows) or {}
    except ValueError as err:
        _warn_damaged(err, "no best parameters")
        return {}


def _warn_damaged(err: ValueError, without: str) -> None:
    problem = " ".join(str(err).split())[:500]
    warnings.warn(DamagedCheckpointWarning(problem, without), stacklevel=4)
