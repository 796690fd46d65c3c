"""Live progress from inside the compiled training loop.

The compiled program calls :func:`_dispatch` through ``jax.debug.callback`` every
``progress_every`` updates (a static setting, so the cached executable is shared). Under
``vmap`` the callback runs once per seed; :func:`_dispatch` forwards each call to the listener
installed with :func:`listen`, if any. Printing is the listener's business (the CLI's).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np


class ProgressEvent(NamedTuple):
    """What one run (one seed) reports at a progress point."""

    update: int
    """Number of updates completed."""
    env_steps: int
    """Environment steps taken so far."""
    return_sum: float
    """Sum of the returns of the episodes that ended in the last update."""
    episodes: int
    """Number of episodes that ended in the last update."""


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


def _dispatch(update: np.ndarray, env_steps: np.ndarray, ret: np.ndarray, n: np.ndarray) -> None:
    listener = _listener
    if listener is not None:
        listener(ProgressEvent(int(update), int(env_steps), float(ret), int(n)))
