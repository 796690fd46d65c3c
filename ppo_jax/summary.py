"""Host-side summaries of training metrics (numpy; no JAX tracing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Return at which an environment counts as solved (gymnasium's reward thresholds where they
#: exist, else a commonly used target).
SOLVED_THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "MountainCar-v0": -150.0,
    "Pendulum-v1": -250.0,
    "MountainCarContinuous-v0": 90.0,
}

FINAL_WINDOW_FRACTION = 0.05
"""Share of the last updates whose completed episodes define the "final return"."""


def final_return(metrics: Mapping[str, Any], window: int | None = None) -> np.ndarray:
    """Mean return of the episodes completed in the last ``window`` updates, per run.

    ``metrics`` arrays have the update axis last (``[U]`` or ``[..., U]``). ``window`` defaults
    to ``max(1, round(FINAL_WINDOW_FRACTION * U))``; if no episode ended in it, the window grows
    back to the most recent update in which one did. NaN if no episode ever ended.
    """
    ret = np.asarray(metrics["episode_return"], np.float64)
    count = np.asarray(metrics["episodes_completed"], np.float64)
    num_updates = ret.shape[-1]
    if window is None:
        window = max(1, round(FINAL_WINDOW_FRACTION * num_updates))
    window = min(max(1, window), num_updates)
    totals = np.where(count > 0, np.nan_to_num(ret) * count, 0.0)
    flat_t = totals.reshape(-1, num_updates)
    flat_c = count.reshape(-1, num_updates)
    out = np.full(flat_t.shape[0], np.nan)
    for i in range(flat_t.shape[0]):
        ended = np.nonzero(flat_c[i])[0]
        if ended.size == 0:
            continue
        start = min(num_updates - window, int(ended[-1]))
        out[i] = flat_t[i, start:].sum() / flat_c[i, start:].sum()
    return out.reshape(ret.shape[:-1])


def steps_to_solve(metrics: Mapping[str, Any], threshold: float) -> np.ndarray:
    """Env steps at the first update whose mean completed-episode return reached ``threshold``;
    -1 where never. Shape: ``metrics`` leading axes."""
    ret = np.nan_to_num(np.asarray(metrics["episode_return"], np.float64), nan=-np.inf)
    steps = np.asarray(metrics["env_steps"])
    hit = ret >= threshold
    first = np.argmax(hit, axis=-1)
    reached = hit.any(axis=-1)
    value = np.take_along_axis(steps, first[..., None], axis=-1)[..., 0]
    return np.where(reached, value, -1)


def solved_threshold(env_name: str) -> float | None:
    """The solve threshold of ``env_name``, or ``None`` if none is known."""
    return SOLVED_THRESHOLDS.get(env_name)
