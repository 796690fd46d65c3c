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

from ppo_jax.io.stats import (
    IMPROVEMENT_METHOD,
    IMPROVEMENT_MIN_RUNS,
    IQM_METHOD,
    IQM_MIN_RUNS,
    SOLVED_DEFINITION,
    Interval,
    final_return,
    format_interval,
    format_number,
    iqm_interval,
)

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
        self.headed = False
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
                (
                    f"return {format_number(finite.mean())} ({ended})"
                    if finite.size
                    else "return n/a"
                )
                + _evaluated(event),
                refresh=False,
            )
            self.bar.set_description(f"{rate:,.0f} env-steps/s in total", refresh=False)
            self.bar.refresh()
            return
        if not self.headed:
            self.headed = True
            evaluates = getattr(event, "eval_returns", None) is not None
            print(progress_header(self.unit, evaluates), flush=True)
        ret = (
            f"return {format_number(finite.mean()):>8} +- {format_number(finite.std()):>7}"
            if finite.size
            else "return      n/a (no episode ended)"
        )
        print(
            f"  update {event.update:>5}/{event.num_updates}  env-steps {event.env_steps:>10,}  "
            f"{ret}  ({ended}){_evaluated(event)}  {rate:>9,.0f} env-steps/s in total  "
            f"{elapsed:6.1f}s",
            flush=True,
        )


def progress_header(unit: str, evaluates: bool = False) -> str:
    """The line printed before the first progress line: what each column is."""
    evaluation = "eval: the mean of the latest evaluations, " if evaluates else ""
    return (
        f"  progress: updates done, env steps per run, return: mean +- std over the {unit} of "
        f"the return of their episodes that ended since the last line (how many {unit} had "
        f"one), {evaluation}env-steps/s in total over all {unit}, seconds"
    )


def _evaluated(event: Any) -> str:
    """`` eval R`` (the mean of the runs' latest evaluations in the segment), or nothing."""
    values = getattr(event, "eval_returns", None)
    if values is None:
        return ""
    finite = np.asarray(values)[np.isfinite(values)]
    return f"  eval {format_number(finite.mean()):>8}" if finite.size else "  eval      n/a"


# --------------------------------------------------------------------------- result tables
def interval_cell(interval: Interval, probability: bool = False) -> str:
    """A table cell: ``point [low, high]``, or ``point (no CI)`` below the runs its method
    needs (the table's footnote, :func:`interval_note`, says why)."""
    show = (lambda v: f"{v:.2f}") if probability else format_number
    if not np.isfinite(interval.point):
        return "n/a"
    if not interval.reliable:
        return f"{show(interval.point)} (no CI)"
    return f"{show(interval.point)} [{show(interval.low)}, {show(interval.high)}]"


def interval_note(what: str, intervals: list[Interval]) -> str:
    """The footnote of a column of intervals: level, method, n, and why some have none."""
    if not intervals:
        return ""
    first = intervals[0]
    sizes = sorted({i.n for i in intervals})
    n = f"n={sizes[0]}" if len(sizes) == 1 else f"n={sizes[0]}..{sizes[-1]}"
    note = f"{what}: {100 * first.confidence:g}% CI by the {first.method}, {n} runs"
    if any(not i.reliable for i in intervals):
        note += (
            f"; no CI below n={first.min_runs}, where its measured coverage falls short "
            "(docs: Statistics)"
        )
    return note


def print_train_table(result: Any) -> None:
    """The table of a train run: one row per seed (final return, solved, steps to solve,
    whether it stopped at ``stop_at_return``, timings, env-steps/s per seed), then the
    totals, the IQM of the final returns with its interval, the definition of "solved"; for a
    run that evaluated during training, each run's best evaluation and the absolute metric."""
    from ppo_jax.io.tuned import target

    rows = result.summary
    threshold = target(result.config.env_name)
    stopping = result.config.stop_at_return is not None
    solved_head = f"solved(>={format_number(threshold)})" if threshold is not None else "solved"
    head = (
        f"{'seed':>5}  {'final return':>12}  {solved_head:>14}  {'steps to solve':>14}  "
        + (f"{'stopped':>7}  " if stopping else "")
        + f"{'wall s':>7}  {'env-steps/s per seed':>20}  {'compile s':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        solved = "-" if r["solved"] is None else ("yes" if r["solved"] else "no")
        steps = r["steps_to_solve"]
        steps_text = "-" if steps is None or steps < 0 else f"{steps:,}"
        stopped = ("yes" if r.get("stopped") else "no") if stopping else ""
        print(
            f"{r['seed']:>5}  {format_number(r['final_return']):>12}  {solved:>14}  "
            f"{steps_text:>14}  "
            + (f"{stopped:>7}  " if stopping else "")
            + f"{format_number(r['wall_s']):>7}  {_num(r['env_steps_per_s']):>20,.0f}  "
            f"{format_number(r['compile_s']):>9}"
        )
    finals = np.asarray([_num(r["final_return"]) for r in rows], np.float64)
    first = rows[0] if rows else {}
    mean = (
        f"{format_number(np.mean(finals))} +- {format_number(np.std(finals))}"
        if finals.size and np.isfinite(finals).all()
        else "n/a"
    )
    count = len(result.seeds)
    solved_text = ""
    if threshold is not None:
        solved_text = f"; solved {sum(bool(r['solved']) for r in rows)} of {count}"
    print(f"mean final return {mean} over {count} seed(s){solved_text}")
    if stopping:
        print(
            f"stopped at stop_at_return={result.config.stop_at_return} (an "
            "evaluation's mean return reached it; the 'stopped' column): "
            f"{sum(bool(r.get('stopped')) for r in rows)} of {count}"
        )
    rate = _num(first.get("env_steps_per_s"))
    if np.isfinite(rate):
        print(
            f"throughput: {rate:,.0f} env-steps/s per seed, {rate * count:,.0f} in total over "
            f"{count} seed(s); compile {format_number(_num(first.get('compile_s')))}s, run "
            f"{format_number(_num(first.get('run_s')))}s"
        )
    else:  # resumed after its last update: this session trained nothing
        print("throughput: n/a (every update was trained before this session)")
    if result.metrics:
        print(f"final return IQM {format_interval(iqm_interval(final_return(result.metrics)))}")
    if threshold is not None:
        print(SOLVED_DEFINITION)
    _print_absolute(rows)
    out = result.out_dir
    print(f"wrote {out / 'metrics.csv'}, {out / 'results.json'}, {out / 'learning_curves.png'}")


def _print_absolute(rows: list[dict[str, Any]]) -> None:
    """Each run's best evaluation during training, the absolute metric (its parameters
    re-evaluated) and the steps it took, when the run evaluated; then the absolute IQM."""
    if not rows or "absolute_return" not in rows[0]:
        return
    label = next(k for k in ("seed", "member") if k in rows[0])
    print(f"{label:>6}  {'best eval':>9}  {'at update':>9}  {'absolute':>9}  {'env steps':>11}")
    for r in rows:
        print(
            f"{r[label]:>6}  {format_number(r['best_eval_return']):>9}  "
            f"{r['best_eval_update']:>9}  {format_number(r['absolute_return']):>9}  "
            f"{r['env_steps']:>11,}"
        )
    absolute = np.asarray([_num(r.get("absolute_return")) for r in rows], np.float64)
    if np.isfinite(absolute).any():
        print(
            "absolute metric (best parameters re-evaluated) IQM "
            + format_interval(iqm_interval(absolute))
        )


def _num(value: Any) -> float:
    """A number from a summary (``null`` in JSON, for NaN, becomes NaN)."""
    return float("nan") if value is None else float(value)


def print_sweep_table(ranked: list[dict[str, Any]], fields: list[str]) -> None:
    """``ppo-jax sweep``: the settings ranked by the IQM of their seeds' final returns, with
    its interval, the share of seeds that solved and the median steps to solve; then the
    footnotes (interval method and n, the definition of solved)."""
    head = (
        f"{'rank':>4}  "
        + "  ".join(f"{f:>13}" for f in fields)
        + f"  {'n':>3}  {'final return':>19}  {'IQM [95% CI]':>26}  {'solved':>7}  "
        f"{'steps to solve':>14}"
    )
    print(head)
    print("-" * len(head))
    intervals = []
    for rank, r in enumerate(ranked, 1):
        n, seeds = r.get("n", 0), r.get("seeds", r.get("n", 0))
        fraction = r["solved_fraction"]
        solved = "-" if fraction is None else f"{round(fraction * seeds)}/{seeds}"
        steps = r["median_steps_to_solve"]
        steps_text = "-" if steps is None else f"{steps:,.0f}"
        ret = f"{format_number(r['final_return_mean'])} +- {format_number(r['final_return_std'])}"
        interval = _row_interval(r)
        intervals.append(interval)
        print(
            f"{rank:>4}  "
            + "  ".join(f"{r[f]:>13.4g}" for f in fields)
            + f"  {n:>3}  {ret:>19}  {interval_cell(interval):>26}  {solved:>7}  "
            f"{steps_text:>14}"
        )
    print(interval_note("IQM [95% CI] of the final returns of each setting's seeds", intervals))
    print(
        "final return: mean +- std over the setting's seeds; solved: seeds that solved / seeds; "
        "steps to solve: median over the seeds that solved"
    )
    print(SOLVED_DEFINITION)


def _row_interval(row: dict[str, Any]) -> Interval:
    n = int(row.get("n", 0))
    return Interval(
        _num(row["iqm"]),
        _num(row["iqm_ci_low"]),
        _num(row["iqm_ci_high"]),
        (n,),
        str(row.get("iqm_method", IQM_METHOD)),
        IQM_MIN_RUNS,
    )


def print_pbt_table(result: Any, final: np.ndarray) -> None:
    """The table of a PBT run: members by ``final`` return, how often each copied another, its
    last searched hyperparameters; then the IQM over members with its interval."""
    searched = [k for k, v in result.metrics.items() if k.startswith("hp/") and np.ptp(v) > 0]
    copies = (result.metrics["pbt/parent"] != np.arange(len(result.seeds))[:, None]).sum(1)
    head = f"{'member':>6}  {'final return':>12}  {'copied':>6}  " + "  ".join(
        f"{k[3:]:>13}" for k in searched
    )
    print(head + "\n" + "-" * len(head))
    for m in np.argsort(-np.nan_to_num(final, nan=-np.inf)):
        values = "  ".join(f"{result.metrics[k][m, -1]:>13.4g}" for k in searched)
        print(f"{m:>6}  {format_number(final[m]):>12}  {copies[m]:>6}  {values}")
    best = int(np.nanargmax(final)) if np.isfinite(final).any() else "n/a"
    print(
        f"final return over {len(final)} members: IQM {format_interval(iqm_interval(final))}"
        f"; best member {best}"
    )
    print(f"wrote {result.out_dir} (metrics.csv, results.json, hyperparameters.png)")


def print_compare_table(rows: list[dict[str, Any]]) -> None:
    """``ppo-jax compare``: one row per run folder, or per setting of a sweep folder: its
    number of runs, IQM [95% CI], mean, and the probability that one of its runs beats one of
    the baseline's, with its interval; then the footnotes (methods, n, the baseline)."""
    base = rows[0]["baseline"] if rows else ""
    width = max([28, *(len(r["run"]) for r in rows)])  # labels whole: the setting spelled out
    head = (
        f"{'#':>3}  {'run':<{width}}  {'n':>3}  {'IQM [95% CI]':>26}  {'mean':>9}  "
        f"{'P(run > baseline) [95% CI]':>27}"
    )
    print(head + "\n" + "-" * len(head))
    for i, r in enumerate(rows, 1):
        iqm = interval_cell(r["iqm_interval"])
        poi = interval_cell(r["improvement"], probability=True)
        mark = "  (baseline)" if r["run"] == base else ""
        print(
            f"{i:>3}  {r['run']:<{width}}  {r['rows']:>3}  {iqm:>26}  "
            f"{format_number(r['mean']):>9}  {poi:>27}{mark}"
        )
    print(
        interval_note("IQM [95% CI] of each row's final returns", [r["iqm_interval"] for r in rows])
    )
    improvements = [r["improvement"] for r in rows]
    print(
        f"P(run > baseline): the probability that a run of the row scores a higher final return "
        f"than a run of the baseline, #{[r['run'] for r in rows].index(base) + 1} {base!r} (ties "
        f"count half); 95% CI by the {IMPROVEMENT_METHOD}, n = the row's runs vs the baseline's"
        + (
            f"; no CI below {IMPROVEMENT_MIN_RUNS} runs per group"
            if any(not i.reliable for i in improvements)
            else ""
        )
    )


def print_eval_table(
    results: list[dict[str, Any]], updates: list[int], num_updates: int, summary: Interval
) -> None:
    """``ppo-jax eval``: per seed, the update its parameters come from and the mean, std, min
    and max return of its episodes; then the IQM over seeds of their mean returns."""
    head = (
        f"{'seed':>5}  {'parameters':>16}  {'mean return':>11}  {'std':>9}  {'min':>9}  {'max':>9}"
    )
    print(head + "\n" + "-" * len(head))
    for row, update in zip(results, updates, strict=True):
        r = np.asarray(row["returns"], np.float64)
        stats = "  ".join(
            f"{format_number(v):>{w}}" for v, w in ((r.mean(), 11), (r.std(), 9), (r.min(), 9))
        )
        where = f"update {update}/{num_updates}"
        print(f"{row['seed']:>5}  {where:>16}  {stats}  {format_number(r.max()):>9}")
    print(f"over seeds: IQM of the seeds' mean returns {format_interval(summary)}")
