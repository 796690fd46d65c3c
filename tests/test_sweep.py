"""Sweeps: rows equal single runs, chunking and sharding do not change results, two processes
on loopback match one, and bad sweep requests are refused before compiling."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from ppo_jax import PPOConfig, train_seeds
from ppo_jax.sweep import (
    LogUniform,
    Uniform,
    estimate_run_bytes,
    grid_settings,
    plan_chunks,
    random_settings,
    sweep,
)

TINY = {
    "num_envs": 4,
    "num_steps": 8,
    "total_timesteps": 96,
    "num_minibatches": 2,
    "update_epochs": 1,
    "hidden_sizes": (8,),
}
GRID = {"learning_rate": [1e-3, 3e-3], "clip_eps": [0.1, 0.3]}
SEEDS = [0, 7]


def assert_trees_close(a, b, rtol=1e-4, atol=1e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def tiny() -> PPOConfig:
    return PPOConfig(**TINY)


@pytest.fixture(scope="module")
def full(tiny):
    return sweep(tiny, GRID, SEEDS)


def test_shapes_and_settings_table(full):
    assert full.settings == grid_settings(GRID)
    assert full.settings[1] == {"learning_rate": 1e-3, "clip_eps": 0.3}
    assert full.seeds == SEEDS
    assert full.metrics["episode_return"].shape == (4, 2, 3)
    assert jax.tree.leaves(full.params)[0].shape[:2] == (4, 2)
    assert full.num_devices == jax.device_count() == 2


@pytest.mark.parametrize("row", [0, 3])
def test_row_equals_train_seeds(full, tiny, row):
    single = train_seeds(tiny.replace(**full.settings[row]), SEEDS)
    assert_trees_close(full.row(row).params, single.params)
    for name in ("policy_loss", "value_loss", "episodes_completed"):
        np.testing.assert_allclose(
            full.metrics[name][row], single.metrics[name], rtol=1e-4, atol=1e-5
        )


def test_chunked_equals_unchunked(full, tiny):
    chunked = sweep(tiny, GRID, SEEDS, chunk_size=2)
    assert (chunked.chunk_size, chunked.num_chunks) == (2, 4)
    assert_trees_close(chunked.params, full.params)
    # Memory-aware planning splits on its own when told memory is short.
    per_run = estimate_run_bytes(tiny, 4, 2)
    planned = sweep(tiny, GRID, SEEDS, memory_bytes=int(per_run * 3.5))
    assert planned.num_chunks > 1
    assert_trees_close(planned.params, full.params)


def test_one_device_equals_two_devices(full, tiny):
    one = sweep(tiny, GRID, SEEDS, devices=jax.devices()[:1])
    assert one.num_devices == 1
    assert_trees_close(one.params, full.params)
    np.testing.assert_allclose(one.metrics["entropy"], full.metrics["entropy"], rtol=1e-4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(600)
def test_two_processes_on_loopback_match_one(full, tmp_path):
    out = tmp_path / "mh.npz"
    address = f"127.0.0.1:{_free_port()}"
    worker = os.path.join(os.path.dirname(__file__), "multihost_worker.py")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    procs = [
        subprocess.Popen(
            [sys.executable, worker, address, "2", str(i), str(out), repr(TINY)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=540)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    got = np.load(out)
    for k, v in full.metrics.items():
        np.testing.assert_allclose(got[f"m_{k}"], v, rtol=1e-4, atol=1e-5, err_msg=k)
    for i, leaf in enumerate(jax.tree.leaves(full.params)):
        np.testing.assert_allclose(got[f"p_{i}"], leaf, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("grid", "error", "needle"),
    [
        ({"num_envs": [4, 8]}, ValueError, "num_envs cannot be swept"),
        ({"hidden_sizes": [(8,)]}, ValueError, "hidden_sizes cannot be swept"),
        ({"learning_rat": [1e-3]}, ValueError, "unknown sweep field"),
        ({"learning_rate": [-1.0]}, ValueError, "learning_rate"),
        ({"gamma": [1.2]}, ValueError, "gamma"),
        ({"learning_rate": []}, ValueError, "learning_rate"),
        ([{"update_epochs": 2}], ValueError, "update_epochs cannot be swept"),
        ("learning_rate=1", TypeError, "grid"),
    ],
)
def test_bad_sweeps_are_refused(tiny, grid, error, needle):
    with pytest.raises(error, match=needle):
        sweep(tiny, grid, SEEDS)


def test_bad_chunk_size(tiny):
    with pytest.raises(ValueError, match="multiple of the device count"):
        sweep(tiny, GRID, SEEDS, chunk_size=3)


def test_explicit_settings_and_random_search():
    key = jax.random.PRNGKey(3)
    space = {
        "learning_rate": LogUniform(1e-4, 1e-2),
        "gamma": Uniform(0.9, 0.99),
        "clip_eps": [0.1, 0.2],
    }
    a = random_settings(space, 50, key)
    assert a == random_settings(space, 50, key)
    assert a != random_settings(space, 50, jax.random.PRNGKey(4))
    lr = np.array([s["learning_rate"] for s in a])
    assert lr.min() >= 1e-4 and lr.max() <= 1e-2
    assert (lr < 1e-3).mean() > 0.3  # log-uniform: half the mass below the geometric middle
    assert {s["clip_eps"] for s in a} == {0.1, 0.2}
    with pytest.raises(ValueError, match="num_envs"):
        random_settings({"num_envs": [1, 2]}, 3, key)


def test_plan_chunks():
    assert plan_chunks(100, 2, run_bytes=10, free_bytes=10_000) == (100, 1)
    assert plan_chunks(100, 2, run_bytes=10, free_bytes=100) == (10, 10)  # 5 per device
    assert plan_chunks(7, 2, run_bytes=10, free_bytes=10_000) == (8, 1)  # padded to 2 devices
    assert plan_chunks(100, 2, run_bytes=10, free_bytes=10_000, chunk_size=16) == (16, 7)
