"""ppo_jax.run.backend: per-backend choices (compiler options, convolution), that every entry
point compiles with the options, and that they change a training run only by float32 rounding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import pytest

from ppo_jax import PPOConfig, evaluate, make_env, make_train, sweep, train, train_seeds
from ppo_jax.run import backend as xla
from ppo_jax.run.plan import resolve_spec


def test_cpu_programs_get_optimization_level_one_and_other_backends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    assert xla.compiler_options("cpu") == {"xla_backend_optimization_level": 1}
    assert xla.compiler_options("gpu") == {}
    assert xla.compiler_options("tpu") == {}
    assert xla.compiler_options() == {"xla_backend_optimization_level": 1}  # tests run on CPU


def test_a_level_set_in_xla_flags_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    assert xla.compiler_options("cpu") == {}


def test_convolution_per_backend() -> None:
    assert xla.conv_implementation("cpu") == "im2col"
    assert xla.conv_implementation("gpu") == xla.conv_implementation("tpu") == "native"
    assert xla.conv_implementation() == "im2col"  # tests run on CPU


def test_old_module_paths_keep_working() -> None:
    import ppo_jax.configs
    import ppo_jax.distributed
    import ppo_jax.summary
    import ppo_jax.xla

    assert ppo_jax.xla.compiler_options is xla.compiler_options
    assert ppo_jax.configs.get_config("CartPole-v1") == ppo_jax.get_config("CartPole-v1")
    assert callable(ppo_jax.distributed.initialize) and callable(ppo_jax.summary.final_return)


@pytest.mark.heavy
def test_options_change_a_training_run_only_by_rounding(tiny_config: PPOConfig) -> None:
    # LLVM may order a reduction differently at another level: last-bit differences, which
    # must stay last-bit over a short run (long runs may drift apart, as across XLA versions).
    config = tiny_config.replace(total_timesteps=4 * 8 * 6)
    fn = make_train(config)
    args = (jax.random.PRNGKey(3), config.hyperparams(), make_env(config)[1])
    plain = jax.jit(fn).lower(*args).compile()
    tuned = jax.jit(fn, compiler_options={"xla_backend_optimization_level": 1}).lower(*args)
    for a, b in zip(
        jax.tree.leaves(plain(*args)), jax.tree.leaves(tuned.compile()(*args)), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def _train(config: PPOConfig) -> Any:
    return train(config, jax.random.PRNGKey(0))


def _train_split(config: PPOConfig) -> Any:
    return train(config, jax.random.PRNGKey(0), split_envs=True)


def _seeds_sharded(config: PPOConfig) -> Any:
    return train_seeds(config, 2, shard=True)


def _sweep(config: PPOConfig) -> Any:
    return sweep(config, {"learning_rate": [1e-3, 2e-3]}, seeds=1)


def _evaluate(config: PPOConfig) -> Any:
    params = resolve_spec(config)[0].network.init(jax.random.PRNGKey(0))
    return evaluate(config, params, jax.random.PRNGKey(1), num_episodes=2, max_steps=5)


@pytest.mark.parametrize(
    "entry", [_train, _train_split, _seeds_sharded, _sweep, _evaluate], ids=lambda f: f.__name__
)
def test_every_entry_point_compiles_with_the_options(
    entry: Callable[[PPOConfig], Any],
    tiny_config: PPOConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An invalid level makes XLA refuse the program: proof that the options reach it.
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    monkeypatch.setattr(xla, "CPU_OPTIMIZATION_LEVEL", "not-a-level")
    config = tiny_config.replace(adam_eps=1.2345e-5)  # a static part no other test compiles
    with pytest.raises(Exception, match="xla_backend_optimization_level"):
        entry(config)
