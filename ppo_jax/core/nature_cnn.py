"""The Nature DQN convolutional network (Mnih et al. 2015), as Atari PPO uses it.

``PPOConfig.torso="nature"``: three ReLU convolutions (32 8x8 stride 4, 64 4x4 stride 2,
64 3x3 stride 1, VALID padding) and a 512-unit ReLU layer, *shared* by a policy head and a
value head: the network of CleanRL's ``ppo_atari_envpool_xla_jax.py`` and of OpenAI
Baselines' Atari PPO. Observations are uint8 frames ``[B, 84, 84, C]`` (EnvPool's Atari
frames, ``ppo_jax.core.envpool``, transposed from ``[C, H, W]``), scaled here by 1/255.

See: https://www.nature.com/articles/nature14236
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ppo_jax.core.networks import HIDDEN_GAIN, POLICY_HEAD_GAIN, VALUE_HEAD_GAIN, orthogonal
from ppo_jax.core.types import Array, PRNGKey

NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
"""``(features, kernel, stride)`` of the three convolutions."""
NATURE_DENSE = 512
"""Width of the dense layer after the convolutions."""
PIXEL_SCALE = 1.0 / 255.0
"""Observations (uint8 pixels) are multiplied by this before the first convolution."""


def _conv_orthogonal(gain: float) -> Any:
    """Orthogonal init of a ``[kh, kw, in, out]`` kernel (as a ``[kh*kw*in, out]`` matrix)."""
    dense = orthogonal(gain)

    def init(key: PRNGKey, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
        return dense(key, (math.prod(shape[:-1]), shape[-1]), dtype).reshape(shape)

    return init


def min_image_side() -> int:
    """The smallest square image the three VALID convolutions accept (36 pixels)."""
    side = 1
    for _, kernel, stride in reversed(NATURE_CONVS):
        side = (side - 1) * stride + kernel
    return side


class StridedConv(nn.Module):
    """A VALID 2-D convolution with stride ``stride``: ``[B, H, W, C] -> [B, H', W',
    features]``, ``H' = (H - kernel) // stride + 1``. ``conv="im2col"`` computes it as one
    matmul over the strided ``kernel x kernel`` patches: XLA:CPU runs its own convolution's
    gradient ~20x slower inside the update's loop (measured here). ``"native"`` is
    ``lax.conv_general_dilated`` (GPU, TPU). Both have the parameters of ``nn.Conv``
    (``kernel [k, k, C, features]``, ``bias``) and give the same result."""

    features: int
    kernel_size: int
    stride: int
    conv: str = "im2col"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        k, s = self.kernel_size, self.stride
        channels = x.shape[-1]
        kernel = self.param(
            "kernel", _conv_orthogonal(HIDDEN_GAIN), (k, k, channels, self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        if self.conv == "native":
            out = jax.lax.conv_general_dilated(
                x, kernel, (s, s), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            return out + bias
        height = (x.shape[-3] - k) // s + 1
        width = (x.shape[-2] - k) // s + 1
        patches = jnp.concatenate(
            [
                x[..., i : i + s * (height - 1) + 1 : s, j : j + s * (width - 1) + 1 : s, :]
                for i in range(k)
                for j in range(k)
            ],
            axis=-1,
        )
        return patches @ kernel.reshape(k * k * channels, self.features) + bias


class NatureActorCritic(nn.Module):
    """``__call__(obs [B, H, W, C]) -> (logits or mean [B, action_size], value [B])``;
    ``value(obs) -> [B]``. The torso is shared by both heads (orthogonal init: gain sqrt(2)
    in the torso, 0.01 for the policy head, 1 for the value head)."""

    action_size: int
    conv: str = "im2col"

    def setup(self) -> None:
        self.convs = [
            StridedConv(features, kernel, stride, self.conv, name=f"Conv_{i}")
            for i, (features, kernel, stride) in enumerate(NATURE_CONVS)
        ]
        self.dense = nn.Dense(NATURE_DENSE, kernel_init=orthogonal(HIDDEN_GAIN), name="Dense_0")
        self.policy = nn.Dense(
            self.action_size, kernel_init=orthogonal(POLICY_HEAD_GAIN), name="policy"
        )
        self.critic = nn.Dense(1, kernel_init=orthogonal(VALUE_HEAD_GAIN), name="value")

    def torso(self, obs: Array) -> Array:
        """``[B, H, W, C]`` pixels -> ``[B, 512]`` features."""
        x = obs * PIXEL_SCALE
        for conv in self.convs:
            x = nn.relu(conv(x))
        return nn.relu(self.dense(x.reshape(x.shape[0], -1)))

    def __call__(self, obs: Array) -> tuple[Array, Array]:
        features = self.torso(obs)
        return self.policy(features), self.critic(features)[..., 0]

    def value(self, obs: Array) -> Array:
        """The value head alone: ``[B, H, W, C] -> [B]``."""
        return self.critic(self.torso(obs))[..., 0]
