"""ppo_jax.io.console: progress styles and the printed progress lines."""

from __future__ import annotations

import numpy as np
import pytest

from ppo_jax.io.console import ProgressPrinter, report_every, resolve_style
from ppo_jax.run.progress import ProgressEvent


def test_styles_and_report_intervals():
    assert resolve_style(None) == "none"
    assert resolve_style("auto") in ("bar", "lines")
    assert resolve_style("lines") == "lines"
    with pytest.raises(ValueError, match="progress must be one of"):
        resolve_style("fancy")
    assert report_every(128, "lines") == 13 and report_every(128, "bar") == 6
    assert report_every(128, "none") == 0 and report_every(3, "lines") == 1


def test_lines_show_the_mean_over_runs_that_finished_episodes(capsys):
    printer = ProgressPrinter(3, 10, "lines")
    printer(ProgressEvent(5, 10, 320, np.array([10.0, np.nan, 20.0]), np.array([2, 0, 1])))
    printer(ProgressEvent(10, 10, 640, np.array([np.nan] * 3), np.zeros(3, int)))
    printer.close()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("  progress: updates done, env steps per run, return: mean +- std")
    assert "env-steps/s in total over all seeds" in out[0]  # a header, then the lines
    assert (
        "update     5/10" in out[1]
        and "return     15.0 +-    5.00" in out[1]
        and "(2/3 seeds)" in out[1]
        and "env-steps/s in total" in out[1]
    )
    assert "n/a (no episode ended)" in out[2] and len(out) == 3


def test_small_returns_keep_their_digits_in_the_lines(capsys):
    printer = ProgressPrinter(2, 4, "lines")
    printer(ProgressEvent(4, 4, 64, np.array([0.01234, 0.01234]), np.array([1, 1])))
    assert "return   0.0123 +-     0.0" in capsys.readouterr().out
