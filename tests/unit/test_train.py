"""ppo_jax.core.train: make_train is one jittable function of (key, hp, env_params) that reads
traced values from hp only; init_runner / update_step / scan_updates compose into the same
run; every valid small config trains (hypothesis)."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import ppo_jax
from ppo_jax import Hyperparams, PPOConfig, make_train
from ppo_jax.core.envs import make_env
from ppo_jax.core.spec import make_spec
from ppo_jax.core.train import init_runner, scan_updates, train_state_shapes, update_step
from ppo_jax.core.types import METRIC_NAMES, Metrics

# Each distinct config compiles a whole training run (~5-8 s on a small CPU).
TRAINING = settings(max_examples=3, deadline=None, derandomize=True, database=None)


def test_make_train_reads_traced_values_from_hp_only(tiny_config, key):
    """Configs that differ only in traced fields build the same program (the same jaxpr):
    the values come from ``hp``."""
    env_params = make_env(tiny_config)[1]
    fn_a = make_train(tiny_config)
    fn_b = make_train(tiny_config.replace(learning_rate=0.5, gamma=0.1, clip_eps=3.0))
    hp = Hyperparams(learning_rate=1e-3)
    jaxpr_a = str(jax.make_jaxpr(fn_a)(key, hp, env_params))
    assert jaxpr_a == str(jax.make_jaxpr(fn_b)(key, hp, env_params))
    assert (
        str(
            jax.make_jaxpr(make_train(tiny_config.replace(num_steps=4, total_timesteps=48)))(
                key, hp, env_params
            )
        )
        != jaxpr_a
    )
    _, metrics = jax.eval_shape(fn_a, key, hp, env_params)
    assert isinstance(metrics, Metrics) and metrics.custom == {}


def test_make_train_vmaps_over_keys_and_hyperparameters(tiny_config):
    fn = make_train(tiny_config)
    env_params = make_env(tiny_config)[1]
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    hp = Hyperparams(**{k: jnp.full(3, v) for k, v in tiny_config.hyperparams()._asdict().items()})
    hp = hp._replace(learning_rate=jnp.array([1e-4, 1e-3, 1e-2]))
    _, metrics = jax.jit(jax.vmap(fn, in_axes=(0, 0, None)))(keys, hp, env_params)
    np.testing.assert_allclose(metrics.learning_rate[:, 0], [1e-4, 1e-3, 1e-2], rtol=1e-6)
    with pytest.raises(ValueError, match="progress"):
        make_train(tiny_config, progress_every=5)


def test_steps_compose_into_the_whole_run(tiny_config, key):
    env, env_params = make_env(tiny_config)
    spec = make_spec(tiny_config, env, env_params)
    hp = tiny_config.hyperparams()

    def by_steps(k):
        runner = init_runner(spec, env_params, hp, k)
        runner, m1 = update_step(spec, env_params, hp, runner)
        runner, rest = scan_updates(spec, env_params, hp, runner, jnp.int32(1), 2)
        return runner.train_state, m1, rest

    state, m1, rest = jax.jit(by_steps)(key)
    whole_state, whole = jax.jit(make_train(tiny_config))(key, hp, env_params)
    np.testing.assert_allclose(m1.value_loss, whole.value_loss[0], rtol=1e-5)
    np.testing.assert_allclose(rest.value_loss, whole.value_loss[1:], rtol=1e-5)
    for x, y in zip(jax.tree.leaves(state), jax.tree.leaves(whole_state), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert int(rest.env_steps[-1]) == tiny_config.env_steps


def test_a_stop_discards_the_updates_past_it(tiny_config, key):
    env, env_params = make_env(tiny_config)
    spec = make_spec(tiny_config, env, env_params)
    hp = tiny_config.hyperparams()
    runner = jax.jit(lambda k: init_runner(spec, env_params, hp, k))(key)
    two, m_two = jax.jit(lambda r: scan_updates(spec, env_params, hp, r, jnp.int32(0), 2))(runner)
    padded, m_pad = jax.jit(
        lambda r: scan_updates(spec, env_params, hp, r, jnp.int32(0), 3, jnp.int32(2))
    )(runner)
    for x, y in zip(jax.tree.leaves(two), jax.tree.leaves(padded), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert np.isnan(m_pad.value_loss[2]) and int(m_pad.episodes_completed[2]) == 0
    np.testing.assert_allclose(m_pad.value_loss[:2], m_two.value_loss, rtol=1e-5)


TINY32 = float(np.finfo(np.float32).tiny)


def f32(low: float, high: float, exclude_min: bool = False) -> st.SearchStrategy[float]:
    """Floats the float32 program can hold (0 or at least float32's smallest normal)."""
    floats = st.floats(low, high, exclude_min=exclude_min)
    return floats.filter(lambda v: v == 0 or abs(v) >= TINY32)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def small_configs(draw: st.DrawFn) -> PPOConfig:
    num_envs = draw(st.integers(1, 4))
    num_steps = draw(st.integers(1, 8))
    batch = num_envs * num_steps
    return PPOConfig(
        num_envs=num_envs,
        num_steps=num_steps,
        num_minibatches=draw(st.sampled_from(_divisors(batch))),
        update_epochs=draw(st.integers(1, 2)),
        total_timesteps=draw(st.integers(batch, 3 * batch)),
        hidden_sizes=tuple(draw(st.lists(st.integers(1, 8), min_size=1, max_size=2))),
        learning_rate=10.0 ** draw(st.floats(-5.0, -1.0)),
        gamma=draw(f32(0.0, 1.0)),
        gae_lambda=draw(f32(0.0, 1.0)),
        clip_eps=draw(f32(0.0, 1.0, exclude_min=True)),
        ent_coef=draw(f32(0.0, 1.0)),
        vf_coef=draw(f32(0.0, 1.0)),
        max_grad_norm=draw(f32(0.0, 10.0, exclude_min=True)),
        value_target=draw(st.sampled_from(["lambda_return", "reward_to_go"])),
        normalize_advantages=draw(st.booleans()),
        anneal_lr=draw(st.booleans()),
        vf_clip_eps=draw(
            st.none() | st.floats(0.0, 1.0, exclude_min=True).filter(lambda v: v > 1e-30)
        ),
    )


@pytest.mark.heavy
@pytest.mark.timeout(900)
@TRAINING
@given(config=small_configs())
# Edge case pinned explicitly: one-transition minibatches with advantage normalisation (std 0),
# value clipping, two layers, annealing, two epochs and gamma = gae_lambda = 1.
@example(
    config=PPOConfig(
        num_envs=2,
        num_steps=2,
        num_minibatches=4,
        update_epochs=2,
        total_timesteps=12,
        hidden_sizes=(8, 1),
        gamma=1.0,
        gae_lambda=1.0,
        normalize_advantages=True,
        anneal_lr=True,
        vf_clip_eps=1.0,
        value_target="reward_to_go",
    )
)
def test_every_valid_small_config_trains(config: PPOConfig):
    result = ppo_jax.train(config, jax.random.PRNGKey(0))
    n = config.num_updates
    assert result.metrics, "no metrics returned"
    assert set(result.metrics) == set(METRIC_NAMES)
    for name, values in result.metrics.items():
        assert np.shape(values) == (n,), (name, np.shape(values))
    for name in ("policy_loss", "value_loss", "entropy"):
        values = np.asarray(result.metrics[name])
        assert np.all(np.isfinite(values)), (name, values)
    assert np.all(np.asarray(result.metrics["value_loss"]) >= 0)
    assert np.all(np.asarray(result.metrics["entropy"]) >= 0)
    assert int(np.asarray(result.metrics["env_steps"])[-1]) == config.env_steps
    leaves: list[Any] = jax.tree.leaves(result.params)
    assert leaves, "no parameters returned"
    for leaf in leaves:
        assert np.all(np.isfinite(np.asarray(leaf))), "non-finite parameters"
    assert math.isfinite(float(result.metrics["learning_rate"][0]))


@pytest.mark.parametrize("normalize", [False, True])
def test_train_state_shapes_from_the_parameters_alone(normalize):
    """What a reader rebuilds from stored parameters (no environment, no network) is the
    structure, shapes and dtypes of the learner state training makes."""
    config = PPOConfig(env_name="Pendulum-v1", normalize_observations=normalize)
    env, env_params = make_env(config)
    spec = make_spec(config, env, env_params)
    runner = jax.eval_shape(
        lambda k: init_runner(spec, env_params, config.hyperparams(), k), jax.random.PRNGKey(0)
    )
    obs_shape = (3,) if normalize else None
    got = train_state_shapes(runner.train_state.params, obs_shape)
    assert jax.tree.structure(got) == jax.tree.structure(runner.train_state)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(runner.train_state), strict=True):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
