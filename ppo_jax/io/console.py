"""Live progress on a console: a progress bar (tqdm) on a terminal, or one line per report.

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
                f"return {finite.mean():.1f} ({ended})" if finite.size else "return n/a",
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
            f"{ret}  ({ended})  {rate:>9,.0f} env-steps/s  {elapsed:6.1f}s",
            flush=True,
        )
