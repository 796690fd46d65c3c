"""Network shapes, initialisation, and categorical helpers against jax.nn references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig, policy_logits, state_value
from ppo_jax.networks import entropy, init_params, log_prob, orthogonal, sample_action


def test_shapes_single_and_batch(key):
    cfg = PPOConfig(hidden_sizes=(32, 16))
    params = init_params(cfg, key, (4,), 2)
    assert policy_logits(cfg, params, jnp.zeros(4)).shape == (2,)
    assert state_value(cfg, params, jnp.zeros(4)).shape == ()
    assert policy_logits(cfg, params, jnp.zeros((7, 4))).shape == (7, 2)
    assert state_value(cfg, params, jnp.zeros((3, 7, 4))).shape == (3, 7)
    assert params["actor"]["Dense_0"]["kernel"].shape == (4, 32)
    assert params["actor"]["Dense_1"]["kernel"].shape == (32, 16)
    assert params["actor"]["Dense_2"]["kernel"].shape == (16, 2)
    assert params["critic"]["Dense_2"]["kernel"].shape == (16, 1)


def test_image_observations_are_flattened_with_mlp_torso(key):
    cfg = PPOConfig(hidden_sizes=(8,), torso="mlp")
    params = init_params(cfg, key, (3, 5, 2), 4)
    assert params["actor"]["Dense_0"]["kernel"].shape == (30, 8)
    assert policy_logits(cfg, params, jnp.zeros((3, 5, 2))).shape == (4,)
    assert state_value(cfg, params, jnp.zeros((6, 3, 5, 2))).shape == (6,)


def test_wrong_observation_shape_is_refused(key):
    cfg = PPOConfig(hidden_sizes=(8,))
    params = init_params(cfg, key, (4,), 2)
    with pytest.raises(ValueError, match="input size 4"):
        policy_logits(cfg, params, jnp.zeros((7, 3)))


def test_actor_and_critic_are_separate(key):
    cfg = PPOConfig()
    params = init_params(cfg, key, (4,), 2)
    grads = jax.grad(lambda p: state_value(cfg, p, jnp.ones(4)))(params)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads["actor"]))
    assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree.leaves(grads["critic"]))


@pytest.mark.parametrize("shape", [(64, 64), (4, 64), (64, 2), (200, 8)])
def test_orthogonal_init(key, shape):
    w = orthogonal(2.0)(key, shape)
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-4)


def test_initial_policy_is_near_uniform(key):
    cfg = PPOConfig()
    params = init_params(cfg, key, (4,), 2)
    obs = jax.random.normal(key, (100, 4))
    probs = jax.nn.softmax(policy_logits(cfg, params, obs))
    assert float(jnp.abs(probs - 0.5).max()) < 0.05


def test_init_under_vmap_does_not_hang(key):
    cfg = PPOConfig()
    keys = jax.random.split(key, 8)
    params = jax.jit(jax.vmap(lambda k: init_params(cfg, k, (4,), 2)))(keys)
    assert params["actor"]["Dense_0"]["kernel"].shape == (8, 4, 64)


def test_categorical_helpers_match_references(key):
    logits = jax.random.normal(key, (5, 3))
    actions = jnp.array([0, 1, 2, 1, 0])
    ref_logp = jax.nn.log_softmax(logits)[jnp.arange(5), actions]
    np.testing.assert_allclose(log_prob(logits, actions), ref_logp, rtol=1e-6)
    p = jax.nn.softmax(logits)
    np.testing.assert_allclose(entropy(logits), -(p * jnp.log(p)).sum(-1), rtol=1e-5)
    samples = sample_action(key, jnp.tile(jnp.log(jnp.array([0.2, 0.8])), (20000, 1)))
    assert samples.dtype == jnp.int32
    np.testing.assert_allclose(samples.mean(), 0.8, atol=0.02)
