"""End-to-end training on tiny configs: shapes, determinism, vmapped seeds, no recompilation,
environment overrides, and the critic learning the untruncated value."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import ConstantRewardEnv, CounterParams, MatrixActionEnv, constant_obs_value

from ppo_jax import PPOConfig, state_value, train, train_seeds
from ppo_jax.types import Metrics


def test_tiny_run_shapes_and_finite_metrics(tiny_config, key):
    result = train(tiny_config, key)
    assert set(result.metrics) == set(Metrics._fields)
    for name, value in result.metrics.items():
        assert value.shape == (tiny_config.num_updates,), name
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "learning_rate"):
        assert np.all(np.isfinite(result.metrics[name])), name
    np.testing.assert_array_equal(
        result.metrics["env_steps"], tiny_config.batch_size * np.arange(1, 4)
    )
    # Linear annealing: update u uses lr * (1 - u / num_updates).
    np.testing.assert_allclose(
        result.metrics["learning_rate"],
        tiny_config.learning_rate * np.array([1.0, 2 / 3, 1 / 3]),
        rtol=1e-5,
    )
    assert result.params["actor"]["Dense_0"]["kernel"].shape == (4, 16)
    assert int(result.train_state.step) == 3 * 2 * 2


def test_same_key_same_result_different_key_differs(tiny_config):
    a = train(tiny_config, jax.random.PRNGKey(5))
    b = train(tiny_config, jax.random.PRNGKey(5))
    c = train(tiny_config, jax.random.PRNGKey(6))
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(
        a.params["actor"]["Dense_0"]["kernel"], c.params["actor"]["Dense_0"]["kernel"]
    )


def test_train_seeds_equals_single_runs(tiny_config):
    seeds = [0, 3, 11]
    batched = train_seeds(tiny_config, seeds)
    assert batched.metrics["episode_return"].shape == (3, tiny_config.num_updates)
    for i, s in enumerate(seeds):
        single = train(tiny_config, jax.random.PRNGKey(s))
        for x, y in zip(
            jax.tree.leaves(batched.params), jax.tree.leaves(single.params), strict=True
        ):
            np.testing.assert_allclose(x[i], y, rtol=1e-4, atol=1e-5)
        for name in ("policy_loss", "value_loss", "entropy", "episodes_completed"):
            np.testing.assert_allclose(
                batched.metrics[name][i], single.metrics[name], rtol=1e-4, atol=1e-5
            )


def test_train_seeds_accepts_a_count(tiny_config):
    result = train_seeds(tiny_config, 2)
    assert jax.tree.leaves(result.params)[0].shape[0] == 2
    for bad in (0, [], [-1], ["a"], 2.5):
        with pytest.raises((ValueError, TypeError), match="seeds"):
            train_seeds(tiny_config, bad)


def test_no_recompilation_on_second_call(tiny_config):
    compiles: list[str] = []

    def listener(event: str, duration: float, **kwargs: object) -> None:
        if "backend_compile" in event:
            compiles.append(event)

    cfg = tiny_config.replace(num_envs=2, num_minibatches=1, total_timesteps=2 * 8 * 2)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        train(cfg, jax.random.PRNGKey(0))
        first = len(compiles)
        assert first >= 1
        train(cfg, jax.random.PRNGKey(1))
        train(PPOConfig(**{**cfg.__dict__}), jax.random.PRNGKey(2))  # equal config, new object
        assert len(compiles) == first
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_custom_env_override_and_unsupported_action_space_refused(tiny_config, key):
    env = ConstantRewardEnv()
    result = train(tiny_config, key, env=env, env_params=CounterParams(max_steps_in_episode=5))
    finite = result.metrics["episode_return"][np.isfinite(result.metrics["episode_return"])]
    np.testing.assert_array_equal(finite, 5.0)
    with pytest.raises(ValueError, match=r"1-D spaces\.Box"):
        train(tiny_config, key, env=MatrixActionEnv())
    with pytest.raises(TypeError, match="gymnax Environment"):
        train(tiny_config, key, env=object())


def test_bad_arguments(tiny_config):
    with pytest.raises(TypeError, match="PPOConfig"):
        train({"num_envs": 4}, jax.random.PRNGKey(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):
        train(tiny_config, jnp.zeros(3, jnp.uint32))


def test_no_placeholder_zero_returns(tiny_config, key):
    """Updates in which no episode ended report NaN, never 0; others the true mean return."""
    cfg = tiny_config.replace(num_steps=4, num_minibatches=1, total_timesteps=4 * 4 * 6)
    result = train(
        cfg, key, env=ConstantRewardEnv(), env_params=CounterParams(max_steps_in_episode=10)
    )
    ret = np.asarray(result.metrics["episode_return"])
    count = np.asarray(result.metrics["episodes_completed"])
    # Episodes of 10 steps with 4-step rollouts end in updates 2 (steps 8-11) and 4 (16-19).
    np.testing.assert_array_equal(count, [0, 0, 4, 0, 4, 0])
    assert np.isnan(ret[[0, 1, 3, 5]]).all()
    np.testing.assert_array_equal(ret[[2, 4]], 10.0)


@pytest.mark.parametrize(
    ("terminate", "value_target"),
    [(False, "lambda_return"), (False, "reward_to_go"), (True, "lambda_return")],
)
def test_critic_learns_true_value(terminate, value_target):
    """Constant observation, reward 1 per step. Truncated after 10 steps (never terminating):
    the true value is 1 / (1 - gamma) = 10 for gamma 0.9; a critic that treated truncation as
    termination would learn the mean truncated return, about 6.5. Terminating after every
    step: the value is 1."""
    gamma = 0.9
    env_params = CounterParams(max_steps_in_episode=10, terminate=terminate)
    cfg = PPOConfig(
        num_envs=8,
        num_steps=16,
        total_timesteps=8 * 16 * 150,
        num_minibatches=2,
        update_epochs=4,
        learning_rate=3e-3,
        gamma=gamma,
        hidden_sizes=(16,),
        value_target=value_target,
    )
    result = train(cfg, jax.random.PRNGKey(0), env=ConstantRewardEnv(), env_params=env_params)
    v = float(state_value(cfg, result.params, jnp.array([1.0])))
    assert abs(v - constant_obs_value(env_params, gamma)) < 0.3, v


def test_train_seeds_sharded_over_devices_matches_one_device(tiny_config):
    assert jax.local_device_count() == 2  # conftest: two host devices
    one = train_seeds(tiny_config, 4)
    split = train_seeds(tiny_config, 4, shard=True)
    assert len(split.metrics["value_loss"].sharding.device_set) == 2
    assert len(one.metrics["value_loss"].sharding.device_set) == 1
    np.testing.assert_allclose(
        np.asarray(split.metrics["value_loss"]), np.asarray(one.metrics["value_loss"]), rtol=1e-4
    )
    odd = train_seeds(tiny_config, 3, shard=True)  # 3 seeds do not split over 2 devices
    assert len(odd.metrics["value_loss"].sharding.device_set) == 1
    with pytest.raises(TypeError, match="shard"):
        train_seeds(tiny_config, 2, shard="yes")  # type: ignore[arg-type]
