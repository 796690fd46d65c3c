"""Metric writers: TFRecord/CRC framing, event-file round trip, JSON lines, W&B offline."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ppo_jax.sinks import (
    JsonlWriter,
    TensorBoardWriter,
    WandbWriter,
    crc32c,
    masked_crc32c,
    metrics_rows,
    read_scalars,
)


def _event_file(logdir: Path) -> Path:
    (path,) = logdir.glob("events.out.tfevents.*.ppo_jax")
    return path


def _write_sample(logdir: Path) -> Path:
    with TensorBoardWriter(logdir) as w:
        w.add_scalars(0, {"a": 1.0, "b": 0.1})
        w.add_scalars(128, {"a": 2.5, "b": float("nan"), "c": -3.0})
        w.add_scalars(256, {"a": float("inf"), "b": 1e300})  # nothing fits float32: no event
        w.add_scalars(2**40, {"b": np.float64(7.25)}, wall_time=123.0)
    return w.path


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32


def test_tensorboard_round_trip(tmp_path: Path) -> None:
    path = _write_sample(tmp_path / "tb")
    assert path == _event_file(tmp_path / "tb")
    got = read_scalars(path)
    expected = [
        (0, "a", 1.0),
        (0, "b", 0.1),
        (128, "a", 2.5),
        (128, "c", -3.0),
        (2**40, "b", 7.25),
    ]
    assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in expected]
    for (_, _, v), (_, _, e) in zip(got, expected, strict=True):
        assert v == float(np.float32(e))
    assert not any(math.isnan(v) for _, _, v in got)


def test_tensorboard_first_record_is_file_version(tmp_path: Path) -> None:
    with TensorBoardWriter(tmp_path) as w:
        pass
    blob = w.path.read_bytes()
    assert b"brain.Event:2" in blob
    assert read_scalars(w.path) == []


def test_two_writers_same_second_do_not_clobber(tmp_path: Path) -> None:
    with TensorBoardWriter(tmp_path) as w1, TensorBoardWriter(tmp_path) as w2:
        w1.add_scalars(1, {"x": 1.0})
        w2.add_scalars(2, {"y": 2.0})
    assert w1.path != w2.path
    assert read_scalars(w1.path) == [(1, "x", 1.0)]
    assert read_scalars(w2.path) == [(2, "y", 2.0)]


@pytest.mark.parametrize("where", ["header", "data", "end"])
def test_corrupt_file_raises(tmp_path: Path, where: str) -> None:
    path = _write_sample(tmp_path)
    blob = bytearray(path.read_bytes())
    index = {"header": 3, "data": len(blob) // 2, "end": len(blob) - 1}[where]
    blob[index] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError):
        read_scalars(path)


def test_truncated_file_raises(tmp_path: Path) -> None:
    path = _write_sample(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError):
        read_scalars(path)


def test_tensorboard_oracle(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = tmp_path / "tb"
    _write_sample(logdir)
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == ["a", "b", "c"]
    a = acc.Scalars("a")
    assert [(e.step, e.value) for e in a] == [(0, 1.0), (128, 2.5)]
    b = acc.Scalars("b")
    assert [e.step for e in b] == [0, 2**40]
    assert b[0].value == pytest.approx(0.1, rel=1e-6)
    assert b[1].value == 7.25
    assert b[1].wall_time == 123.0
    assert [(e.step, e.value) for e in acc.Scalars("c")] == [(128, -3.0)]


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
    assert read_scalars(tb.path) == [
        (32, "episode_return", 1.0),
        (32, "episode_return/seed_3", 1.0),
        (64, "episode_return", 2.0),
        (64, "episode_return/seed_3", 2.0),
    ]


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
