"""ppo_jax.run.compare: folders become groups of runs (a sweep: one per setting, spelled out),
train and sweep folders mixed, compared with a chosen baseline. The folders here are
:class:`RunResult` values handed to ``compare_runs`` in place of ``load_run`` (the CLI test
reads real folders: tests/integration/test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ppo_jax
from ppo_jax.io.rundir import RunResult
from ppo_jax.run import compare

UPDATES = 20


def _metrics(finals: list[float]) -> dict[str, np.ndarray]:
    """Rows whose every update ended one episode with the row's return (final = that)."""
    rows = len(finals)
    return {
        "episode_return": np.repeat(np.asarray(finals, np.float64)[:, None], UPDATES, 1),
        "episodes_completed": np.ones((rows, UPDATES)),
        "env_steps": np.tile(np.arange(1, UPDATES + 1) * 64, (rows, 1)),
    }


def _train(finals: list[float], env: str = "CartPole-v1") -> RunResult:
    seeds = list(range(len(finals)))
    config = ppo_jax.PPOConfig(env_name=env)
    return RunResult(config, seeds, None, _metrics(finals), True)


def _sweep(per_setting: dict[float, list[float]]) -> RunResult:
    settings = [{"learning_rate": lr, "clip_eps": 0.2} for lr, f in per_setting.items() for _ in f]
    finals = [v for f in per_setting.values() for v in f]
    return RunResult(
        ppo_jax.PPOConfig(),
        list(range(len(finals))),
        None,
        _metrics(finals),
        True,
        kind="sweep",
        settings=settings,
    )


def test_a_sweep_is_one_group_per_setting_spelled_out():
    groups = compare.run_groups(_sweep({1e-3: [1.0, 2.0], 3e-3: [5.0, 6.0]}), "s")
    assert list(groups) == [
        "s: learning_rate=0.001 clip_eps=0.2",
        "s: learning_rate=0.003 clip_eps=0.2",
    ]
    np.testing.assert_allclose(groups["s: learning_rate=0.003 clip_eps=0.2"], [5.0, 6.0])
    assert list(compare.run_groups(_train([1.0, 2.0]), "t")) == ["t"]


def test_compare_runs_mixes_folders_and_compares_with_the_baseline(monkeypatch):
    folders = {
        "sw": _sweep({1e-3: [100.0 + i for i in range(8)], 3e-3: [300.0 + i for i in range(8)]}),
        "train": _train([200.0, 201.0, 202.0, 203.0]),
        "acrobot": _train([-80.0], env="Acrobot-v1"),
    }
    monkeypatch.setattr(compare, "load_run", lambda d, **_: folders[Path(d).name])
    rows = ppo_jax.compare_runs(["sw", "train"], baseline="train")
    assert [(r["run"], r["rows"]) for r in rows] == [
        ("sw: learning_rate=0.001 clip_eps=0.2", 8),
        ("sw: learning_rate=0.003 clip_eps=0.2", 8),
        ("train", 4),
    ]
    assert [r["p_improve"] for r in rows] == [0.0, 1.0, 0.5]
    assert rows[1]["improvement"].sizes == (8, 4) and rows[1]["improvement"].reliable
    assert rows[0]["iqm_interval"].n == 8 and rows[0]["iqm_interval"].reliable
    assert not rows[2]["iqm_interval"].reliable  # 4 runs: too few for the IQM's interval
    assert ppo_jax.compare_runs(["sw", "train"])[0]["baseline"].endswith(
        "learning_rate=0.001 clip_eps=0.2"
    )
    with pytest.raises(ValueError, match="compare runs of one environment"):
        ppo_jax.compare_runs(["sw", "acrobot"])
    with pytest.raises(ValueError, match="matches none of the rows"):
        ppo_jax.compare_runs(["sw"], baseline="gamma=0.9")
