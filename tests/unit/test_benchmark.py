"""``ppo_jax.benchmark``: the FLOP count against one counted by hand, the grid refused before
anything compiles, presets and defaults, and the skipping logic (time budget, memory estimate,
out of memory) without compiling. A cell timed end to end, through ``ppo-jax bench``:
``tests/integration/test_bench_cli.py``."""

from __future__ import annotations

import itertools
import time

import jax
import numpy as np
import pytest

import ppo_jax
from ppo_jax import BenchCell, PPOConfig
from ppo_jax.run import bench_programs, drivers
from ppo_jax.run import benchmark as bench

TINY = PPOConfig(
    num_envs=4, num_steps=8, total_timesteps=96, update_epochs=2, num_minibatches=2,
    hidden_sizes=(16, 16),
)  # fmt: skip


def mlp_flops_per_env_step(config: PPOConfig, obs: int, actions: int) -> float:
    """Model FLOPs by hand: per env step the acting forward pass (actor and critic), the
    critic again on the next observation, and ``update_epochs`` forward + backward passes
    (~3x forward) of both towers. Matmuls only: a lower bound of what the program does."""
    sizes = [obs, *config.hidden_sizes]
    torso = sum(a * b for a, b in itertools.pairwise(sizes))
    actor, critic = torso + sizes[-1] * actions, torso + sizes[-1]
    return 2.0 * (actor + 2 * critic + config.update_epochs * 3 * (actor + critic))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_envs": [0]}, r"num_envs must be ints in \[1, "),
        ({"seeds": ["x"]}, r"seeds must be ints in \[1, "),
        ({"seeds": [2, 2]}, "seeds holds 2 twice"),
        ({"seeds": []}, "seeds must not be empty"),
        ({"num_envs": [3]}, "num_envs=3: PPOConfig.num_minibatches=2 must divide"),
        ({"updates": 0}, "updates must be an int >= 1"),
        ({"repeats": -1}, r"repeats must be an int in \[0, 1000\]"),
        ({"preset": "huge"}, "preset must be one of quick, gpu-check"),
        ({"layout": "gpu"}, "layout must be one of auto, one, seeds, envs"),
        ({"budget_s": 0}, "budget_s must be a number > 0"),
    ],
)
def test_a_bad_grid_is_refused_before_anything_compiles(kwargs, message, monkeypatch) -> None:
    def no_compile(*args, **kw):
        raise AssertionError("compiled")

    monkeypatch.setattr(bench, "time_plan", no_compile)
    config = TINY.replace(num_steps=1, total_timesteps=64)
    with pytest.raises((ValueError, TypeError), match=message):
        ppo_jax.benchmark(config, **{"seeds": [1], "num_envs": [4], **kwargs})


def test_flops_grow_by_the_model_flops_of_the_steps_added() -> None:
    """Four more updates add four rollouts and their epochs of minibatch updates: at least
    the matmuls counted by hand, and not 30% more (elementwise work, Adam, GAE)."""
    config = TINY.replace(hidden_sizes=(64, 64))
    short, long = (drivers.plan_seeds(bench.cell_config(config, 8, u), 1) for u in (2, 6))
    added = bench.run_flops(long).flops - bench.run_flops(short).flops
    by_hand = mlp_flops_per_env_step(config, obs=4, actions=2) * 4 * config.num_steps * 8
    assert by_hand <= added < 1.3 * by_hand


def test_cells_take_the_preset_the_defaults_and_the_updates() -> None:
    grid = bench.resolve_grid(TINY, None, None, None, None, None, None, "quick")
    quick = bench.PRESETS["quick"]
    assert (grid.seeds, grid.num_envs, grid.updates, grid.repeats) == (
        quick.seeds, quick.num_envs, quick.updates, quick.repeats,
    )  # fmt: skip
    grid = bench.resolve_grid(TINY, [3], None, None, 0, None, None, "gpu-check")
    assert grid.seeds == (3,) and grid.repeats == 0 and grid.fit and grid.budget_s == 420.0
    assert bench.resolve_grid(TINY, None, None, None, None, None, None, None).num_envs == (
        4, 16, 64,
    )  # fmt: skip
    assert bench.cell_config(TINY, 8, 5).num_updates == 5
    assert bench.cell_config(TINY, 8, None).total_timesteps == 96  # the config's steps
    assert bench.cell_config(TINY, 64, None).num_updates == 1  # at least one update


def fake_cell(plan: drivers.Plan, repeats: int, **_: object) -> BenchCell:
    """A measured cell without compiling: 1 s per run."""
    steps = plan.config.env_steps * plan.num_runs
    return bench.skipped_cell(plan, "ok", "")._replace(
        reason=None, compile_s=1.0, run_s=(1.0,), env_steps_per_s=float(steps), flops=float(steps)
    )


def test_fit_skips_what_does_not_fit_and_names_the_largest_cell_that_ran(monkeypatch) -> None:
    """Seeds 1, 2 x num_envs 4, 8, 16 on one device: (1, 16) runs out of memory, so (2, 16)
    is not tried; (2, 8) exceeds the free memory by its estimate; the largest that ran is
    (1, 8)."""

    def measure(plan: drivers.Plan, repeats: int, **kw: object) -> BenchCell:
        if plan.config.num_envs == 16:
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 1 bytes\nmore")
        return fake_cell(plan, repeats)

    flops = bench_programs.FlopCount(1.0, 0)
    monkeypatch.setattr(bench, "time_plan", measure)
    monkeypatch.setattr(bench, "run_flops", lambda plan: flops)
    plan_28 = drivers.plan_seeds(bench.cell_config(TINY, 8, 1), 2, shard=False)
    monkeypatch.setattr(bench, "free_memory", lambda d: bench.estimated_bytes(plan_28) - 1)
    result = ppo_jax.benchmark(
        TINY, [1, 2], [4, 8, 16], updates=1, repeats=1, fit=True, ceiling=False, layout="one"
    )
    status = {(c.seeds, c.num_envs): (c.status, c.reason) for c in result.cells}
    assert status[1, 16] == (
        "out of memory",
        "RESOURCE_EXHAUSTED: Out of memory allocating 1 bytes",
    )
    assert status[2, 16] == ("skipped", "larger than seeds=1 x num_envs=16, which did not fit")
    assert status[2, 8][0] == "skipped" and status[2, 8][1].startswith("estimated")
    assert [k for k, v in status.items() if v[0] == "ok"] == [(1, 4), (1, 8), (2, 4)]
    assert (result.fit.seeds, result.fit.num_envs) == (1, 8)
    assert result.to_dict()["fit"] == {"seeds": 1, "num_envs": 8}
    with pytest.raises(KeyError):
        result.cell(3, 4)


def test_the_time_budget_skips_cells_once_less_is_left_than_the_last_took(monkeypatch) -> None:
    def slow(plan: drivers.Plan, repeats: int, **kw: object) -> BenchCell:
        time.sleep(1.2)
        return fake_cell(plan, repeats)

    monkeypatch.setattr(bench, "time_plan", slow)
    monkeypatch.setattr(bench, "run_flops", lambda plan: bench_programs.FlopCount(1.0, 0))
    result = ppo_jax.benchmark(TINY, [1], [4, 8], updates=1, repeats=1, budget_s=2.0, ceiling=False)
    first, second = result.cells
    assert first.status == "ok"
    assert second.status == "skipped" and second.reason.startswith("time budget: ")


def test_cold_compiles_clear_the_in_process_cache_and_keep_the_persistent_one_off(
    tmp_path,
) -> None:
    f = jax.jit(lambda x: x + 1)
    f(np.float32(1.0))
    assert f._cache_size() == 1
    previous = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    try:
        with bench.cold_compiles():
            assert f._cache_size() == 0
            assert not jax.config.jax_enable_compilation_cache
        assert jax.config.jax_enable_compilation_cache
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
