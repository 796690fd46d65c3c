"""ppo_jax.io.sinks: TensorBoard event files (tensorboardX) read back by TensorBoard's own
reader, purged steps on resume, JSON lines, W&B offline, and per-update rows of metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import read_tensorboard

from ppo_jax.io.sinks import JsonlWriter, TensorBoardWriter, WandbWriter, metrics_rows


def test_tensorboard_round_trip_skips_non_finite_values(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    with TensorBoardWriter(logdir) as w:
        w.add_scalars(0, {"a": 1.0, "b": 0.1})
        w.add_scalars(128, {"a": 2.5, "b": float("nan"), "c": -3.0})
        w.add_scalars(256, {"a": float("inf"), "b": 1e300})  # nothing fits float32: no event
        w.add_scalars(2**40, {"b": np.float64(7.25)}, wall_time=123.0)
    scalars = read_tensorboard(logdir)
    assert sorted(scalars) == ["a", "b", "c"]
    assert scalars["a"] == [(0, 1.0), (128, 2.5)]
    assert [s for s, _ in scalars["b"]] == [0, 2**40]
    assert scalars["b"][0][1] == pytest.approx(0.1, rel=1e-6) and scalars["b"][1][1] == 7.25
    assert scalars["c"] == [(128, -3.0)]


def test_tensorboard_purges_what_an_interrupted_session_wrote(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    with TensorBoardWriter(logdir) as first:
        for step in (32, 64, 96):
            first.add_scalars(step, {"x": float(step)})
    with TensorBoardWriter(logdir, purge_step=65) as second:  # resumed after step 64
        second.add_scalars(96, {"x": -1.0})
        second.add_scalars(128, {"x": -2.0})
    assert read_tensorboard(logdir)["x"] == [(32, 32.0), (64, 64.0), (96, -1.0), (128, -2.0)]


def test_jsonl_writer(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "metrics.jsonl"
    with JsonlWriter(path) as w:
        w.add_scalars(10, {"a": 1.5, "b": float("nan")})
        # Each line is flushed: readable before close.
        assert json.loads(path.read_text().splitlines()[0]) == {"step": 10, "a": 1.5, "b": None}
        w.add_scalars(20, {"a": float("-inf"), "b": np.float64(2.0)})
        with pytest.raises(ValueError):
            w.add_scalars(30, {"step": 1.0})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"step": 10, "a": 1.5, "b": None}, {"step": 20, "a": None, "b": 2.0}]


def test_metrics_rows() -> None:
    nan = np.nan
    metrics = {
        "env_steps": np.array([[64, 128, 192], [64, 128, 192]]),
        "episode_return": np.array([[1.0, nan, nan], [3.0, 4.0, nan]]),
        "loss": np.array([[0.5, 0.25, nan], [1.5, 0.75, nan]]),
    }
    with np.errstate(all="raise"):
        rows = list(metrics_rows(metrics, seeds=[7, 9]))
    assert rows == [
        (
            64,
            {
                "episode_return": 2.0,
                "episode_return/seed_7": 1.0,
                "episode_return/seed_9": 3.0,
                "loss": 1.0,
            },
        ),
        (128, {"episode_return": 4.0, "episode_return/seed_9": 4.0, "loss": 0.5}),
        # update 3 is all NaN: not yielded
    ]
    assert all(isinstance(step, int) for step, _ in rows)
    # Rows that share a seed (a sweep's settings) are numbered instead.
    shared = list(metrics_rows(metrics, seeds=[7, 7]))
    assert "episode_return/seed_1" in shared[0][1]


def test_metrics_rows_shape_errors() -> None:
    with pytest.raises(ValueError, match="env_steps"):
        list(metrics_rows({"loss": np.zeros((1, 2))}, seeds=[0]))
    bad = {"env_steps": np.zeros((2, 3)), "loss": np.zeros((2, 4))}
    with pytest.raises(ValueError, match="loss"):
        list(metrics_rows(bad, seeds=[0, 1]))


def test_rows_into_writers(tmp_path: Path) -> None:
    metrics = {
        "env_steps": np.array([[32, 64]]),
        "episode_return": np.array([[1.0, 2.0]]),
    }
    with TensorBoardWriter(tmp_path) as tb:
        for step, values in metrics_rows(metrics, seeds=[3]):
            tb.add_scalars(step, values)
    scalars = read_tensorboard(tmp_path)
    assert scalars["episode_return"] == [(32, 1.0), (64, 2.0)]
    assert scalars["episode_return/seed_3"] == [(32, 1.0), (64, 2.0)]


def test_wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb_cache"))
    writer = WandbWriter(
        project="ppo-jax-test",
        run_dir=tmp_path / "wandb",
        config={"lr": 3e-4},
        name="sinks-test",
        mode="offline",
    )
    with writer:
        writer.add_scalars(1, {"episode_return": 1.0, "loss": float("nan")})
        writer.add_scalars(2, {"episode_return": 2.0})
    writer.close()  # twice is harmless
    assert any((tmp_path / "wandb").rglob("*.wandb"))


def test_wandb_missing_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` fail
    with pytest.raises(ImportError, match="pip install wandb"):
        WandbWriter(project="p", run_dir=tmp_path, config={})


def test_updates_no_run_trained_are_not_rows():
    """A run stopped at stop_at_return keeps the env steps it stopped at (a row of its own in
    the written values); updates that no run trained are not rows. Folders of earlier
    versions logged 0 steps there: those are not written at step 0 either."""
    metrics = {
        "env_steps": np.array([[32, 32, 32], [32, 64, 64]]),
        "episodes_completed": np.array([[1, 0, 0], [2, 3, 0]]),
    }
    rows = list(metrics_rows(metrics, [0, 1]))
    assert [step for step, _ in rows] == [32, 64]
    assert rows[1][1]["env_steps/seed_0"] == 32 and "env_steps/seed_1" not in rows[1][1]
    assert "env_steps/seed_0" not in rows[0][1]
    old = dict(metrics, env_steps=np.array([[32, 0, 0], [32, 64, 0]]))
    assert [step for step, _ in metrics_rows(old, [0, 1])] == [32, 64]
