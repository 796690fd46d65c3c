"""Learning-curve figures (matplotlib, Agg backend), and the plots of a run folder (written
through :mod:`ppo_jax.io.rundir`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ppo_jax.io.rundir import (
    DIAGNOSTICS,
    HYPERPARAMETERS_PLOT,
    LEARNING_CURVES,
    RunResult,
    write_figure,
)

MAX_CURVES = 12
"""Most curves drawn in one learning-curve figure (best final returns first)."""


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display), imported on first use
    so that importing ppo_jax does not load matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forward_fill(returns: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward along the last axis (updates without a completed
    episode report NaN); leading NaNs stay NaN."""
    out = np.array(returns, np.float64)
    flat = out.reshape(-1, out.shape[-1])
    for row in flat:
        last = np.nan
        for u in range(row.shape[0]):
            if np.isnan(row[u]):
                row[u] = last
            else:
                last = row[u]
    return out


def iqm_and_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``values [runs, updates]`` (forward-filled) -> per update, the IQM over the runs with a
    finite value and the band of the runs it averages: from the lowest to the highest of the
    middle half (``floor(k / 4)`` of the ``k`` finite runs cut from each end; all of them
    below 4 runs). The band never leaves the range the runs reached. NaN where no run has a
    value."""
    filled = forward_fill(values)
    ordered = np.sort(np.where(np.isnan(filled), np.inf, filled), axis=0)  # NaN (inf) last
    finite = np.isfinite(filled).sum(axis=0)
    cut = finite // 4
    rank = np.arange(ordered.shape[0])[:, None]
    kept = (rank >= cut) & (rank < finite - cut)
    total = np.where(kept, ordered, 0.0).sum(axis=0)
    some = finite > 0
    iqm = np.where(some, total / np.maximum(kept.sum(axis=0), 1), np.nan)
    last = ordered.shape[0] - 1
    low = np.take_along_axis(ordered, np.minimum(cut, last)[None], axis=0)[0]
    high = np.take_along_axis(ordered, np.clip(finite - 1 - cut, 0, last)[None], axis=0)[0]
    return iqm, np.where(some, low, np.nan), np.where(some, high, np.nan)


BAND_LABEL = "shaded: the middle half of the runs (those the IQM averages)"
"""The legend entry of every band: what the shading spans."""


def trained_columns(env_steps: np.ndarray) -> np.ndarray:
    """``bool [updates]``: the updates some run trained, whose env steps (``[updates]``, the
    largest over runs) exceed every earlier update's. Updates after every run stopped at
    ``stop_at_return`` keep the last count (earlier versions logged 0) and are not drawn."""
    steps = np.asarray(env_steps)
    before = np.maximum.accumulate(np.concatenate([[0], steps[:-1]])) if steps.size else steps
    return steps > before


def learning_curves(
    env_steps: np.ndarray,
    returns_by_curve: Sequence[np.ndarray],
    labels: Sequence[str],
    title: str,
    threshold: float | None = None,
    eval_returns: np.ndarray | None = None,
) -> Any:
    """One line per curve: the IQM over its runs of the return of the episodes that ended in
    each update, shaded over the middle half of the runs (:func:`iqm_and_band`).
    ``returns_by_curve[i]`` is ``[runs, updates]``; ``env_steps`` is ``[updates]`` (updates
    no run trained are left out: :func:`trained_columns`). ``eval_returns`` ``[runs,
    updates]`` (NaN where no evaluation ran): the evaluation curve beside them, its points at
    the updates that evaluated."""
    import warnings

    from matplotlib.patches import Patch

    from ppo_jax.io.stats import format_number

    plt = pyplot()
    drawn = trained_columns(np.asarray(env_steps))
    x_all = np.asarray(env_steps)[drawn]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before any episode
        for returns, label in zip(returns_by_curve, labels, strict=True):
            iqm, low, high = iqm_and_band(np.asarray(returns)[:, drawn])
            (line,) = ax.plot(x_all, iqm, label=label, linewidth=1.6)
            ax.fill_between(x_all, low, high, color=line.get_color(), alpha=0.2)
        if eval_returns is not None:
            evaluated = np.isfinite(np.asarray(eval_returns)).any(axis=0) & drawn
            if evaluated.any():
                iqm, low, high = iqm_and_band(np.asarray(eval_returns)[:, evaluated])
                x = np.asarray(env_steps)[evaluated]
                (line,) = ax.plot(
                    x, iqm, "o-", label="evaluation (IQM)", linewidth=1.6, markersize=3
                )
                ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
    if threshold is not None:
        ax.axhline(
            threshold,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"target ({format_number(threshold)})",
        )
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color="grey", alpha=0.2, label=BAND_LABEL))
    ax.set_xlabel("environment steps (per run)")
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
    ax.set_ylabel("return of the episodes that ended in each update\n(IQM over runs)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="best")
    fig.tight_layout()
    return fig


DIAGNOSTIC_PANELS = (
    ("episode_return", "episode return"),
    ("policy_loss", "policy loss"),
    ("value_loss", "value loss"),
    ("entropy", "entropy"),
    ("approx_kl", "approx. KL"),
    ("clip_fraction", "clip fraction"),
    ("explained_variance", "explained variance"),
    ("learning_rate", "learning rate"),
)


def diagnostics_figure(metrics: dict[str, np.ndarray], title: str) -> Any:
    """A grid of panels (return, losses, entropy, KL, clip fraction, explained variance,
    learning rate) vs env steps; each the IQM over runs, shaded over the middle half of the
    runs (:func:`iqm_and_band`). Arrays are ``[runs, updates]``."""
    import warnings

    plt = pyplot()

    fig, axes = plt.subplots(2, 4, figsize=(14, 6), dpi=100)
    steps = update_steps(metrics)
    drawn = trained_columns(steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for ax, (name, label) in zip(axes.flat, DIAGNOSTIC_PANELS, strict=True):
            if name not in metrics:
                ax.set_visible(False)
                continue
            iqm, low, high = iqm_and_band(np.asarray(metrics[name], np.float64)[:, drawn])
            ax.plot(steps[drawn], iqm, linewidth=1.4)
            ax.fill_between(steps[drawn], low, high, alpha=0.25)
            ax.set_title(label, fontsize=10)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=8)
    fig.suptitle(f"{title} (IQM over runs, shaded: their middle half; x: env steps)")
    fig.tight_layout()
    return fig


def hyperparameter_trajectories(
    env_steps: np.ndarray,
    returns: np.ndarray,
    hyperparams: Mapping[str, np.ndarray],
    title: str,
) -> Any:
    """Population-based training: one panel of every member's return and one per
    hyperparameter that varies, each member a line (``[members, updates]`` arrays; ``env_steps``
    ``[updates]``). Hyperparameters spanning over a decade are drawn on a log axis."""
    import warnings

    plt = pyplot()

    varying = {
        k: np.asarray(v, np.float64) for k, v in hyperparams.items() if np.nanmax(v) > np.nanmin(v)
    }
    panels = [("episode return", forward_fill(np.asarray(returns))), *varying.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), dpi=100)
    axes = np.atleast_1d(axes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for ax, (name, values) in zip(axes, panels, strict=True):
            for m, row in enumerate(values):
                ax.plot(env_steps, row, linewidth=1.0, color=f"C{m % 10}")
            positive = np.all(values > 0)
            if name != "episode return" and positive and values.max() > 10 * values.min():
                ax.set_yscale("log")
            ax.set_title(name, fontsize=10)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=8)
    fig.suptitle(f"{title} (one line per member; x: env steps)")
    fig.tight_layout()
    return fig


def performance_profile_figure(
    taus: np.ndarray,
    profiles: Mapping[str, np.ndarray],
    bands: Mapping[str, np.ndarray],
    xlabel: str,
) -> Any:
    """Run-score performance profiles (Agarwal et al. 2021): for each group, the fraction of
    runs scoring above ``tau`` with its 95% bootstrap band (``bands[name]`` is ``[2, taus]``)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, profile in profiles.items():
        (line,) = ax.plot(taus, profile, label=name, linewidth=1.6)
        ax.fill_between(taus, bands[name][0], bands[name][1], color=line.get_color(), alpha=0.2)
    ax.set_xlabel(xlabel + " (tau)")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def save_episode_gif(config: Any, states: list[Any], returns: list[float], path: Any) -> None:
    """An episode (pre-reset states and cumulative returns) drawn by gymnax's ``Visualizer``
    into the GIF file ``path``."""
    from gymnax.visualize import Visualizer

    from ppo_jax.core.envs import make_env

    env, env_params = make_env(config)
    Visualizer(env, env_params, states, returns).animate(str(path))


def save_figure(fig: Any, path: Path) -> None:
    """Write a matplotlib figure to ``path`` (via a temporary file) and free it; an
    ``OSError`` becomes ``ppo_jax.io.rundir.OutputError`` naming the file."""
    write_figure(path.parent, path.name, fig)


def update_steps(metrics: Mapping[str, np.ndarray]) -> np.ndarray:
    """``[updates]`` environment steps at each update (the largest over rows: a run stopped at
    ``stop_at_return`` keeps the count it stopped at)."""
    return np.max(np.asarray(metrics["env_steps"]), axis=0)


def write_run_plots(
    out: Path,
    title: str,
    metrics: Mapping[str, np.ndarray],
    threshold: float | None,
    curves: Sequence[tuple[str, np.ndarray]] | None = None,
) -> list[Path]:
    """``learning_curves.png`` (return vs env steps, the IQM over rows shaded over their
    middle half; one curve per entry of ``curves`` when given) and ``diagnostics.png``
    (losses, entropy, KL, clip fraction, explained variance, learning rate). ``metrics``
    arrays are ``[rows, updates]``."""
    rows = np.asarray(metrics["episode_return"]).shape[0]
    curves = curves or [(f"IQM of {rows} run(s)", np.asarray(metrics["episode_return"]))]
    evaluations = metrics.get("eval_return")
    fig = learning_curves(
        update_steps(metrics),
        [c for _, c in curves],
        [label for label, _ in curves],
        f"{title}: episode return",
        threshold,
        None if evaluations is None else np.asarray(evaluations),
    )
    return [
        write_figure(out, LEARNING_CURVES, fig),
        write_figure(out, DIAGNOSTICS, diagnostics_figure(dict(metrics), title)),
    ]


MAX_PLOTTED = 10
"""Settings drawn in a sweep's learning-curve plot (best IQM first)."""


def setting_curves(
    metrics: Mapping[str, np.ndarray],
    row_settings: Sequence[Mapping[str, float]],
    ranked: Sequence[Mapping[str, Any]] | None = None,
) -> list[tuple[str, np.ndarray]]:
    """One ``(label, returns [seeds, updates])`` curve per setting of a sweep's rows (a
    setting spelled out), best first by ``ranked`` (``sweep.csv``'s rows, with their final
    IQM, its interval and n in the label) when given; at most ``MAX_PLOTTED``."""
    from ppo_jax.core.search import setting_label
    from ppo_jax.io.console import interval_cell
    from ppo_jax.io.stats import IQM_MIN_RUNS, Interval

    labels = [setting_label(s) for s in row_settings]
    distinct = list(dict.fromkeys(labels))
    order = distinct
    notes: dict[str, str] = {}
    if ranked:
        order = [distinct[int(r["setting"])] for r in ranked if int(r["setting"]) < len(distinct)]
        for r in ranked:
            if int(r["setting"]) >= len(distinct) or r.get("iqm") is None:
                continue
            n = int(r.get("n", r.get("seeds", 0)))
            interval = Interval(
                _number(r["iqm"]),
                _number(r.get("iqm_ci_low")),
                _number(r.get("iqm_ci_high")),
                (n,),
                str(r.get("iqm_method", "")),
                IQM_MIN_RUNS,
            )
            notes[distinct[int(r["setting"])]] = f": final IQM {interval_cell(interval)}, n={n}"
    returns = np.asarray(metrics["episode_return"])
    return [
        (label + notes.get(label, ""), returns[np.asarray([lab == label for lab in labels])])
        for label in order[:MAX_PLOTTED]
    ]


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def write_pbt_plots(out: Path, result: RunResult) -> Path:
    """``hyperparameters.png``: each member's return and searched hyperparameters over
    training."""
    fig = hyperparameter_trajectories(
        update_steps(result.metrics),
        result.metrics["episode_return"],
        {k[3:]: v for k, v in result.metrics.items() if k.startswith("hp/")},
        f"{result.config.env_name}: PBT, {len(result.seeds)} members",
    )
    return write_figure(out, HYPERPARAMETERS_PLOT, fig)


def replot(run_dir: Path | str) -> list[Path]:
    """Write the plots of a run folder again from its metrics alone (``load_run(...,
    params=False)``: no checkpoint is needed); returns the files written."""
    from ppo_jax.io.runload import load_run
    from ppo_jax.io.stats import solved_threshold

    out = Path(run_dir)
    run = load_run(out, params=False)
    if not run.metrics:
        raise ValueError(f"{str(run_dir)!r} holds no metrics yet: nothing to plot")
    threshold = solved_threshold(run.config.env_name)
    curves = None
    if run.kind == "sweep" and run.settings:
        curves = setting_curves(run.metrics, run.settings, _ranked_of(out))
    written = write_run_plots(out, run.config.env_name, run.metrics, threshold, curves)
    if run.kind == "pbt":
        written.append(write_pbt_plots(out, run))
    return written


def _ranked_of(out: Path) -> list[dict[str, Any]] | None:
    """A sweep folder's ranking as ``results.json`` records it (``None`` without)."""
    from ppo_jax.io.rundir import RESULTS_FILE
    from ppo_jax.io.runload import read_json

    path = out / RESULTS_FILE
    if not path.is_file():
        return None
    ranked = read_json(path, "results").get("ranked")
    return [r for r in ranked if isinstance(r, dict)] if isinstance(ranked, list) else None
