"""Gaussian policies for Box actions, CNN torsos, and observation/reward normalisation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import ContinuousActionEnv, TargetActionEnv

from ppo_jax import PPOConfig, evaluate, export_policy, policy_logits, state_value, train
from ppo_jax.envs import action_spec, make_env, to_env_action
from ppo_jax.networks import (
    Categorical,
    DiagGaussian,
    action_distribution,
    dist_entropy,
    dist_log_prob,
    dist_mode,
    dist_sample,
    init_params,
)
from ppo_jax.normalize import (
    INITIAL_COUNT,
    init_reward_norm,
    init_stats,
    normalize,
    scale_rewards,
    update_stats,
)
from ppo_jax.rollout import collect_rollout
from ppo_jax.train import init_runner, train_seeds


# ----------------------------------------------------------------------------- Gaussian policy
def test_gaussian_log_prob_and_entropy_match_closed_form():
    mean = jnp.array([[0.3, -1.0], [2.0, 0.5]])
    log_std = jnp.array([[-0.5, 0.2], [0.0, -1.5]])
    action = jnp.array([[1.0, -0.2], [1.5, 0.5]])
    dist = DiagGaussian(mean, log_std)
    expected_lp, expected_h = [], []
    for m_row, s_row, a_row in zip(
        np.asarray(mean), np.asarray(log_std), np.asarray(action), strict=True
    ):
        lp = h = 0.0
        for m, ls, a in zip(m_row, s_row, a_row, strict=True):
            sd = math.exp(ls)
            lp += -((a - m) ** 2) / (2 * sd * sd) - math.log(sd * math.sqrt(2 * math.pi))
            h += 0.5 * math.log(2 * math.pi * math.e * sd * sd)
        expected_lp.append(lp)
        expected_h.append(h)
    np.testing.assert_allclose(dist_log_prob(dist, action), expected_lp, rtol=1e-5)
    np.testing.assert_allclose(dist_entropy(dist), expected_h, rtol=1e-5)
    np.testing.assert_array_equal(dist_mode(dist), mean)


def test_gaussian_samples_have_the_right_moments(key):
    dist = DiagGaussian(jnp.full((40000, 2), jnp.array([1.0, -2.0])), jnp.full((40000, 2), -0.7))
    samples = np.asarray(dist_sample(key, dist))
    np.testing.assert_allclose(samples.mean(0), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(samples.std(0), math.exp(-0.7), rtol=0.02)


def test_categorical_distribution_functions_agree_with_logits():
    logits = jnp.log(jnp.array([[0.1, 0.6, 0.3]]))
    dist = Categorical(logits)
    np.testing.assert_allclose(dist_log_prob(dist, jnp.array([1])), [math.log(0.6)], rtol=1e-6)
    assert int(dist_mode(dist)[0]) == 1


def test_box_action_space_selects_a_gaussian_policy(key):
    env = ContinuousActionEnv()
    spec = action_spec(env, env.default_params)
    assert spec.continuous and spec.size == 1
    config = PPOConfig(hidden_sizes=(8,), log_std_init=-0.5)
    params = init_params(config, key, (1,), 1, continuous=True)
    np.testing.assert_allclose(params["actor"]["log_std"], [-0.5])
    dist = action_distribution(config, params, jnp.ones((5, 1)))
    assert isinstance(dist, DiagGaussian) and dist.mean.shape == (5, 1)
    assert policy_logits(config, params, jnp.ones(1)).shape == (1,)


def test_pendulum_actions_are_clipped_only_when_stepping(key):
    config = PPOConfig(env_name="Pendulum-v1", num_envs=16, num_steps=8, log_std_init=2.0)
    env, env_params = make_env(config)
    runner = init_runner(config, env, env_params, config.hyperparams(), key)
    _, traj = collect_rollout(config, env, env_params, runner.train_state.params, runner.env, key)
    actions = np.asarray(traj.action)
    assert actions.shape == (8, 16, 1) and np.abs(actions).max() > 2.0  # std e^2: outside bounds
    clipped = np.asarray(to_env_action(env, env_params, traj.action))
    np.testing.assert_array_equal(clipped, np.clip(actions, -2.0, 2.0))
    assert np.all(np.isfinite(np.asarray(traj.log_prob))) and traj.reward.shape == (8, 16)


def test_rewards_are_computed_from_clipped_actions(key):
    env = TargetActionEnv()
    config = PPOConfig(num_envs=64, num_steps=4, log_std_init=1.0)
    runner = init_runner(config, env, env.default_params, config.hyperparams(), key)
    _, traj = collect_rollout(
        config, env, env.default_params, runner.train_state.params, runner.env, key
    )
    a = np.clip(np.asarray(traj.action)[..., 0], -1.0, 1.0)
    np.testing.assert_allclose(
        np.asarray(traj.reward), -((a - np.asarray(traj.obs)[..., 0]) ** 2), rtol=1e-5
    )


def test_gaussian_policy_learns_the_target_action(key):
    """Oracle: the best return is 0 (act = target); ignoring the target gives about -1/12."""
    env = TargetActionEnv()
    config = PPOConfig(
        num_envs=64, num_steps=8, total_timesteps=64 * 8 * 60, learning_rate=3e-3,
        ent_coef=0.0, hidden_sizes=(32,), log_std_init=-0.5, gamma=0.0, gae_lambda=0.0,
    )  # fmt: skip
    result = train(config, key, env=env)
    greedy = evaluate(config, result.params, key, 256, env=env)
    assert float(greedy.returns.mean()) > -0.005
    first = float(result.metrics["episode_return"][0])
    assert first < -0.2  # the untrained, wide policy is far from the target
    assert float(result.params["actor"]["log_std"][0]) < -0.5  # exploration shrank


def test_export_policy_returns_clipped_float_actions(key):
    config = PPOConfig(env_name="Pendulum-v1", hidden_sizes=(8,))
    params = init_params(config, key, (3,), 1, continuous=True)
    params["actor"]["Dense_1"]["bias"] = jnp.array([5.0])  # mean far above the bound 2
    act = export_policy(config, params)
    out = act(np.zeros(3, np.float32))
    assert out.shape == (1,) and out.dtype == np.float32 and float(out[0]) == 2.0
    assert act(np.zeros((4, 3), np.float32)).shape == (4, 1)


# ---------------------------------------------------------------------------------- CNN torso
def test_image_observations_get_a_cnn_torso(key):
    config = PPOConfig(env_name="Breakout-MinAtar", hidden_sizes=(32,), cnn_channels=(8,))
    env, env_params = make_env(config)
    params = init_params(config, key, (10, 10, 4), 3)
    assert params["actor"]["Conv_0"]["kernel"].shape == (3, 3, 4, 8)
    assert params["critic"]["Dense_0"]["kernel"].shape == (8 * 8 * 8, 32)
    obs, _ = env.reset(key, env_params)
    assert policy_logits(config, params, obs).shape == (3,)
    assert state_value(config, params, jnp.stack([obs] * 5)).shape == (5,)
    with pytest.raises(ValueError, match=r"\[H, W, 4\]"):
        state_value(config, params, jnp.zeros((10, 10, 3)))


def test_cnn_torso_on_vector_observations_is_refused_before_compiling(key):
    with pytest.raises(ValueError, match="torso='cnn'"):
        train(PPOConfig(torso="cnn", num_envs=4, num_steps=8, total_timesteps=64), key)


# ------------------------------------------------------------------------------ normalisation
def test_running_stats_equal_the_statistics_of_all_samples(key):
    data = jax.random.normal(key, (5, 37, 3)) * jnp.array([1.0, 10.0, 0.1]) + jnp.array([3, -2, 0])
    stats = init_stats((3,))
    for chunk in data:
        stats = update_stats(stats, chunk)
    flat = np.asarray(data).reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.var, flat.var(0), rtol=1e-3)
    np.testing.assert_allclose(stats.samples, 5 * 37 + INITIAL_COUNT, rtol=1e-6)
    z = np.asarray(normalize(stats, data, clip=100.0)).reshape(-1, 3)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-3)
    assert float(jnp.max(normalize(stats, data * 1e3, clip=5.0))) == 5.0


def test_reward_scaling_matches_a_loop_oracle(key):
    gamma, t_len, n = 0.9, 12, 3
    rewards = np.asarray(jax.random.normal(key, (t_len, n)) + 1.0)
    dones = np.zeros((t_len, n), bool)
    dones[4, 0] = dones[7, 1] = dones[7, 2] = True
    state, scaled = scale_rewards(init_reward_norm(n), rewards, dones, gamma, clip=10.0)
    g = np.zeros(n)
    returns = []
    for t in range(t_len):
        g = rewards[t] + gamma * g
        returns.append(g.copy())
        g = np.where(dones[t], 0.0, g)
    returns = np.array(returns)
    m, c = returns.mean(), returns.size
    var = 1.0 * INITIAL_COUNT + returns.var() * c + m**2 * INITIAL_COUNT * c / (c + INITIAL_COUNT)
    var /= c + INITIAL_COUNT
    np.testing.assert_allclose(state.stats.var, var, rtol=1e-4)
    np.testing.assert_allclose(state.returns, g, rtol=1e-5)
    np.testing.assert_allclose(scaled, rewards / np.sqrt(var + 1e-8), rtol=1e-4)


def test_observation_statistics_are_trained_state_not_parameters(key):
    config = PPOConfig(
        env_name="Pendulum-v1", num_envs=8, num_steps=16, total_timesteps=8 * 16 * 4,
        hidden_sizes=(16,), normalize_observations=True, normalize_rewards=True,
    )  # fmt: skip
    result = train_seeds(config, [0, 1])
    stats = result.params["obs_norm"]
    # reset observations + 4 rollouts of 8 x 16, per seed
    np.testing.assert_allclose(stats.samples, [8 + 4 * 128 + INITIAL_COUNT] * 2, rtol=1e-6)
    assert stats.mean.shape == (2, 3) and not np.allclose(stats.mean[0], stats.mean[1])
    # Pendulum observations are (cos, sin, angular velocity): |cos|, |sin| <= 1.
    assert np.all(np.abs(np.asarray(stats.mean)[:, :2]) <= 1.0)
    # The optimiser's moments cover the actor and critic only, not the statistics.
    adam = next(
        x
        for x in jax.tree.leaves(result.train_state.opt_state, is_leaf=lambda x: hasattr(x, "mu"))
        if hasattr(x, "mu")
    )
    trained = sum(x.size for k in ("actor", "critic") for x in jax.tree.leaves(result.params[k]))
    assert sum(x.size for x in jax.tree.leaves(adam.mu)) == trained


def test_evaluation_and_export_apply_the_saved_normalisation(key):
    config = PPOConfig(hidden_sizes=(8,), normalize_observations=True)
    params = init_params(config, key, (4,), 2)
    params["obs_norm"] = params["obs_norm"]._replace(
        mean=jnp.array([1.0, -1.0, 0.5, 0.0]), var=jnp.array([4.0, 1.0, 0.25, 9.0])
    )
    obs = np.array([[0.3, -0.2, 1.0, 2.0], [3.0, 1.0, -1.0, 0.0]], np.float32)
    z = (obs - np.array([1.0, -1.0, 0.5, 0.0])) / np.sqrt(np.array([4.0, 1.0, 0.25, 9.0]) + 1e-8)
    plain = {"actor": params["actor"], "critic": params["critic"]}
    np.testing.assert_allclose(
        policy_logits(config, params, obs), policy_logits(config, plain, z), rtol=1e-5
    )
    act = export_policy(config, params)
    expected = np.argmax(np.asarray(policy_logits(config, plain, z)), axis=-1)
    np.testing.assert_array_equal(act(obs), expected)


def test_patch_convolution_equals_xla_convolution(key):
    from ppo_jax.networks import PatchConv

    x = jax.random.normal(key, (2, 3, 10, 9, 4))
    module = PatchConv(features=6, kernel_size=3)
    params = module.init(key, x)
    params["params"]["bias"] = jnp.arange(6.0)
    out = module.apply(params, x)
    kernel = params["params"]["kernel"]
    expected = jax.lax.conv_general_dilated(
        x.reshape(6, 10, 9, 4), kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    ).reshape(2, 3, 8, 7, 6) + jnp.arange(6.0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
