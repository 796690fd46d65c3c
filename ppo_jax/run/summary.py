"""Host-side summaries of training metrics (numpy; no JAX tracing): arrays in, numbers out.

Nothing here reads a run folder (``ppo-jax compare`` of folders is :mod:`ppo_jax.run.compare`)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ppo_jax.io.tuned import TARGETS as SOLVED_THRESHOLDS

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
    """The solve threshold of ``env_name`` (``ppo_jax.io.tuned.TARGETS``), or ``None``."""
    return SOLVED_THRESHOLDS.get(env_name)


BOOTSTRAP_REPS = 2000
"""Bootstrap resamples of the confidence intervals (rliable's default for profiles)."""
CONFIDENCE = 0.95


def _rliable() -> tuple[Any, Any]:
    from rliable import library, metrics

    return library, metrics


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Reproducible rliable calls: rliable draws its stratified resamples from NumPy's global
    generator, so it is seeded for the call and put back afterwards (and ``arch``'s warning
    about ``random_state`` is silenced)."""
    saved = np.random.get_state()  # noqa: NPY002 - rliable uses the global generator
    np.random.seed(seed)  # noqa: NPY002
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def _bootstrap(library: Any, *args: Any, seed: int = 0, **kwargs: Any) -> Any:
    """``rliable.library.get_interval_estimates``, reproducible for ``seed``."""
    with _seeded(seed):
        return library.get_interval_estimates(
            *args, random_state=np.random.RandomState(seed), **kwargs
        )


def iqm_with_ci(
    scores: Mapping[str, Any], reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> dict[str, tuple[float, float, float]]:
    """``name -> (IQM, CI low, CI high)`` of each group's final returns (``[runs]`` or
    ``[runs, tasks]``): the interquartile mean with a 95% stratified-bootstrap confidence
    interval (Agarwal et al. 2021), computed by ``rliable``. NaN scores (runs with no finished
    episode) are left out; a group with none left gets NaN."""
    library, metrics = _rliable()
    clean = {}
    for name, values in scores.items():
        arr = np.asarray(values, np.float64)
        arr = arr.reshape(arr.shape[0], -1) if arr.ndim else arr.reshape(1, 1)
        clean[name] = arr[np.all(np.isfinite(arr), axis=1)]
    out = {name: (float("nan"),) * 3 for name, arr in clean.items() if arr.shape[0] == 0}
    ready = {name: arr for name, arr in clean.items() if arr.shape[0] > 0}
    if ready:
        point, interval = _bootstrap(
            library,
            ready,
            lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=reps,
            confidence_interval_size=CONFIDENCE,
            seed=seed,
        )
        for name in ready:
            out[name] = (
                float(point[name][0]),
                float(interval[name][0, 0]),
                float(interval[name][1, 0]),
            )
    return out


def probability_of_improvement(
    scores_x: Any, scores_y: Any, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> tuple[float, float, float]:
    """``P(X > Y)`` with a 95% bootstrap confidence interval (rliable): the probability that a
    run of setting X beats a run of setting Y (ties count half). Scores are ``[runs]`` or
    ``[runs, tasks]``; NaN runs are left out."""
    library, metrics = _rliable()
    x = np.asarray(scores_x, np.float64).reshape(len(scores_x), -1)
    y = np.asarray(scores_y, np.float64).reshape(len(scores_y), -1)
    x, y = x[np.all(np.isfinite(x), 1)], y[np.all(np.isfinite(y), 1)]
    if not len(x) or not len(y):
        return (float("nan"),) * 3
    point, interval = _bootstrap(
        library,
        {"pair": (x, y)},
        lambda a, b: np.array([metrics.probability_of_improvement(a, b)]),
        reps=reps,
        confidence_interval_size=CONFIDENCE,
        seed=seed,
    )
    return float(point["pair"][0]), float(interval["pair"][0, 0]), float(interval["pair"][1, 0])


def performance_profiles(
    scores: Mapping[str, Any], taus: Any, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run-score performance profiles (rliable): for each group and threshold ``tau``, the
    fraction of runs scoring above ``tau``, with 95% bootstrap bands ``[2, len(taus)]``."""
    library, _ = _rliable()
    clean = {}
    for name, values in scores.items():
        arr = np.asarray(values, np.float64)
        arr = arr.reshape(arr.shape[0], -1)
        clean[name] = arr[np.all(np.isfinite(arr), axis=1)]
    ready = {k: v for k, v in clean.items() if v.shape[0]}
    with _seeded(seed):
        return library.create_performance_profile(ready, np.asarray(taus, np.float64), reps=reps)
