"""Metric writers ("sinks"): JSON lines, TensorBoard (through ``tensorboardX``), Weights & Biases.

Every writer has the same two methods, so a session can hold a list of them::

    writer.add_scalars(step, {"episode_return": 12.5, "value_loss": 0.3})
    writer.close()

and each is a context manager that closes itself. Non-finite values (NaN, inf) are never
logged as numbers: the TensorBoard and W&B writers skip them and the JSON-lines writer writes
``null``. :func:`metrics_rows` turns the ``[runs, updates]`` metric arrays of a training run
into one ``(env_steps, values)`` row per update, ready for ``add_scalars``.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import numpy as np

_W = TypeVar("_W", bound="_Writer")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class _Writer:
    """Context-manager support shared by the writers: ``with`` closes the writer."""

    def close(self) -> None:
        """Release the writer's resources."""
        raise NotImplementedError

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _finite(values: Mapping[str, float]) -> dict[str, float]:
    """The finite entries of ``values``, as Python floats."""
    out = {}
    for tag, value in values.items():
        number = float(value)
        if math.isfinite(number):
            out[tag] = number
    return out


class TensorBoardWriter(_Writer):
    """Scalars to a TensorBoard event file in ``logdir`` (``tensorboardX.SummaryWriter``).

    ``purge_step``: when a run resumes at that step, TensorBoard hides the events at and after
    it that an interrupted earlier session wrote, so every curve shows each step once.
    """

    def __init__(self, logdir: str | Path, purge_step: int | None = None) -> None:
        from tensorboardX import SummaryWriter

        self.logdir = Path(logdir)
        # tensorboardX names files by the second; a unique suffix keeps a quick resume from
        # overwriting the file of the session before it.
        self._writer: Any = SummaryWriter(
            logdir=str(self.logdir),
            purge_step=purge_step,
            flush_secs=10,
            filename_suffix=f".{os.getpid()}.{time.time_ns()}",
        )
        self._closed = False

    def add_scalars(
        self, step: int, values: Mapping[str, float], wall_time: float | None = None
    ) -> None:
        """One scalar (float32) per finite entry of ``values`` at ``step``; non-finite entries,
        and those beyond the float32 range, are skipped."""
        for tag, value in _finite(values).items():
            if abs(value) <= _FLOAT32_MAX:
                self._writer.add_scalar(tag, value, global_step=int(step), walltime=wall_time)

    def flush(self) -> None:
        """Push buffered events to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the file; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._writer.close()


class WandbWriter(_Writer):
    """Log scalars to a Weights & Biases run (``wandb`` is imported only here, lazily).

    ``mode="offline"`` (or the ``WANDB_MODE=offline`` environment variable) writes the run under
    ``run_dir`` with no network; ``wandb sync`` uploads it later.
    """

    def __init__(
        self,
        project: str,
        run_dir: str | Path,
        config: dict[str, Any],
        name: str | None = None,
        mode: str | None = None,
    ) -> None:
        try:
            wandb: Any = importlib.import_module("wandb")
        except ImportError as err:
            raise ImportError("WandbWriter needs the wandb package: pip install wandb") from err
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        self.run: Any = wandb.init(
            project=project, dir=str(run_dir), config=config, name=name, mode=mode
        )
        self._closed = False

    def add_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Log the finite entries of ``values`` at ``step`` (nothing if none is finite)."""
        finite = _finite(values)
        if finite:
            self.run.log(finite, step=int(step))

    def close(self) -> None:
        """Finish the run; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self.run.finish()


class JsonlWriter(_Writer):
    """Append one JSON object per ``add_scalars`` call to a text file: ``{"step": ..., **values}``
    with non-finite values written as ``null``. Each line is flushed as it is written. The file
    is opened for appending (its folder is created): existing lines are kept."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._closed = False

    def add_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Write the line ``{"step": step, **values}`` (NaN and inf as ``null``)."""
        if "step" in values:
            raise ValueError('"step" is reserved for the step number; rename that metric')
        row: dict[str, Any] = {"step": int(step)}
        for tag, value in values.items():
            number = float(value)
            row[tag] = number if math.isfinite(number) else None
        self._file.write(json.dumps(row, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._file.close()


# --------------------------------------------------------------------------- rows
def _mean_ignoring_nan(arr: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN where a column is all NaN (and no warning)."""
    valid = ~np.isnan(arr)
    count = valid.sum(axis=0)
    total = np.where(valid, arr, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def metrics_rows(
    metrics: Mapping[str, np.ndarray],
    seeds: Sequence[int] | Sequence[str],
    groups: Sequence[str] | None = None,
) -> Iterator[tuple[int, dict[str, float]]]:
    """One ``(env_steps, values)`` row per update of an experiment, for ``add_scalars``.

    ``metrics`` maps names to arrays shaped ``[rows, updates]`` (a 1-D ``[updates]`` array
    counts as one row) and must hold ``env_steps``, which gives each row's step (the largest
    over rows: the same for all but runs stopped at ``stop_at_return``, which keep the count
    they stopped at). ``seeds`` labels the rows: seeds (ints: ``seed_{s}``, numbered when they
    repeat) or series names (``"setting_1/seed_0"``). ``values`` holds, for every other
    metric, its mean over the rows of each group ignoring NaN (``groups``: one name per row,
    ``""`` or ``None`` for one group; a named group's mean is tagged ``{group}/{metric}``),
    for ``episode_return`` also ``episode_return/{label}`` for each row (one series per row),
    and ``env_steps/{label}`` for a row that stopped at ``stop_at_return`` (its env steps stay
    where it stopped). Means (and per-row values) that are NaN are left out; updates with
    nothing left, or that no run trained (every run had stopped: the step does not grow), are
    not yielded.
    """
    if "env_steps" not in metrics:
        raise ValueError("metrics must include 'env_steps'")
    per_row = np.atleast_2d(np.asarray(metrics["env_steps"]))
    steps = np.max(per_row, axis=0)
    arrays: dict[str, np.ndarray] = {}
    for name, value in metrics.items():
        if name == "env_steps":
            continue
        arr = np.atleast_2d(np.asarray(value, dtype=np.float64))
        if arr.ndim != 2 or arr.shape != (len(seeds), len(steps)):
            raise ValueError(
                f"metric {name!r} has shape {np.shape(value)}, expected "
                f"[{len(seeds)} seeds, {len(steps)} updates]"
            )
        arrays[name] = arr
    labels = _series_labels(seeds)
    names = list(dict.fromkeys(groups)) if groups else [""]
    members = [np.asarray([g == n for g in groups]) if groups else slice(None) for n in names]
    means = {
        (group, name): _mean_ignoring_nan(arr[rows_of])
        for group, rows_of in zip(names, members, strict=True)
        for name, arr in arrays.items()
    }
    for u, step in enumerate(steps):
        if step <= (steps[u - 1] if u else 0):  # every run had stopped: nothing was trained
            continue
        row: dict[str, float] = {}
        for (group, name), mean_of in means.items():
            mean = float(mean_of[u])
            if not math.isnan(mean):
                row[f"{group}/{name}" if group else name] = mean
        if "episode_return" in arrays:
            row.update(_per_row("episode_return", arrays["episode_return"][:, u], labels))
        if per_row.shape[0] == len(labels):
            stopped = np.where((per_row[:, u] > 0) & (per_row[:, u] < step), per_row[:, u], np.nan)
            row.update(_per_row("env_steps", stopped, labels))
        if row:
            yield int(step), row


def _per_row(name: str, values: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """``{name}/{label}`` of every finite value."""
    pairs = zip(labels, values, strict=True)
    return {f"{name}/{label}": float(v) for label, v in pairs if not math.isnan(v)}


def _series_labels(rows: Sequence[int] | Sequence[str]) -> list[str]:
    """``seed_{s}`` for int rows (``seed_{i}`` by position when seeds repeat); names as given."""
    if all(isinstance(r, str) for r in rows):
        return [str(r) for r in rows]
    labels = [str(s) for s in rows]
    if len(set(labels)) != len(labels):  # rows that share seeds: number them
        labels = [str(i) for i in range(len(rows))]
    return [f"seed_{label}" for label in labels]
