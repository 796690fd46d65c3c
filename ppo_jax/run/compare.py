"""``ppo-jax compare``: finished run folders side by side, one row per group of runs.

Reads each folder's metrics with :func:`~ppo_jax.io.runload.load_run` (``params=False``: a
missing or damaged checkpoint does not matter), splits a sweep folder into its settings
(one row per setting, the setting spelled out), and summarises the rows' final returns with
:func:`~ppo_jax.io.stats.compare_groups` (which takes arrays, never folders): the IQM
with its interval, the mean, and the probability of improvement over a baseline row, each with
its n and method. Before 0.3.0 ``compare_runs`` lived in ``ppo_jax.run.summary``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ppo_jax.core.search import setting_label
from ppo_jax.io.plotting import performance_profile_figure, save_figure
from ppo_jax.io.runload import load_run
from ppo_jax.io.stats import compare_groups, final_return, performance_profiles


def run_groups(run: Any, name: str) -> dict[str, np.ndarray]:
    """``label -> final returns [runs]`` of a loaded run folder: one group named ``name`` for
    a train or PBT folder; for a sweep, one per setting, ``"{name}: learning_rate=0.001
    clip_eps=0.2"``, in the order of the folder's settings."""
    final = np.asarray(final_return(run.metrics), np.float64).reshape(-1)
    if run.kind != "sweep" or not run.settings:
        return {name: final}
    groups: dict[str, list[float]] = {}
    for setting, value in zip(run.settings, final, strict=True):
        groups.setdefault(f"{name}: {setting_label(setting)}", []).append(float(value))
    return {label: np.asarray(values) for label, values in groups.items()}


def compare_runs(
    run_dirs: list[Any], plot: Any = None, *, baseline: int | str = 0
) -> list[dict[str, Any]]:
    """``ppo-jax compare``: one row per train or PBT folder and per setting of a sweep folder
    (folders may be mixed; all of one environment, else a ``ValueError`` naming the folder).
    Each row: its label (``run``), ``rows`` (runs with a final return), the IQM of the final
    returns with its 95% CI, the mean, and the probability that one of its runs beats one of
    the ``baseline`` row's (an index, 0-based; a label; or a part of exactly one label), with
    its CI; the ``iqm_interval`` and ``improvement`` entries are
    :class:`~ppo_jax.io.stats.Interval` values stating n and the method
    (:func:`~ppo_jax.io.stats.compare_groups`). ``plot``: also write performance
    profiles (fraction of runs above each return, one curve per row) to this PNG file."""
    if not run_dirs:
        raise ValueError("give at least one run folder to compare")
    groups: dict[str, np.ndarray] = {}
    env_name = None
    for d in run_dirs:
        run = load_run(d, params=False)  # the metrics alone: no checkpoint needed
        if not run.metrics:
            raise ValueError(f"{str(d)!r} holds no metrics yet: nothing to compare")
        if env_name is not None and run.config.env_name != env_name:
            raise ValueError(
                f"{str(d)!r} trained {run.config.env_name}, the first folder {env_name}: "
                "compare runs of one environment"
            )
        env_name = run.config.env_name
        name = Path(d).name or str(d)
        for label, values in run_groups(run, name).items():
            while label in groups:
                label += "'"
            groups[label] = values
    rows = compare_groups(groups, baseline)
    if plot is not None:
        finite = np.concatenate([v[np.isfinite(v)] for v in groups.values()])
        if finite.size:
            taus = np.linspace(finite.min(), finite.max(), 101)
            profiles, bands = performance_profiles(groups, taus)
            fig = performance_profile_figure(taus, profiles, bands, f"{env_name}: final return")
            save_figure(fig, Path(plot))
    return rows
