"""ppo_jax.core.nature_cnn: the Nature DQN network of Atari PPO (CleanRL's), with its im2col
convolution equal to XLA's own (the oracle: ``lax.conv_general_dilated`` with the same
parameters)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig
from ppo_jax.core.nature_cnn import NatureActorCritic, StridedConv, min_image_side
from ppo_jax.core.networks import default_module
from ppo_jax.core.types import ActionSpec


@pytest.mark.parametrize(("kernel", "stride", "side"), [(8, 4, 44), (4, 2, 20), (3, 1, 9)])
def test_im2col_convolution_equals_xla_convolution(kernel: int, stride: int, side: int) -> None:
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, side, side, 3))
    mine = StridedConv(5, kernel, stride, "im2col")
    params = jax.jit(mine.init)(jax.random.PRNGKey(1), x)
    ours = mine.apply(params, x)
    theirs = StridedConv(5, kernel, stride, "native").apply(params, x)
    expected_side = (side - kernel) // stride + 1
    assert ours.shape == (2, expected_side, expected_side, 5)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.heavy
def test_shapes_shared_torso_and_pixel_scale() -> None:
    net = NatureActorCritic(action_size=4)
    frames = jax.random.randint(jax.random.PRNGKey(0), (3, 84, 84, 4), 0, 256).astype(jnp.uint8)
    params = jax.jit(net.init)(jax.random.PRNGKey(1), frames.astype(jnp.float32))["params"]
    # One torso (3 convolutions, one 512 layer) and two heads.
    assert set(params) == {"Conv_0", "Conv_1", "Conv_2", "Dense_0", "policy", "value"}
    assert params["Dense_0"]["kernel"].shape == (7 * 7 * 64, 512)
    logits, value = net.apply({"params": params}, frames.astype(jnp.float32))
    assert logits.shape == (3, 4) and value.shape == (3,)
    only_value = net.apply({"params": params}, frames.astype(jnp.float32), method="value")
    np.testing.assert_allclose(only_value, value, rtol=1e-6)
    # Pixels are scaled by 1/255: the first layer sees frames / 255.
    torso = net.apply({"params": params}, frames.astype(jnp.float32), method="torso")
    assert torso.shape == (3, 512) and bool(jnp.all(torso >= 0))
    assert min_image_side() == 36


def test_config_selects_and_checks_it() -> None:
    config = PPOConfig(env_name="Breakout-MinAtar", torso="nature")
    module = default_module(config, (84, 84, 4), ActionSpec(continuous=False, size=4))
    assert isinstance(module, NatureActorCritic)
    with pytest.raises(ValueError, match="at least 36x36"):
        default_module(config, (10, 10, 4), ActionSpec(continuous=False, size=4))
    with pytest.raises(ValueError, match="feed-forward"):
        PPOConfig(torso="nature", recurrent="gru")
