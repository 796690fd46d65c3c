"""The run folder's schema and its ONE writer: file names, the format version, claiming a
folder, and every file written into it; :class:`RunResult`, what a run holds.

A run folder (written by ``ppo_jax.run_experiment``, ``ppo-jax train``, ``ppo-jax sweep`` or
``ppo-jax pbt``, all through ``ppo_jax.run.experiment``)::

    config.json        format, kind, config, seeds (and settings / hyperparameters),
                       checkpoint_every, identity (what a resume must match)
    metrics.csv        one row per (run, update): every metric (a sweep: setting, seed columns)
    metrics.jsonl      one JSON object per update, appended as the run goes
    results.json       per-run summary, device, versions (train and PBT: all metrics)
    sweep.csv          a sweep's settings ranked by the IQM of their final returns
    learning_curves.png, diagnostics.png (PBT: hyperparameters.png)
    checkpoints/       the newest full training states
    best/best.msgpack  with eval_every: each run's best evaluated parameters (the absolute metric)
    eval.json          what ``ppo-jax eval`` measured
    .ppo-jax.lock      held while a process writes the folder

:mod:`ppo_jax.io.runload` reads them back. Every write that replaces a file goes through a
temporary file and an atomic rename, so a file under its final name is always whole. An
``OSError`` on writing becomes :class:`OutputError`, a ``ValueError`` that names the file.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from ppo_jax.core.config import TRACED_FIELDS, PPOConfig
from ppo_jax.core.search import LogUniform, Uniform
from ppo_jax.io import checkpoint
from ppo_jax.io.sinks import JsonlWriter

CONFIG_FILE = "config.json"
METRICS_CSV = "metrics.csv"
METRICS_JSONL = "metrics.jsonl"
RESULTS_FILE = "results.json"
LEARNING_CURVES = "learning_curves.png"
DIAGNOSTICS = "diagnostics.png"
CHECKPOINTS = "checkpoints"
BEST_FILE = "best/best.msgpack"
"""The parameters of each run's best evaluation during training (checkpoint format)."""
EVAL_FILE = "eval.json"
SWEEP_CSV = "sweep.csv"
LOCK_FILE = ".ppo-jax.lock"
RUN_FORMAT = 3
"""Version of the run-folder schema (``config.json``'s ``format``): 3 since sweeps are
checkpointed like every run (their ``config.json`` records ``identity`` too); folders of
format 2 are still read."""
HYPERPARAMETERS_PLOT = "hyperparameters.png"
"""PBT: each member's return and searched hyperparameters over training."""
PBT_METRICS = len(TRACED_FIELDS) + 1
"""Metric rows a PBT checkpoint holds beyond a train run's: ``hp/<name>`` and ``pbt/parent``."""
PBT_FILE_KEY = "pbt"
"""``config.json`` entry holding the PBT settings (space, population, seed, interval ...)."""
KINDS = ("train", "sweep", "pbt")
MAX_JSON_BYTES = 64 * 2**20
"""Largest ``config.json``/``results.json`` read back."""
MAX_CSV_BYTES = 2**30
"""Largest ``metrics.csv`` read back (a sweep of 1,000 runs of 5,000 updates fits)."""
MAX_CSV_COLUMNS = 4096
"""Most columns of a ``metrics.csv`` read back."""


class OutputError(ValueError):
    """Writing a run's output failed (disk full, permissions): the message names the file."""


# --------------------------------------------------------------------------- claiming
class FolderLock:
    """An exclusive lock on a run folder (``fcntl.flock`` on its lock file), held until
    :meth:`release` or the process ends (a killed process releases it too)."""

    def __init__(self, path: Path, handle: IO[bytes] | None) -> None:
        self.path, self._handle = path, handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock(folder: Path, create_exclusive: bool) -> FolderLock:
    """Lock ``folder``'s lock file; ``ValueError`` if another process holds it."""
    path = folder / LOCK_FILE
    flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if create_exclusive else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise ValueError(
            f"{str(folder)!r} is in use by another run (or holds an earlier run): choose a new "
            "folder"
        ) from None
    except OSError as err:
        raise ValueError(f"{str(folder)!r} is not writable: {err.strerror or err}") from None
    handle = os.fdopen(fd, "r+b")
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - no flock on this platform: exclusive create only
        pass
    except OSError:
        handle.close()
        raise ValueError(
            f"{str(folder)!r} is in use by another ppo-jax process; wait for it to finish"
        ) from None
    return FolderLock(path, handle)


def check_new_folder(path: Path) -> None:
    """``ValueError`` unless ``path`` can become a new run folder (absent or empty, its
    parent a folder or creatable): checked before anything is written."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{str(path)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise ValueError(
            f"{str(path)!r} is not empty; choose a new folder (earlier results are kept)"
        )
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{str(path)!r} is not writable: {str(parent)!r} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{str(path)!r} is not writable: no permission in {str(parent)!r}")


def check_output_folder(path: Any, what: str) -> Path:
    """``ValueError`` unless ``path`` is a folder (or can become one) that can be written,
    e.g. a TensorBoard log folder: checked before anything is written."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise TypeError(f"{what} must be a folder path, got {path!r}")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} {str(folder)!r} exists and is not a folder")
    parent = folder
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {str(folder)!r} is not writable")
    return folder


def claim_new_folder(
    out: str | os.PathLike[str] | None, default_stem: str
) -> tuple[Path, FolderLock]:
    """Create and lock a new run folder, atomically: of several processes claiming the same
    folder exactly one succeeds (the others get a ``ValueError`` saying it is in use).

    ``out=None`` makes ``runs/{default_stem}-{timestamp}`` (``-2``, ``-3`` ... when taken).
    """
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{default_stem}-{stamp}"
        base.parent.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            path = base if n == 1 else base.with_name(f"{base.name}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                n += 1
                continue
            except OSError as err:
                raise ValueError(f"{str(path)!r} is not writable: {err.strerror or err}") from None
            return path, _lock(path, create_exclusive=True)
    path = Path(out)
    check_new_folder(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{str(path)!r} is not writable: {err.strerror or err}") from None
    lock = _lock(path, create_exclusive=True)
    others = [p.name for p in path.iterdir() if p.name != LOCK_FILE]
    if others:  # written between the check and the claim
        lock.release()
        raise ValueError(f"{str(path)!r} is not empty; choose a new folder")
    return path, lock


def claim_existing_folder(path: Path) -> FolderLock:
    """Lock an existing run folder to continue it (``ValueError`` if another process does)."""
    if not (path / CONFIG_FILE).is_file():
        raise ValueError(f"{str(path)!r} is not a ppo-jax run folder (no {CONFIG_FILE})")
    return _lock(path, create_exclusive=False)


# --------------------------------------------------------------------------- writing
def _json_ready(value: Any) -> Any:
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically; :class:`OutputError` (the file named, nothing
    left under the final name or a temporary one) on failure."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {str(path)!r}: {_reason(err)}") from None


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "no space left on the device"
    return err.strerror or str(err)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """``payload`` as JSON (NaN/inf as null), atomically."""
    write_text(path, json.dumps(_json_ready(payload), indent=2) + "\n")


def metric_rows(
    metrics: Mapping[str, np.ndarray], row_labels: Sequence[Sequence[Any]], first_update: int = 0
) -> Iterator[list[Any]]:
    """CSV rows ``[*label, update, *metrics]`` of ``[R, U]`` metrics, run by run."""
    names = list(metrics)
    arrays = [np.asarray(metrics[n]) for n in names]
    num_updates = arrays[0].shape[-1]
    for i, label in enumerate(row_labels):
        for u in range(num_updates):
            cells: list[Any] = [*label, first_update + u + 1]
            for a in arrays:
                v = a[i, u].item()
                cells.append("" if isinstance(v, float) and math.isnan(v) else v)
            yield cells


def write_metrics_csv(
    out: Path,
    metrics: Mapping[str, np.ndarray],
    label_names: Sequence[str],
    row_labels: Sequence[Sequence[Any]],
) -> None:
    """``metrics.csv`` of the run folder ``out``: one row per (run, update), one column per
    metric, the runs labelled by ``label_names`` (``seed``; a sweep's ``setting, seed``)."""
    path = out / METRICS_CSV if out.is_dir() else out
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*label_names, "update", *metrics])
    writer.writerows(metric_rows(metrics, row_labels))
    write_text(path, buffer.getvalue())


def write_table_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """A ranked table as CSV (a ``rank`` column first, 1-based), atomically (``sweep.csv``)."""
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["rank", *rows[0]])
    writer.writeheader()
    for rank, row in enumerate(rows, 1):
        writer.writerow({"rank": rank, **row})
    write_text(path, buffer.getvalue())


def rewrite_jsonl(out: Path, rows: Iterator[tuple[int, dict[str, float]]]) -> None:
    """Replace ``metrics.jsonl`` of the run folder ``out`` by ``rows`` (what a checkpoint
    holds), atomically."""
    path = out / METRICS_JSONL if out.is_dir() else out
    lines = []
    for step, values in rows:
        row: dict[str, Any] = {"step": int(step)}
        for tag, value in values.items():
            number = float(value)
            row[tag] = number if math.isfinite(number) else None
        lines.append(json.dumps(row, allow_nan=False))
    write_text(path, "".join(line + "\n" for line in lines))


def open_jsonl(out: Path) -> JsonlWriter:
    """The writer appending ``metrics.jsonl`` of the run folder ``out``
    (:class:`~ppo_jax.io.sinks.JsonlWriter`)."""
    return JsonlWriter(out / METRICS_JSONL)


def write_results(out: Path, document: Mapping[str, Any]) -> None:
    """``results.json`` of the run folder ``out`` (NaN and inf as null), atomically."""
    write_json(out / RESULTS_FILE, {"format": RUN_FORMAT, **document})


def write_checkpoint(out: Path, ckpt: Any) -> Path:
    """A :class:`~ppo_jax.io.checkpoint.Checkpoint` into ``out/checkpoints`` (atomically),
    keeping the newest ``KEEP_CHECKPOINTS``; returns its path."""
    try:
        return checkpoint.save(out, ckpt)
    except OSError as err:
        raise OutputError(f"cannot write a checkpoint in {str(out)!r}: {_reason(err)}") from None


def checkpoint_file(out: Path, update: int) -> Path:
    """The path of the checkpoint after update ``update`` in the run folder ``out``."""
    return checkpoint.checkpoint_path(out, update)


def write_best(out: Path, record: Any) -> None:
    """``best/best.msgpack`` of the run folder ``out`` (checkpoint format), atomically."""
    try:
        checkpoint.atomic_write(out / BEST_FILE, checkpoint.encode(record))
    except OSError as err:
        raise OutputError(f"cannot write {str(out / BEST_FILE)!r}: {_reason(err)}") from None


def write_figure(out: Path, name: str, fig: Any) -> Path:
    """A matplotlib figure as ``out/name`` (a PNG, via a temporary file), freed afterwards;
    an ``OSError`` becomes :class:`OutputError` naming the file."""
    import matplotlib.pyplot as plt

    path = out / name
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {str(path)!r}: {err.strerror or err}") from None
    finally:
        plt.close(fig)
    return path


def space_to_json(space: Mapping[str, Any]) -> dict[str, Any]:
    """A PBT search space as ``config.json`` records it: ``{"log": [lo, hi]}``,
    ``{"uniform": [lo, hi]}`` or ``{"choices": [...]}`` per field."""
    doc: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, LogUniform):
            doc[name] = {"log": [float(dist.low), float(dist.high)]}
        elif isinstance(dist, Uniform):
            doc[name] = {"uniform": [float(dist.low), float(dist.high)]}
        else:
            doc[name] = {"choices": [float(v) for v in dist]}
    return doc


# --------------------------------------------------------------------------- config.json
class RunConfig(NamedTuple):
    """What ``config.json`` records: enough to resume, evaluate and load the run."""

    kind: str
    """``"train"``, ``"sweep"`` or ``"pbt"``."""
    config: PPOConfig
    seeds: list[int]
    checkpoint_every: int
    hp: dict[str, float] | None = None
    """The traced hyperparameters the run used, when they differ from the config's."""
    settings: list[dict[str, float]] | None = None
    """Sweep settings (rows), or PBT's initial member hyperparameters."""
    extra: dict[str, Any] = {}  # noqa: RUF012 (never mutated)
    """Kind-specific entries (e.g. PBT's search space and interval)."""


def write_run_config(run_dir: Path, run: RunConfig) -> None:
    payload: dict[str, Any] = {
        "format": RUN_FORMAT,
        "kind": run.kind,
        "config": run.config.to_dict(),
        "seeds": list(run.seeds),
        "checkpoint_every": run.checkpoint_every,
    }
    if run.hp is not None:
        payload["hp"] = run.hp
    if run.settings is not None:
        payload["settings"] = run.settings
    payload.update(run.extra)
    write_json(run_dir / CONFIG_FILE, payload)


# --------------------------------------------------------------------------- results
class RunResult(NamedTuple):
    """A run's results: returned by ``ppo_jax.run_experiment`` and ``ppo_jax.load_run``.

    Runs are rows: the seeds of a train run, the (setting, seed) pairs of a sweep (setting
    slowest), the members of a population.
    """

    config: PPOConfig
    """The config trained (equal to the one given)."""
    seeds: list[int]
    """The seed of each row."""
    params: Any
    """Trained parameters with a leading ``[rows]`` axis (``None`` if nothing was saved)."""
    metrics: dict[str, np.ndarray]
    """``name -> [rows, updates]`` numpy arrays (updates completed)."""
    completed: bool
    """Whether every update of the run was done."""
    status: str = "finished"
    """``finished``, ``paused ...``, ``interrupted ...`` or ``stopped: ...``."""
    out_dir: Path | None = None
    train_state: Any = None
    """The full final learner state (``[rows]`` leading axis), when known."""
    summary: list[dict[str, Any]] = []  # noqa: RUF012 (never mutated)
    """Per-row summary (final return, solved, steps to solve, timings)."""
    kind: str = "train"
    settings: list[dict[str, float]] | None = None
    """The swept hyperparameters of each row (sweeps), or ``None`` when all rows share the
    config's."""
    checkpoint: Path | None = None
    """The newest checkpoint written (``None`` if none was)."""
    best_params: Any = None
    """Parameters of each row's best evaluation during training (``[rows]`` leading axis;
    ``None`` unless the run evaluated, ``PPOConfig.eval_every > 0``): what the absolute metric
    re-evaluates (``ppo-jax eval RUN --best``)."""
    best_obs_norm: Any = None
    """Their observation statistics (``None`` unless observations are normalised)."""

    @property
    def obs_norm(self) -> Any:
        """Running observation statistics (``None`` unless ``normalize_observations``)."""
        return None if self.train_state is None else self.train_state.obs_norm

    @property
    def updates_done(self) -> int:
        return int(next(iter(self.metrics.values())).shape[-1]) if self.metrics else 0

    def to_dataframe(self) -> Any:
        """The metrics in long format: one row per (run row, update) with columns ``seed``,
        ``update`` (1-based), ``env_steps`` ..., plus ``setting`` and the swept
        hyperparameters for sweeps. Needs pandas (``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "RunResult.to_dataframe needs pandas: pip install pandas (or read .metrics, a "
                "dict of numpy arrays [rows, updates])"
            ) from None
        rows, updates = len(self.seeds), self.updates_done
        columns: dict[str, Any] = {
            "seed": np.repeat(np.asarray(self.seeds, np.int64), updates),
            "update": np.tile(np.arange(1, updates + 1), rows),
        }
        if self.settings is not None:
            keys = [tuple(sorted(st.items())) for st in self.settings]
            index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
            columns["setting"] = np.repeat([index[k] for k in keys], updates)
            for name in sorted({k for st in self.settings for k in st}):
                per_row = [st.get(name, np.nan) for st in self.settings]
                columns[name] = np.repeat(np.asarray(per_row, np.float64), updates)
        for name, values in self.metrics.items():
            columns[name] = np.asarray(values).reshape(rows * updates)
        return pd.DataFrame(columns)
