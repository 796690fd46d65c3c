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


def _train_result(finals, stop_at_return=None, stopped=None):
    from pathlib import Path

    from ppo_jax import PPOConfig
    from ppo_jax.io.rundir import RunResult

    config = PPOConfig(
        eval_every=1 if stop_at_return is not None else 0, stop_at_return=stop_at_return
    )
    rows = [
        {
            "seed": i,
            "final_return": f,
            "solved": f >= 475.0,
            "steps_to_solve": 4096 if f >= 475.0 else -1,
            "wall_s": 12.3,
            "run_s": 5.0,
            "compile_s": 7.3,
            "env_steps": 262_144,
            "updates": 128,
            "stopped": None if stopped is None else stopped[i],
            "env_steps_per_s": 40_000.0,
        }
        for i, f in enumerate(finals)
    ]
    metrics = {
        "episode_return": np.tile(np.asarray(finals)[:, None], (1, 20)),
        "episodes_completed": np.ones((len(finals), 20)),
        "env_steps": np.tile(np.arange(1, 21), (len(finals), 1)),
    }
    return RunResult(
        config, list(range(len(finals))), None, metrics, True, out_dir=Path("r"), summary=rows
    )


def test_train_table_counts_defines_and_labels_its_rates(capsys):
    from ppo_jax.io.console import print_train_table

    print_train_table(_train_result([500.0, 460.0, 500.0], 500.0, [True, True, False]))
    out = capsys.readouterr().out
    assert "env-steps/s per seed" in out.splitlines()[0] and "stopped" in out.splitlines()[0]
    assert "solved 2 of 3" in out and "'stopped' column): 2 of 3" in out
    assert "throughput: 40,000 env-steps/s per seed, 120,000 in total over 3 seed(s)" in out
    assert "final return IQM 486.7 (n=3: too few runs for a 95% CI" in out  # mean of all 3
    assert out.count("solved: the final return (mean return of the training episodes") == 1


def test_small_returns_keep_their_digits_in_the_tables(capsys):
    from ppo_jax.io.console import print_eval_table, print_sweep_table, print_train_table
    from ppo_jax.io.stats import iqm_interval

    print_train_table(_train_result([0.01234, 0.02]))
    out = capsys.readouterr().out
    assert "      0.0123  " in out and "0.0200" in out
    results = [{"seed": 0, "returns": [0.957, 0.957]}, {"seed": 1, "returns": [0.5, 1.0]}]
    print_eval_table(results, [40, 38], 50, iqm_interval([0.957, 0.75]))
    out = capsys.readouterr().out
    assert "update 40/50        0.957" in out and "over seeds: IQM" in out and "n=2:" in out
    row = {
        "setting": 0, "learning_rate": 0.001, "final_return_mean": 0.01234,
        "final_return_std": 0.001, "iqm": 0.0123, "iqm_ci_low": 0.011, "iqm_ci_high": 0.0135,
        "seeds": 8, "n": 8, "iqm_method": "expanded percentile bootstrap", "iqm_reliable": True,
        "solved_fraction": 0.25, "median_steps_to_solve": 4096.0,
    }  # fmt: skip
    print_sweep_table([row], ["learning_rate"])
    out = capsys.readouterr().out
    assert "0.0123 [0.0110, 0.0135]" in out and "2/8" in out and "0.001" in out
    assert "n=8 runs" in out and "solved: the final return" in out
