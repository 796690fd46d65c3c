"""The console: live progress (a tqdm bar on a terminal, or one line per report) and the result
tables the command line prints.

A :class:`ProgressPrinter` is a listener of :mod:`ppo_jax.run.progress` events, which the drivers
send between compiled segments of updates.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

PROGRESS_STYLES = ("auto", "bar", "lines", "none")
BAR_POINTS = 25
"""Progress reports per run when a bar is shown."""
LINE_POINTS = 10
"""Progress lines printed per run."""


def resolve_style(style: str | None) -> str:
    """``bar`` on an interactive terminal, else ``lines``, for ``"auto"``; ``none`` for
    ``None``; other styles as they are (``ValueError`` for an unknown one)."""
    if style is None:
        return "none"
    if style not in PROGRESS_STYLES:
        raise ValueError(f"progress must be one of {PROGRESS_STYLES} or a callable, got {style!r}")
    if style == "auto":
        return "bar" if sys.stderr.isatty() else "lines"
    return style


def report_every(num_updates: int, style: str) -> int:
    """Updates between progress reports: about ``BAR_POINTS`` or ``LINE_POINTS`` per run; 0
    when no progress is shown."""
    if style == "none":
        return 0
    points = BAR_POINTS if style == "bar" else LINE_POINTS
    return max(1, math.ceil(num_updates / points))


class ProgressPrinter:
    """Prints progress events of ``num_runs`` runs as a bar or as lines."""

    def __init__(
        self,
        num_runs: int,
        num_updates: int,
        style: str,
        unit: str = "seeds",
        steps_done: int = 0,
    ) -> None:
        self.num_runs, self.num_updates, self.style, self.unit = num_runs, num_updates, style, unit
        self.start = time.perf_counter()
        self.steps_done = steps_done
        self.bar: Any = None
        if style == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=num_updates, unit="update", dynamic_ncols=True, leave=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, event: Any) -> None:
        if self.style == "none":
            return
        finite = np.asarray(event.returns)[np.isfinite(event.returns)]
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = (event.env_steps - self.steps_done) * self.num_runs / elapsed
        ended = f"{finite.size}/{self.num_runs} {self.unit}"
        if self.bar is not None:
            self.bar.n = event.update
            self.bar.set_postfix_str(
                (f"return {finite.mean():.1f} ({ended})" if finite.size else "return n/a")
                + _evaluated(event),
                refresh=False,
            )
            self.bar.set_description(f"{rate:,.0f} env-steps/s", refresh=False)
            self.bar.refresh()
            return
        ret = (
            f"return {finite.mean():7.1f} +- {finite.std():5.1f}"
            if finite.size
            else "return     n/a (no episode ended)"
        )
        print(
            f"  update {event.update:>5}/{event.num_updates}  env-steps {event.env_steps:>10,}  "
            f"{ret}  ({ended}){_evaluated(event)}  {rate:>9,.0f} env-steps/s  {elapsed:6.1f}s",
            flush=True,
        )


def _evaluated(event: Any) -> str:
    """`` eval R`` (the mean of the runs' latest evaluations in the segment), or nothing."""
    values = getattr(event, "eval_returns", None)
    if values is None:
        return ""
    finite = np.asarray(values)[np.isfinite(values)]
    return f"  eval {finite.mean():7.1f}" if finite.size else "  eval     n/a"


# --------------------------------------------------------------------------- result tables
def print_train_table(
    result: Any,
    iqm: tuple[float, float, float] | None = None,
    absolute_iqm: tuple[float, float, float] | None = None,
) -> None:
    """The table of a train run: one row per seed, then totals and ``iqm`` (IQM, CI low, CI
    high) of the final returns; for a run that evaluated during training, each run's best
    evaluation and the absolute metric (``absolute_iqm``: its IQM and CI)."""
    from ppo_jax.io.tuned import target

    threshold = target(result.config.env_name)
    solved_head = f"solved(>={threshold:g})" if threshold is not None else "solved"
    head = (
        f"{'seed':>5}  {'final return':>12}  {solved_head:>14}  {'steps to solve':>14}  "
        f"{'wall s':>7}  {'env-steps/s':>11}  {'compile s':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in result.summary:
        solved = "-" if r["solved"] is None else ("yes" if r["solved"] else "no")
        steps = r["steps_to_solve"]
        steps_text = "-" if steps is None or steps < 0 else f"{steps:,}"
        print(
            f"{r['seed']:>5}  {_num(r['final_return']):>12.1f}  {solved:>14}  {steps_text:>14}  "
            f"{_num(r['wall_s']):>7.1f}  {_num(r['env_steps_per_s']):>11,.0f}  "
            f"{_num(r['compile_s']):>9.1f}"
        )
    finals = np.asarray([_num(r["final_return"]) for r in result.summary], np.float64)
    first = result.summary[0] if result.summary else {}
    mean = f"{np.mean(finals):.1f} +- {np.std(finals):.1f}" if np.isfinite(finals).all() else "n/a"
    rate = _num(first.get("env_steps_per_s")) * len(result.seeds)
    print(
        f"mean final return {mean} over {len(result.seeds)} seed(s); {rate:,.0f} env-steps/s "
        f"in total; compile {_num(first.get('compile_s')):.1f}s, run "
        f"{_num(first.get('run_s')):.1f}s"
    )
    if iqm is not None and np.isfinite(iqm[0]):
        print(
            f"final return IQM {iqm[0]:.1f} [95% CI {iqm[1]:.1f}, {iqm[2]:.1f}] "
            "(stratified bootstrap)"
        )
    _print_absolute(result.summary, absolute_iqm)
    out = result.out_dir
    print(f"wrote {out / 'metrics.csv'}, {out / 'results.json'}, {out / 'learning_curves.png'}")


def _print_absolute(rows: list[dict[str, Any]], iqm: tuple[float, float, float] | None) -> None:
    """Each run's best evaluation during training, the absolute metric (its parameters
    re-evaluated) and the steps it took, when the run evaluated; then the absolute IQM."""
    if not rows or "absolute_return" not in rows[0]:
        return
    label = next(k for k in ("seed", "member") if k in rows[0])
    print(f"{label:>6}  {'best eval':>9}  {'at update':>9}  {'absolute':>9}  {'env steps':>11}")
    for r in rows:
        print(
            f"{r[label]:>6}  {_num(r['best_eval_return']):>9.1f}  {r['best_eval_update']:>9}  "
            f"{_num(r['absolute_return']):>9.1f}  {r['env_steps']:>11,}"
        )
    if iqm is not None and np.isfinite(iqm[0]):
        print(
            f"absolute metric (best parameters re-evaluated) IQM {iqm[0]:.1f} "
            f"[95% CI {iqm[1]:.1f}, {iqm[2]:.1f}]"
        )


def _num(value: Any) -> float:
    """A number from a summary (``null`` in JSON, for NaN, becomes NaN)."""
    return float("nan") if value is None else float(value)


def print_sweep_table(ranked: list[dict[str, Any]], fields: list[str]) -> None:
    head = (
        f"{'rank':>4}  "
        + "  ".join(f"{f:>13}" for f in fields)
        + f"  {'final return':>17}  {'IQM [95% CI]':>24}  {'solved':>7}  {'steps to solve':>14}"
    )
    print(head)
    print("-" * len(head))
    for rank, r in enumerate(ranked, 1):
        solved = "-" if r["solved_fraction"] is None else f"{100 * r['solved_fraction']:.0f}%"
        steps = r["median_steps_to_solve"]
        steps_text = "-" if steps is None else f"{steps:,.0f}"
        ret = f"{r['final_return_mean']:.1f} +- {r['final_return_std']:.1f}"
        iqm = f"{r['iqm']:.1f} [{r['iqm_ci_low']:.1f}, {r['iqm_ci_high']:.1f}]"
        print(
            f"{rank:>4}  "
            + "  ".join(f"{r[f]:>13.4g}" for f in fields)
            + f"  {ret:>17}  {iqm:>24}  {solved:>7}  {steps_text:>14}"
        )


def print_pbt_table(result: Any, final: np.ndarray, iqm: tuple[float, float, float]) -> None:
    """The table of a PBT run: members by ``final`` return, how often each copied another, its
    last searched hyperparameters; then the ``iqm`` (IQM, CI low, CI high) over members."""
    searched = [k for k, v in result.metrics.items() if k.startswith("hp/") and np.ptp(v) > 0]
    copies = (result.metrics["pbt/parent"] != np.arange(len(result.seeds))[:, None]).sum(1)
    head = f"{'member':>6}  {'final return':>12}  {'copied':>6}  " + "  ".join(
        f"{k[3:]:>13}" for k in searched
    )
    print(head + "\n" + "-" * len(head))
    for m in np.argsort(-np.nan_to_num(final, nan=-np.inf)):
        values = "  ".join(f"{result.metrics[k][m, -1]:>13.4g}" for k in searched)
        print(f"{m:>6}  {final[m]:>12.1f}  {copies[m]:>6}  {values}")
    print(
        f"final return over {len(final)} members: IQM {iqm[0]:.1f} [95% CI {iqm[1]:.1f}, "
        f"{iqm[2]:.1f}]"
        f"; best member {int(np.nanargmax(final))}"
    )
    print(f"wrote {result.out_dir} (metrics.csv, results.json, hyperparameters.png)")


def print_compare_table(rows: list[dict[str, Any]]) -> None:
    """``ppo-jax compare``: each run folder's IQM [95% CI], mean, and P(run > the first)."""
    head = (
        f"{'run':<28}  {'rows':>4}  {'IQM [95% CI]':>24}  {'mean':>8}  "
        f"{'P(run > ' + rows[0]['run'][:12] + ') [95% CI]':>36}"
    )
    print(head + "\n" + "-" * len(head))
    for r in rows:
        iqm = f"{r['iqm']:.1f} [{r['iqm_ci_low']:.1f}, {r['iqm_ci_high']:.1f}]"
        poi = f"{r['p_improve']:.2f} [{r['p_improve_low']:.2f}, {r['p_improve_high']:.2f}]"
        print(f"{r['run'][:28]:<28}  {r['rows']:>4}  {iqm:>24}  {r['mean']:>8.1f}  {poi:>36}")
