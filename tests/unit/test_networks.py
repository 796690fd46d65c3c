"""ppo_jax.core.networks: the factory (shapes, leading axes, no name sniffing), the built-in
modules, initialisation, normalisation inside ``apply``, and custom modules checked up front."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig, policy_logits, state_value
from ppo_jax.core.distributions import Categorical, DiagGaussian
from ppo_jax.core.networks import (
    ActorCritic,
    PatchConv,
    RecurrentActorCritic,
    check_network,
    make_network,
    orthogonal,
)
from ppo_jax.core.types import ActionSpec, RunningStats


def net_for(config, obs_shape, n, continuous=False, module=None, conv="im2col"):
    return make_network(config, obs_shape, ActionSpec(continuous, n), module, conv)


def test_shapes_single_and_batch(key):
    cfg = PPOConfig(hidden_sizes=(32, 16))
    net = net_for(cfg, (4,), 2)
    params = net.init(key)
    dist, value = net.apply(params, jnp.zeros(4))
    assert dist.logits.shape == (2,) and value.shape == ()
    dist, value = net.apply(params, jnp.zeros((3, 7, 4)))
    assert dist.logits.shape == (3, 7, 2) and value.shape == (3, 7)
    assert params["network"]["actor"]["Dense_0"]["kernel"].shape == (4, 32)
    assert params["network"]["actor"]["Dense_1"]["kernel"].shape == (32, 16)
    assert params["network"]["actor"]["Dense_2"]["kernel"].shape == (16, 2)
    assert params["network"]["critic"]["Dense_2"]["kernel"].shape == (16, 1)
    # The public helpers bind the config's environment (CartPole: 4 observations, 2 actions).
    assert policy_logits(cfg, params, jnp.zeros(4)).shape == (2,)
    assert state_value(cfg, params, jnp.zeros((3, 7, 4))).shape == (3, 7)


def test_image_observations_are_flattened_with_mlp_torso(key):
    cfg = PPOConfig(hidden_sizes=(8,), torso="mlp")
    net = net_for(cfg, (3, 5, 2), 4)
    params = net.init(key)
    assert params["network"]["actor"]["Dense_0"]["kernel"].shape == (30, 8)
    assert net.apply(params, jnp.zeros((3, 5, 2)))[0].logits.shape == (4,)
    assert net.value(params, jnp.zeros((6, 3, 5, 2))).shape == (6,)


def test_image_observations_get_a_cnn_torso_and_both_convolutions_agree(key):
    cfg = PPOConfig(hidden_sizes=(32,), cnn_channels=(8,))
    net = net_for(cfg, (10, 10, 4), 3)
    params = net.init(key)
    assert params["network"]["actor"]["Conv_0"]["kernel"].shape == (3, 3, 4, 8)
    assert params["network"]["critic"]["Dense_0"]["kernel"].shape == (8 * 8 * 8, 32)
    obs = jax.random.uniform(key, (5, 10, 10, 4))
    native = net_for(cfg, (10, 10, 4), 3, conv="native")
    assert jax.tree.structure(native.init(key)) == jax.tree.structure(params)
    np.testing.assert_allclose(
        native.apply(params, obs)[0].logits, net.apply(params, obs)[0].logits, atol=1e-5
    )
    with pytest.raises(ValueError, match=r"observation shape \(10, 10, 4\)"):
        net.value(params, jnp.zeros((10, 10, 3)))


def test_cnn_that_does_not_fit_the_images_is_refused():
    with pytest.raises(ValueError, match="cnn_kernel=7"):
        net_for(PPOConfig(cnn_kernel=7, cnn_channels=(4, 4)), (10, 10, 4), 3)


def test_wrong_observation_shape_is_refused(key):
    cfg = PPOConfig(hidden_sizes=(8,))
    net = net_for(cfg, (4,), 2)
    with pytest.raises(ValueError, match=r"observation shape \(4,\)"):
        net.apply(net.init(key), jnp.zeros((7, 3)))


def test_actor_and_critic_are_separate(key):
    net = net_for(PPOConfig(), (4,), 2)
    params = net.init(key)
    grads = jax.grad(lambda p: net.value(p, jnp.ones(4)))(params)
    actor = grads["network"]["actor"]
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(actor))
    assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree.leaves(grads["network"]["critic"]))


@pytest.mark.parametrize("shape", [(64, 64), (4, 64), (64, 2), (200, 8)])
def test_orthogonal_init(key, shape):
    w = orthogonal(2.0)(key, shape)
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-4)


def test_initial_policy_is_near_uniform(key):
    net = net_for(PPOConfig(), (4,), 2)
    obs = jax.random.normal(key, (100, 4))
    probs = jax.nn.softmax(net.apply(net.init(key), obs)[0].logits)
    assert float(jnp.abs(probs - 0.5).max()) < 0.05


def test_init_under_vmap_does_not_hang(key):
    net = net_for(PPOConfig(), (4,), 2)
    params = jax.jit(jax.vmap(net.init))(jax.random.split(key, 8))
    assert params["network"]["actor"]["Dense_0"]["kernel"].shape == (8, 4, 64)


def test_gaussian_policy_owns_a_learned_log_std(key):
    cfg = PPOConfig(hidden_sizes=(8,), log_std_init=-0.5)
    net = net_for(cfg, (1,), 1, continuous=True)
    params = net.init(key)
    np.testing.assert_allclose(params["log_std"], [-0.5])
    dist, _ = net.apply(params, jnp.ones((5, 1)))
    assert isinstance(dist, DiagGaussian) and dist.mean.shape == (5, 1)
    np.testing.assert_allclose(dist.log_std, -0.5)


def test_normalisation_is_applied_inside_apply(key):
    net = net_for(PPOConfig(hidden_sizes=(8,)), (4,), 2)
    params = net.init(key)
    mean, var = jnp.array([1.0, -1.0, 0.5, 0.0]), jnp.array([4.0, 1.0, 0.25, 9.0])
    stats = RunningStats(mean=mean, var=var, samples=jnp.float32(10.0))
    obs = np.array([[0.3, -0.2, 1.0, 2.0], [3.0, 1.0, -1.0, 0.0]], np.float32)
    z = (obs - np.asarray(mean)) / np.sqrt(np.asarray(var) + 1e-8)
    np.testing.assert_allclose(
        net.apply(params, obs, stats)[0].logits, net.apply(params, z)[0].logits, rtol=1e-5
    )


def test_action_masks_reach_the_distribution(key):
    net = net_for(PPOConfig(hidden_sizes=(8,)), (4,), 3)
    mask = jnp.array([[True, False, True]])
    dist, _ = net.apply(net.init(key), jnp.zeros((1, 4)), action_mask=mask)
    assert isinstance(dist, Categorical)
    assert float(jax.nn.softmax(dist.logits)[0, 1]) == 0.0


def test_patch_convolution_equals_xla_convolution(key):
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


# ------------------------------------------------------------------ custom modules
class SharedTorso(nn.Module):
    """A shared actor-critic torso with a LayerNorm."""

    actions: int

    @nn.compact
    def __call__(self, obs):
        x = nn.LayerNorm()(nn.tanh(nn.Dense(32)(obs)))
        return nn.Dense(self.actions)(x), nn.Dense(1)(x)[..., 0]


class WrongValue(nn.Module):
    @nn.compact
    def __call__(self, obs):
        return nn.Dense(2)(obs), nn.Dense(1)(obs)  # value [B, 1], not [B]


class WrongLogits(nn.Module):
    @nn.compact
    def __call__(self, obs):
        return nn.Dense(5)(obs), nn.Dense(1)(obs)[..., 0]


class OneOutput(nn.Module):
    @nn.compact
    def __call__(self, obs):
        return nn.Dense(2)(obs)


def test_a_custom_module_is_bound_without_guessing(key):
    net = net_for(PPOConfig(), (4,), 2, module=SharedTorso(2))
    check_network(net)
    params = net.init(key)
    assert set(params) == {"network"} and "LayerNorm_0" in params["network"]
    dist, value = net.apply(params, jnp.ones((3, 4)))
    assert dist.logits.shape == (3, 2) and value.shape == (3,)
    assert net.value(params, jnp.ones(4)).shape == ()


@pytest.mark.parametrize(
    ("module", "needle"),
    [
        (WrongValue(), r"value shaped like the batch \[B\].*value\[\.\.\., 0\]"),
        (WrongLogits(), r"logits shaped \[B, 2\]"),
        (OneOutput(), r"must return \(logits \[B, 2\], value \[B\]\)"),
    ],
)
def test_custom_modules_with_wrong_outputs_are_refused(module, needle):
    with pytest.raises(ValueError, match=needle):
        check_network(net_for(PPOConfig(), (4,), 2, module=module))
    with pytest.raises(TypeError, match=r"flax\.linen\.Module"):
        net_for(PPOConfig(), (4,), 2, module=lambda obs: obs)


def test_equal_modules_give_equal_networks():
    a = net_for(PPOConfig(), (4,), 2, module=SharedTorso(2))
    b = net_for(PPOConfig(), (4,), 2, module=SharedTorso(2))
    assert a == b and hash(a) == hash(b)
    assert a != net_for(PPOConfig(), (4,), 2, module=SharedTorso(3))


@pytest.mark.parametrize("cell", ["gru", "lstm", "lru"])
def test_recurrent_module_steps_and_unrolls_alike(key, cell):
    """Oracle: stepping one observation at a time. ``lru`` unrolls with its parallel scan
    (``LinearRecurrentActorCritic.unroll``), the others with a scan of their step; the
    sequences start from a non-initial state where the first step is no episode start."""
    cfg = PPOConfig(hidden_sizes=(8,), recurrent=cell, recurrent_size=6)
    net = net_for(cfg, (4,), 2)
    assert net.recurrent and isinstance(net.module, RecurrentActorCritic)
    assert not isinstance(net.module, ActorCritic)
    assert hasattr(net.module, "unroll") == (cell == "lru")
    params = net.init(key)
    obs = jax.random.normal(key, (5, 3, 4))  # [T, B, obs]
    first = jnp.array([[1, 0, 1], [0, 0, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0]], bool)
    start = jax.tree.map(lambda x: x + 0.5, net.initial_state(3))
    state = start
    outs = []
    for t in range(5):
        state, dist, value = net.step(params, state, obs[t], first[t])
        outs.append((dist.logits, value))
    dist, value = net.unroll(params, start, obs, first)
    for t in range(5):
        np.testing.assert_allclose(dist.logits[t], outs[t][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(value[t], outs[t][1], rtol=1e-5, atol=1e-6)
    # A reset makes a step independent of what came before.
    starts = jnp.ones(3, bool)
    _, d1, _ = net.step(params, jax.tree.map(lambda x: x + 3.0, state), obs[0], starts)
    _, d0, _ = net.step(params, net.initial_state(3), obs[0], starts)
    np.testing.assert_array_equal(d1.logits, d0.logits)


# ------------------------------------------------ pytree observations, composite and bounded
def _tree_spec():
    from ppo_jax.core.envs import obs_spec

    obs = {
        "image": jnp.zeros((6, 6, 2)),
        "vector": jnp.zeros((3,)),
        "critic": {"privileged": jnp.zeros((4,))},
    }
    return obs_spec(obs)


def _tree_obs(key, batch):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "image": jax.random.uniform(k1, (batch, 6, 6, 2)),
        "vector": jax.random.normal(k2, (batch, 3)),
        "critic": {"privileged": jax.random.normal(k3, (batch, 4))},
    }


def test_pytree_observations_get_one_encoder_per_leaf_and_the_actor_never_sees_critic(key):
    net = make_network(PPOConfig(hidden_sizes=(16,)), _tree_spec(), ActionSpec(False, 3))
    params = net.init(key)
    actor = params["network"]["actor"]
    assert "image_Conv_0" in actor and "Conv_0" not in actor  # the CNN runs on the image leaf
    # Actor input: conv features of the image + the vector; the critic entry is not among them.
    conv_out = (6 - 3 + 1) ** 2 * 16
    assert actor["Dense_0"]["kernel"].shape == (conv_out + 3, 16)
    assert params["network"]["critic"]["Dense_0"]["kernel"].shape == (conv_out + 3 + 4, 16)
    obs = _tree_obs(key, 5)
    dist, value = net.apply(params, obs)
    assert dist.logits.shape == (5, 3) and value.shape == (5,)
    moved = dict(obs, critic={"privileged": obs["critic"]["privileged"] + 100.0})
    dist2, value2 = net.apply(params, moved)
    np.testing.assert_array_equal(dist.logits, dist2.logits)
    assert not np.allclose(value, value2)
    # Leading axes [T, B] work as for arrays; a wrong leaf shape is named.
    seq = jax.tree.map(lambda x: jnp.stack([x, x]), obs)
    assert net.apply(params, seq)[1].shape == (2, 5)
    with pytest.raises(ValueError, match="vector"):
        net.apply(params, dict(obs, vector=jnp.zeros((5, 4))))


def test_pytree_observation_statistics_skip_images_and_are_applied_per_leaf(key):
    from ppo_jax.core.normalize import init_obs_stats, update_obs_stats

    spec = _tree_spec()
    stats = init_obs_stats(spec)
    assert stats["image"].mean.shape == (6, 6, 2) and stats["vector"].mean.shape == (3,)
    obs = _tree_obs(key, 64)
    stats = update_obs_stats(stats, obs)
    np.testing.assert_allclose(stats["vector"].mean, obs["vector"].mean(0), rtol=1e-3, atol=1e-4)
    net = make_network(PPOConfig(hidden_sizes=(16,)), spec, ActionSpec(False, 3))
    params = net.init(key)
    with_stats = net.apply(params, obs, stats)[0].logits
    by_hand = dict(
        obs, vector=(obs["vector"] - stats["vector"].mean) / jnp.sqrt(stats["vector"].var + 1e-8)
    )
    by_hand["critic"] = {
        "privileged": (obs["critic"]["privileged"] - stats["critic"]["privileged"].mean)
        / jnp.sqrt(stats["critic"]["privileged"].var + 1e-8)
    }
    np.testing.assert_allclose(with_stats, net.apply(params, by_hand)[0].logits, rtol=1e-5)


def _composite_action():
    from ppo_jax.core.types import CompositeAction

    tree = {
        "move": ActionSpec(True, 2, (-1.0, -2.0), (1.0, 2.0)),
        "say": (ActionSpec(False, 3), ActionSpec(False, 4)),
    }
    leaves, treedef = jax.tree.flatten(tree, is_leaf=lambda x: isinstance(x, ActionSpec))
    return CompositeAction(treedef, tuple(leaves))


@pytest.mark.parametrize(
    ("distribution", "state_dependent", "outputs", "log_std"),
    [
        ("gaussian", False, 2 + 3 + 4, 2),
        ("gaussian", True, 4 + 3 + 4, 0),
        ("tanh_gaussian", False, 2 + 3 + 4, 2),
        ("beta", False, 4 + 3 + 4, 0),
    ],
)
def test_composite_actions_split_the_head_into_one_distribution_per_leaf(
    key, distribution, state_dependent, outputs, log_std
):
    from ppo_jax.core.distributions import Composite, dist_log_prob, dist_sample

    cfg = PPOConfig(
        hidden_sizes=(16,),
        continuous_distribution=distribution,
        state_dependent_std=state_dependent,
    )
    net = make_network(cfg, (5,), _composite_action())
    assert net.output_size == outputs and net.log_std_size == log_std
    params = net.init(key)
    assert ("log_std" in params) == bool(log_std)
    mask = {"move": None, "say": (jnp.array([[True, False, True]] * 4), None)}
    dist, _ = net.apply(params, jnp.ones((4, 5)), None, mask)
    assert isinstance(dist, Composite) and len(dist.parts) == 3
    action = dist_sample(key, dist)
    assert action[0].shape == (4, 2) and action[1].shape == (4,) and action[2].shape == (4,)
    assert bool(jnp.all(action[1] != 1))  # the masked value of the first "say" leaf
    assert dist_log_prob(dist, action).shape == (4,)
    env_action = net.env_action(dist, action)
    assert set(env_action) == {"move", "say"} and len(env_action["say"]) == 2
    if distribution != "gaussian":
        assert bool(jnp.all(jnp.abs(env_action["move"]) <= jnp.array([1.0, 2.0])))


def test_bounded_policies_need_finite_bounds():
    box = ActionSpec(True, 1, (-float("inf"),), (float("inf"),))
    with pytest.raises(
        ValueError, match=r"continuous_distribution=.beta. needs finite.*action_space has"
    ):
        make_network(PPOConfig(continuous_distribution="beta"), (3,), box)
    make_network(PPOConfig(), (3,), box)  # the Gaussian is fine


def test_state_dependent_std_is_a_head_of_the_actor(key):
    box = ActionSpec(True, 2, (-1.0, -1.0), (1.0, 1.0))
    net = make_network(PPOConfig(hidden_sizes=(8,), state_dependent_std=True), (3,), box)
    params = net.init(key)
    assert "log_std" not in params
    assert params["network"]["actor"]["Dense_1"]["kernel"].shape == (8, 4)
    obs = jax.random.normal(key, (6, 3))
    dist, _ = net.apply(params, obs)
    assert isinstance(dist, DiagGaussian) and dist.log_std.shape == (6, 2)
    assert not np.allclose(dist.log_std[0], dist.log_std[1])  # depends on the observation
