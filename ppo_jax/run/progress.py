"""Live progress, reported by the host between compiled segments of updates.

Compiled programs carry no host callbacks (so JAX may cache them on disk). Drivers asked for
progress run the updates in segments and, after each, send one :class:`ProgressEvent` to the
listener installed with :func:`listen` (the CLI's printer, a notebook's callback).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np


class ProgressEvent(NamedTuple):
    """Where a group of runs stands after a segment of updates."""

    update: int
    """Updates completed (by every run)."""
    num_updates: int
    """Updates of the whole run."""
    env_steps: int
    """Environment steps taken so far by each run."""
    returns: np.ndarray
    """``[R]`` mean return of the episodes each run finished during the segment (NaN where
    none ended)."""
    episodes: np.ndarray
    """``[R]`` episodes each run finished during the segment."""
    eval_returns: np.ndarray | None = None
    """``[R]`` mean return of each run's latest evaluation in the segment (NaN where none
    ran); ``None`` without evaluation during training."""


Listener = Callable[[ProgressEvent], None]

_lock = threading.Lock()
_listener: Listener | None = None


@contextlib.contextmanager
def listen(listener: Listener) -> Iterator[None]:
    """Send progress events to ``listener`` while the block runs."""
    global _listener
    with _lock:
        previous, _listener = _listener, listener
    try:
        yield
    finally:
        with _lock:
            _listener = previous


def active() -> Listener | None:
    """The listener installed now, if any."""
    return _listener


def segment_event(metrics: dict[str, Any], update: int, num_updates: int) -> ProgressEvent:
    """The event after a segment whose metrics are ``[R, n]`` (numpy) and which ended at
    ``update`` updates."""
    count = np.asarray(metrics["episodes_completed"], np.float64)
    ret = np.asarray(metrics["episode_return"], np.float64)
    total = np.where(count > 0, np.nan_to_num(ret) * count, 0.0).sum(axis=-1)
    episodes = count.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.where(episodes > 0, total / np.maximum(episodes, 1), np.nan)
    steps = int(np.max(np.asarray(metrics["env_steps"])))  # a stopped run keeps its own count
    evaluations = None
    if "eval_return" in metrics:
        evaluations = np.full(len(returns), np.nan)
        for i, row in enumerate(np.asarray(metrics["eval_return"], np.float64)):
            ran = row[np.isfinite(row)]
            evaluations[i] = ran[-1] if ran.size else np.nan
    episodes = episodes.astype(np.int64)
    return ProgressEvent(update, num_updates, steps, returns, episodes, evaluations)


def report(event: ProgressEvent) -> None:
    """Hand ``event`` to the listener, if one is installed."""
    listener = _listener
    if listener is not None:
        listener(event)
