"""``ppo_jax.run.bench_programs``: the loop-aware FLOP count against XLA's own count of the
same program with every loop unrolled, the environment-only program against CartPole's
rewards and against itself split over devices, random actions against their distributions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig, make_env
from ppo_jax.core.envs import action_spec
from ppo_jax.run import bench_programs, drivers


def nested_scans(unroll: bool) -> tuple[object, list[jax.ShapeDtypeStruct]]:
    """3 outer x 5 inner steps of a matmul and a few elementwise operations, rolled or
    fully unrolled."""
    u = True if unroll else 1

    def f(x: jax.Array, w: jax.Array) -> jax.Array:
        def inner(c: jax.Array, _: None) -> tuple[jax.Array, None]:
            return jnp.tanh(c @ w) * 0.5 + c, None

        def outer(c: jax.Array, _: None) -> tuple[jax.Array, None]:
            c, _ = jax.lax.scan(inner, c, None, length=5, unroll=u)
            return c - 1.0, None

        c, _ = jax.lax.scan(outer, x, None, length=3, unroll=u)
        return c @ w

    args = [jax.ShapeDtypeStruct((8, 16), jnp.float32), jax.ShapeDtypeStruct((16, 16), jnp.float32)]
    return f, args


def xla_flops(f: object, args: list[jax.ShapeDtypeStruct]) -> float:
    return float(jax.jit(f).lower(*args).cost_analysis()["flops"])  # type: ignore[arg-type]


def test_loop_flops_count_every_scan_body_as_often_as_it_runs() -> None:
    rolled, args = nested_scans(unroll=False)
    unrolled, _ = nested_scans(unroll=True)
    oracle = xla_flops(unrolled, args)  # XLA's own count of the loop-free program
    count = bench_programs.loop_flops(rolled, *args)
    assert count.while_loops == 0
    assert count.flops == pytest.approx(oracle, rel=1e-6)
    # By hand: 16 matmuls [8,16]x[16,16] of 2*8*16*16 = 4096 FLOPs dominate.
    assert 16 * 4096 <= count.flops < 1.2 * 16 * 4096
    assert xla_flops(rolled, args) < count.flops / 5  # XLA counts a loop body once


def test_while_loops_are_counted_once_and_reported() -> None:
    def f(x: jax.Array, n: jax.Array) -> jax.Array:
        return jax.lax.fori_loop(0, n, lambda i, c: c @ c, x)  # trip count known at run time

    args = [jax.ShapeDtypeStruct((4, 4), jnp.float32), jax.ShapeDtypeStruct((), jnp.int32)]
    count = bench_programs.loop_flops(f, *args)
    assert count.while_loops == 1
    assert count.flops >= 2 * 4 * 4 * 4


def draw(env_name: str, key: int, n: int, mask: jax.Array | None = None) -> np.ndarray:
    env, params = make_env(PPOConfig(env_name=env_name))
    spec = action_spec(env, params)

    def sample(k: jax.Array, m: jax.Array | None) -> jax.Array:
        noise = bench_programs.draw_action_noise(spec, k, n)
        return bench_programs.random_actions(env, params, spec, noise, m)

    return np.asarray(jax.jit(sample)(jax.random.PRNGKey(key), mask))


def test_random_actions_are_uniform_over_the_legal_actions_and_the_box() -> None:
    n = 20_000
    actions = draw("CartPole-v1", 0, n)  # Discrete(2)
    assert set(np.unique(actions)) == {0, 1}
    assert abs(actions.mean() - 0.5) < 0.02  # 5 standard errors
    only_one = jnp.asarray(np.tile([False, True], (n, 1)))
    assert (draw("CartPole-v1", 0, n, only_one) == 1).all()
    torques = draw("Pendulum-v1", 1, n)  # Box [-2, 2]
    assert torques.shape == (n, 1) and torques.min() >= -2 and torques.max() <= 2
    assert abs(np.mean(torques < -1) - 0.25) < 0.02 and abs(torques.mean()) < 0.05


def env_only(config: PPOConfig, layout: str) -> bench_programs.EnvOnlyResult:
    flags = {"one": {"shard": False}, "envs": {"shard": False, "split_envs": True}}[layout]
    plan = drivers.plan_seeds(config, 2, **flags)
    program = bench_programs.env_only_program(plan.spec, plan.layout)
    return jax.device_get(program(plan.keys, plan.env_params))


def test_the_environment_only_program_steps_every_environment_every_step() -> None:
    """CartPole pays 1 per step, so the rewards count the steps taken; a random policy's
    episodes last about 22 steps; the program split over 2 devices takes the same steps."""
    config = PPOConfig(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 4, num_minibatches=2)
    one = env_only(config, "one")
    np.testing.assert_array_equal(one.reward_sum, [config.env_steps] * 2)
    mean_length = config.env_steps / one.episodes
    assert ((mean_length > 12) & (mean_length < 40)).all(), mean_length
    assert one.obs.shape == (2, 4, 4)
    assert len(jax.devices()) == 2
    split = env_only(config, "envs")
    np.testing.assert_array_equal(split.episodes, one.episodes)
    np.testing.assert_allclose(split.obs, one.obs, rtol=1e-6)


def test_matmul_peak_and_memory_readings() -> None:
    peak = bench_programs.matmul_peak_flops(jax.devices(), size=64, repeats=1)
    assert peak > 0
    assert bench_programs.matmul_size("cpu") == bench_programs.MATMUL_SIZE_CPU
    assert bench_programs.matmul_size("gpu") == bench_programs.MATMUL_SIZE_ACCELERATOR
    compiled = jax.jit(lambda x: (x @ x).sum(0)).lower(jnp.zeros((32, 32))).compile()
    used = bench_programs.program_memory_bytes(compiled)
    assert used is not None and used >= 32 * 32 * 4 + 32 * 4  # the argument and the output
    assert bench_programs.device_peak_bytes(jax.devices()) is None  # the CPU keeps no counter
