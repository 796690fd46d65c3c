"""``ppo-jax compare``: finished run folders side by side, with the reviewer statistics.

Reads each folder's metrics with :func:`~ppo_jax.io.runload.load_run` (``params=False``: a
missing or damaged checkpoint does not matter) and summarises its rows' final
returns with the functions of :mod:`ppo_jax.run.summary` (which take arrays, never folders).
Before 0.3.0 :func:`compare_runs` lived in :mod:`ppo_jax.run.summary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ppo_jax.io.plotting import performance_profile_figure, save_figure
from ppo_jax.io.runload import load_run
from ppo_jax.run.summary import (
    final_return,
    iqm_with_ci,
    performance_profiles,
    probability_of_improvement,
)


def compare_runs(run_dirs: list[Any], plot: Any = None) -> list[dict[str, Any]]:
    """``ppo-jax compare``: the final returns of each run folder's rows (seeds, sweep rows or
    PBT members), summarised with the IQM and its 95% bootstrap CI, the mean, and the
    probability that a row of each run beats a row of the FIRST run (with its CI). ``plot``:
    also write performance profiles (fraction of rows above each return) to this PNG file.
    All folders must hold the same environment; ``ValueError`` naming the folder otherwise."""
    if not run_dirs:
        raise ValueError("give at least one run folder to compare")
    names: list[str] = []
    scores: dict[str, np.ndarray] = {}
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
        while name in scores:
            name += "'"
        names.append(name)
        scores[name] = final_return(run.metrics)
    iqms = iqm_with_ci(scores)
    rows = []
    for name in names:
        p_improve = probability_of_improvement(scores[name], scores[names[0]])
        values = scores[name][np.isfinite(scores[name])]
        rows.append(
            {
                "run": name,
                "rows": int(scores[name].size),
                "iqm": iqms[name][0],
                "iqm_ci_low": iqms[name][1],
                "iqm_ci_high": iqms[name][2],
                "mean": float(values.mean()) if values.size else float("nan"),
                "p_improve": p_improve[0],
                "p_improve_low": p_improve[1],
                "p_improve_high": p_improve[2],
            }
        )
    if plot is not None:
        finite = np.concatenate([v[np.isfinite(v)] for v in scores.values()])
        if finite.size:
            taus = np.linspace(finite.min(), finite.max(), 101)
            profiles, bands = performance_profiles(scores, taus)
            fig = performance_profile_figure(taus, profiles, bands, f"{env_name}: final return")
            save_figure(fig, Path(plot))
    return rows
