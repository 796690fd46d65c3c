"""ppo_jax.run.evaluate: known returns on probe envs, seed-batched parameters, observation
statistics required exactly when configured, clear errors for parameters that do not fit,
export as a plain function (gymnasium interop, custom environments, recurrent policies)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import ConstantRewardEnv, CounterParams

from ppo_jax import PPOConfig
from ppo_jax.core.types import RunningStats
from ppo_jax.run.evaluate import evaluate, export_policy, policy_logits, state_value
from ppo_jax.run.plan import resolve_spec


def params_for(config, key, env=None, env_params=None):
    spec, _ = resolve_spec(config, env=env, env_params=env_params)
    return spec.network.init(key)


def test_probe_env_returns_are_exact(key):
    config = PPOConfig(hidden_sizes=(8,))
    env = ConstantRewardEnv()
    params = params_for(config, key, env)
    env_params = CounterParams(max_steps_in_episode=7)
    result = evaluate(config, params, key, 5, env=env, env_params=env_params)
    np.testing.assert_array_equal(result.returns, 7.0)
    np.testing.assert_array_equal(result.lengths, 7)
    stochastic = evaluate(
        config,
        params,
        key,
        3,
        greedy=False,
        env=env,
        env_params=CounterParams(max_steps_in_episode=4, terminate=True),
    )
    np.testing.assert_array_equal(stochastic.returns, 1.0)  # terminates after one step


def test_cartpole_untrained_policy_fails_quickly(key):
    config = PPOConfig()
    result = evaluate(config, params_for(config, key), key, 16, greedy=False)
    assert result.returns.shape == (16,)
    assert 5 <= float(result.returns.mean()) < 100  # random play lasts ~20 steps
    np.testing.assert_array_equal(result.returns, result.lengths)  # reward 1 per step


def test_seed_batched_params_give_a_seed_axis(key):
    config = PPOConfig(hidden_sizes=(8,))
    batched = jax.vmap(lambda k: params_for(config, k))(jax.random.split(key, 3))
    result = evaluate(config, batched, key, 4, max_steps=50)
    assert result.returns.shape == (3, 4)
    for i in range(3):
        single = evaluate(config, jax.tree.map(lambda x, i=i: x[i], batched), key, 4, max_steps=50)
        np.testing.assert_array_equal(result.returns[i], single.returns)
    act = export_policy(config, batched)
    assert act(np.zeros(4)).shape == (3,)
    assert act(np.zeros((5, 4))).shape == (3, 5)
    assert policy_logits(config, batched, jnp.zeros(4)).shape == (3, 2)


def test_evaluate_rejects_bad_input(key):
    config = PPOConfig()
    params = params_for(config, key)
    with pytest.raises(ValueError, match="num_episodes"):
        evaluate(config, params, key, 0)
    three_obs = params_for(config, key, _ThreeObs())  # made for observations of size 3
    needle = r"params\['network'\]\['actor'\]\['Dense_0'\]\['kernel'\] has shape \[3, 64\]"
    with pytest.raises(ValueError, match=needle + r".*needs \[4, 64\]"):
        evaluate(config, three_obs, key, 2)
    with pytest.raises(ValueError, match="missing"):
        evaluate(config, {"network": {"actor": {}}}, key, 2)
    with pytest.raises(ValueError, match="has shape"):
        bad = jax.tree.map(lambda x: x[None].repeat(2, 0), params)
        bad["network"]["critic"] = jax.tree.map(lambda x: x[0], bad["network"]["critic"])
        evaluate(config, bad, key, 2)


class _ThreeObs(ConstantRewardEnv):
    def get_obs(self, state, params=None, key=None):
        return jnp.zeros(3)

    def observation_space(self, params):
        from gymnax.environments import spaces

        return spaces.Box(0.0, 1.0, (3,), jnp.float32)


def test_observation_statistics_are_required_when_configured(key):
    config = PPOConfig(hidden_sizes=(8,), normalize_observations=True)
    params = params_for(config, key)
    with pytest.raises(ValueError, match=r"obs_norm=result\.obs_norm"):
        evaluate(config, params, key, 2)
    with pytest.raises(ValueError, match="does not normalise"):
        stats = RunningStats(jnp.zeros(4), jnp.ones(4), jnp.float32(1))
        evaluate(PPOConfig(hidden_sizes=(8,)), params, key, 2, obs_norm=stats)
    stats = RunningStats(
        jnp.array([1.0, -1.0, 0.5, 0.0]), jnp.array([4.0, 1.0, 0.25, 9.0]), jnp.float32(5)
    )
    obs = np.array([[0.3, -0.2, 1.0, 2.0], [3.0, 1.0, -1.0, 0.0]], np.float32)
    z = (obs - np.asarray(stats.mean)) / np.sqrt(np.asarray(stats.var) + 1e-8)
    plain = PPOConfig(hidden_sizes=(8,))
    np.testing.assert_allclose(
        policy_logits(config, params, obs, obs_norm=stats),
        policy_logits(plain, params, z),
        rtol=1e-5,
    )
    act = export_policy(config, params, obs_norm=stats)
    expected = np.argmax(np.asarray(policy_logits(plain, params, z)), axis=-1)
    np.testing.assert_array_equal(act(obs), expected)
    with pytest.raises(ValueError, match="obs_norm statistics have shape"):
        evaluate(
            config, params, key, 2, obs_norm=RunningStats(jnp.zeros(3), jnp.ones(3), jnp.float32(1))
        )


def test_export_policy_single_and_batch(key):
    config = PPOConfig()
    act = export_policy(config, params_for(config, key))
    single = act(np.zeros(4))
    assert isinstance(single, int) and single in (0, 1)
    batch = act(np.random.default_rng(0).normal(size=(6, 4)))
    assert batch.shape == (6,)
    sampled = export_policy(config, params_for(config, key), greedy=False, seed=1)
    draws = [sampled(np.zeros(4)) for _ in range(200)]
    assert 0.3 < np.mean(draws) < 0.7  # near-uniform initial policy
    assert state_value(config, params_for(config, key), jnp.zeros((2, 4))).shape == (2,)


def test_export_policy_returns_clipped_float_actions(key):
    config = PPOConfig(env_name="Pendulum-v1", hidden_sizes=(8,))
    params = params_for(config, key)
    params["network"]["actor"]["Dense_1"]["bias"] = jnp.array([5.0])  # mean above the bound 2
    act = export_policy(config, params)
    out = act(np.zeros(3, np.float32))
    assert out.shape == (1,) and out.dtype == np.float32 and float(out[0]) == 2.0
    assert act(np.zeros((4, 3), np.float32)).shape == (4, 1)


def test_export_policy_of_a_custom_environment(key):
    config = PPOConfig(hidden_sizes=(8,))
    env = ConstantRewardEnv()
    act = export_policy(config, params_for(config, key, env), env=env)
    assert act(np.ones(1)) in (0, 1)


def test_export_policy_drives_gymnasium_cartpole(key):
    gymnasium = pytest.importorskip("gymnasium")
    config = PPOConfig()
    act = export_policy(config, params_for(config, key))
    env = gymnasium.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    steps = 0
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(act(obs))
        steps += 1
        done = terminated or truncated
    assert 1 <= steps <= 500


@pytest.mark.parametrize("cell", ["gru", "lstm", "lru"])
def test_recurrent_policy_carries_its_state(key, cell):
    config = PPOConfig(hidden_sizes=(8,), recurrent=cell, recurrent_size=4)
    params = params_for(config, key)
    policy = export_policy(config, params)
    assert policy.recurrent
    obs = np.ones(4, np.float32)
    state = policy.initial_state(1)
    a1, state = policy.step(obs, state)
    a2, state2 = policy.step(obs, state)
    assert a1 in (0, 1) and a2 in (0, 1)
    for before, after in zip(
        jax.tree.leaves(state["actor"]), jax.tree.leaves(state2["actor"]), strict=True
    ):
        assert not np.allclose(np.asarray(before), np.asarray(after))
    policy(obs)  # the stateful form keeps its own state
    policy.reset()
    result = evaluate(config, params, key, 3, max_steps=20)
    assert result.returns.shape == (3,)


# ------------------------------------------------------ composite actions, pytree observations
def test_an_exported_policy_returns_the_action_pytree_inside_the_bounds(key):
    spaces = pytest.importorskip("examples.spaces")
    config = PPOConfig(
        env_name="examples.spaces:HybridAction",
        hidden_sizes=(8,),
        continuous_distribution="tanh_gaussian",
        log_std_init=2.0,  # wide: most pre-squash samples lie far outside the bounds
    )
    params = params_for(config, key)
    env = spaces.HybridAction()
    obs, _ = env.reset(key, env.default_params)
    for greedy in (True, False):
        policy = export_policy(config, params, greedy=greedy, seed=3)
        one = policy(np.asarray(obs))
        assert set(one) == {"choice", "amount"} and isinstance(one["choice"], int)
        assert one["amount"].shape == (1,) and abs(float(one["amount"][0])) <= 1.0
        batch = policy(np.stack([np.asarray(obs)] * 64))
        assert batch["choice"].shape == (64,) and batch["amount"].shape == (64, 1)
        assert np.all(np.abs(batch["amount"]) <= 1.0)
        if not greedy:
            assert np.abs(batch["amount"]).max() > 0.9  # squashed, not clipped at a mean
    mean, logits = policy_logits(config, params, np.asarray(obs))  # leaves in tree order
    assert mean.shape == (1,) and logits.shape == (3,)


@pytest.mark.heavy  # 10 s
def test_an_asymmetric_critic_policy_is_exported_without_the_critic_entry(key):
    spaces = pytest.importorskip("examples.spaces")
    config = PPOConfig(env_name="examples.spaces:ImageVectorCritic", hidden_sizes=(8,))
    params = params_for(config, key)
    env = spaces.ImageVectorCritic()
    obs, _ = env.reset(key, env.default_params)
    obs = jax.tree.map(np.asarray, obs)
    policy = export_policy(config, params)
    actor_only = {k: v for k, v in obs.items() if k != "critic"}
    assert policy(actor_only) == policy(obs)
    batch = jax.tree.map(lambda x: np.stack([x] * 5), actor_only)
    assert policy(batch).shape == (5,)
    assert state_value(config, params, obs).shape == ()
