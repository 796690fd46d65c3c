"""ppo_jax.run.sweep: rows equal single runs, chunking and sharding do not change results,
settings tables and random search, ranking with IQM statistics, bad sweep requests refused
before compiling, and sweeps as experiments of the one pipeline (checkpoints, bit-identical
resume, chunked or not) (two processes on loopback: tests/integration/test_multiprocess.py)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ppo_jax import PPOConfig, load_run, train_seeds
from ppo_jax.core.search import LogUniform, Uniform, grid_settings, random_settings
from ppo_jax.io import checkpoint
from ppo_jax.run import plan as planning
from ppo_jax.run.sweep import plan_chunks, rank_settings, run_sweep_experiment, sweep

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
    per_run = planning.estimate_run_bytes(planning.resolve_spec(tiny)[0])
    planned = sweep(tiny, GRID, SEEDS, memory_bytes=int(per_run * 3.5))
    assert planned.num_chunks > 1
    assert_trees_close(planned.params, full.params)


def test_one_device_equals_two_devices(full, tiny):
    one = sweep(tiny, GRID, SEEDS, devices=jax.devices()[:1])
    assert one.num_devices == 1
    assert_trees_close(one.params, full.params)
    np.testing.assert_allclose(one.metrics["entropy"], full.metrics["entropy"], rtol=1e-4)


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
        ({}, ValueError, "grid is empty"),
        ([], ValueError, "no settings"),
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


def test_ranking_uses_the_iqm_with_bootstrap_intervals(full):
    ranked = rank_settings(full)
    assert [r["setting"] for r in ranked] != [] and len(ranked) == 4
    iqms = [r["iqm"] for r in ranked]
    assert iqms == sorted(iqms, reverse=True)
    for r in ranked:
        assert r["iqm_ci_low"] <= r["iqm"] <= r["iqm_ci_high"]
        assert set(full.settings[r["setting"]]) <= set(r)
    assert full.config is not None and full.config.num_envs == 4


LONG = {**TINY, "total_timesteps": 4 * 8 * 6}
"""Six updates: room for a pause and a resume."""


@pytest.mark.parametrize(
    "chunk_size",
    [None, pytest.param(2, marks=pytest.mark.heavy)],
    ids=["one-call", "two-chunks"],
)
def test_a_sweep_experiment_resumes_bit_for_bit(tmp_path, chunk_size):
    """A sweep in a run folder, paused by ``stop_after`` and resumed from its checkpoint,
    writes the same ``metrics.csv``, ``sweep.csv`` and newest checkpoint as one never paused,
    and its rows equal the in-memory sweep's; in one compiled call or in two chunks of two
    runs (the state on the host between them)."""
    config = PPOConfig(**LONG)
    grid = {"learning_rate": [1e-3, 3e-3]}
    a, b = tmp_path / "a", tmp_path / "b"
    whole, ranked = run_sweep_experiment(
        config, grid, SEEDS, a, chunk_size=chunk_size, checkpoint_every=2
    )
    assert whole.status == "finished" and whole.num_chunks == (1 if chunk_size is None else 2)
    paused, _ = run_sweep_experiment(
        config, grid, SEEDS, b, chunk_size=chunk_size, checkpoint_every=2, stop_after=3
    )
    assert paused.status == "paused after update 4 (stop_after)"
    assert paused.metrics["env_steps"].shape == (2, 2, 4)
    again, ranked_again = run_sweep_experiment(None, None, None, b, resume=True)
    assert again.status == "finished"
    for name in ("metrics.csv", "sweep.csv"):
        assert (a / name).read_text() == (b / name).read_text(), name
    assert checkpoint.latest(a).read_bytes() == checkpoint.latest(b).read_bytes()
    assert [r["setting"] for r in ranked] == [r["setting"] for r in ranked_again]
    memory = sweep(config, grid, SEEDS, chunk_size=chunk_size)  # the same programs
    for name in ("policy_loss", "episode_return", "env_steps"):
        np.testing.assert_array_equal(again.metrics[name], memory.metrics[name])
    assert_trees_close(again.params, memory.params, rtol=0, atol=0)
    loaded = load_run(b)
    assert loaded.kind == "sweep" and loaded.params is not None and loaded.completed
    assert [s["learning_rate"] for s in loaded.settings] == [1e-3, 1e-3, 3e-3, 3e-3]
    with pytest.raises(ValueError, match="differ"):
        run_sweep_experiment(None, {"learning_rate": [1e-2]}, None, b, resume=True)
    # Killed after its last checkpoint, before its outputs: resuming writes them, and says
    # that this session trained nothing (no throughput of zero updates).
    for name in ("metrics.csv", "sweep.csv", "results.json"):
        (b / name).unlink()
    lines: list[str] = []
    finished, ranked_last = run_sweep_experiment(None, None, None, b, resume=True, log=lines.append)
    assert finished.status == "finished" and any("did not finish" in line for line in lines)
    assert any("all trained before this session" in line for line in lines), lines
    for name in ("metrics.csv", "sweep.csv"):
        assert (a / name).read_text() == (b / name).read_text(), name
    assert [r["setting"] for r in ranked_last] == [r["setting"] for r in ranked]
