"""ppo_jax.core.nature_cnn: the Nature DQN network of Atari PPO (CleanRL's), with its im2col
convolution equal to XLA's own (the oracle: ``lax.conv_general_dilated`` with the same
parameters)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig
from ppo_jax.core.nature_cnn import CPU_CHUNK, NatureActorCritic, min_image_side, strided_conv
from ppo_jax.core.networks import default_module
from ppo_jax.core.types import ActionSpec


@pytest.mark.parametrize(
    ("kernel", "stride", "side"), [(8, 4, 44), (8, 4, 47), (4, 2, 20), (4, 2, 21), (3, 1, 9)]
)
def test_im2col_convolution_equals_xla_convolution(kernel: int, stride: int, side: int) -> None:
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, side, side, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (kernel, kernel, 3, 5))
    b = jnp.arange(5.0)
    ours = jax.jit(strided_conv, static_argnums=(3, 4))(x, w, b, stride, "im2col")
    theirs = jax.lax.conv_general_dilated(
        x, w, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    expected_side = (side - kernel) // stride + 1
    assert ours.shape == (2, expected_side, expected_side, 5)
    np.testing.assert_allclose(ours, theirs + b, rtol=1e-5, atol=1e-5)


@pytest.mark.heavy
def test_shapes_shared_torso_chunks_and_pixel_scale() -> None:
    batch = 2 * CPU_CHUNK  # processed in two chunks on the CPU
    frames = jax.random.randint(jax.random.PRNGKey(0), (batch, 84, 84, 4), 0, 256)
    frames = frames.astype(jnp.float32)
    net = NatureActorCritic(action_size=4)
    params = jax.jit(net.init)(jax.random.PRNGKey(1), frames[:1])["params"]
    # One torso (3 convolutions, one 512 layer) and two heads.
    assert params["Dense_0_kernel"].shape == (7 * 7 * 64, 512)
    assert params["Conv_0_kernel"].shape == (8, 8, 4, 32) and params["value_kernel"].shape == (
        512,
        1,
    )
    apply = jax.jit(lambda p, x: net.apply({"params": p}, x))
    logits, value = apply(params, frames)
    assert logits.shape == (batch, 4) and value.shape == (batch,)
    only_value = net.apply({"params": params}, frames, method="value")
    np.testing.assert_allclose(only_value, value, rtol=1e-5, atol=1e-5)
    # The oracle: the Nature network written out with XLA's convolution on frames / 255.
    x = frames / 255.0
    for i, stride in enumerate((4, 2, 1)):
        x = jax.lax.conv_general_dilated(
            x, params[f"Conv_{i}_kernel"], (stride, stride), "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )  # fmt: skip
        x = jax.nn.relu(x + params[f"Conv_{i}_bias"])
    x = jax.nn.relu(x.reshape(batch, -1) @ params["Dense_0_kernel"] + params["Dense_0_bias"])
    np.testing.assert_allclose(
        logits, x @ params["policy_kernel"] + params["policy_bias"], rtol=1e-4, atol=1e-5
    )
    expected = (x @ params["value_kernel"] + params["value_bias"])[:, 0]
    np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-5)
    assert min_image_side() == 36


def test_config_selects_and_checks_it() -> None:
    config = PPOConfig(env_name="Breakout-MinAtar", torso="nature")
    module = default_module(config, (84, 84, 4), ActionSpec(continuous=False, size=4))
    assert isinstance(module, NatureActorCritic)
    with pytest.raises(ValueError, match="at least 36x36"):
        default_module(config, (10, 10, 4), ActionSpec(continuous=False, size=4))
    with pytest.raises(ValueError, match="feed-forward"):
        PPOConfig(torso="nature", recurrent="gru")
