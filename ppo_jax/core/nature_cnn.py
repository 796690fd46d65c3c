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

from ppo_jax.core.initializers import HIDDEN_GAIN, POLICY_HEAD_GAIN, VALUE_HEAD_GAIN, orthogonal
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


def strided_conv(x: Array, kernel: Array, bias: Array, stride: int, conv: str) -> Array:
    """A VALID 2-D convolution with stride ``stride``: ``x [B, H, W, C]``, ``kernel [k, k, C,
    F]`` -> ``[B, H', W', F]``, ``H' = (H - k) // stride + 1``. ``conv="im2col"`` computes it
    as one matmul over the strided ``k x k`` patches: XLA:CPU runs its own convolution's
    gradient ~20x slower inside the update's loop (measured here). ``"native"`` is
    ``lax.conv_general_dilated`` (GPU, TPU). Both give the same result."""
    k = kernel.shape[0]
    if conv == "native":
        out = jax.lax.conv_general_dilated(
            x, kernel, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return out + bias
    if stride > 1 and k % stride == 0:
        x, kernel = _space_to_depth(x, kernel, stride)
        stride, k = 1, kernel.shape[0]
    height = (x.shape[-3] - k) // stride + 1
    width = (x.shape[-2] - k) // stride + 1
    rows, cols = stride * (height - 1) + 1, stride * (width - 1) + 1
    patches = jnp.concatenate(
        [
            x[..., i : i + rows : stride, j : j + cols : stride, :]
            for i in range(k)
            for j in range(k)
        ],
        axis=-1,
    )
    return patches @ kernel.reshape(-1, kernel.shape[-1]) + bias


def _space_to_depth(x: Array, kernel: Array, s: int) -> tuple[Array, Array]:
    """The stride-``s`` convolution of ``x [B, H, W, C]`` with ``kernel [k, k, C, F]`` (``k =
    m * s``) as a stride-1 convolution of ``s x s`` blocks: ``x -> [B, H'', W'', s*s*C]``
    and ``kernel -> [m, m, s*s*C, F]``, the same sums (``out[y, x] = sum x[s*y + s*a + p,
    s*x + s*b + q] w[s*a + p, s*b + q]``) with ``m * m`` contiguous patches instead of
    ``k * k`` strided ones."""
    m = kernel.shape[0] // s
    batch, channels, features = x.shape[0], x.shape[-1], kernel.shape[-1]
    rows = ((x.shape[-3] - kernel.shape[0]) // s + m) * s  # the rows the outputs read
    cols = ((x.shape[-2] - kernel.shape[1]) // s + m) * s
    x = x[:, :rows, :cols, :].reshape(batch, rows // s, s, cols // s, s, channels)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(batch, rows // s, cols // s, s * s * channels)
    kernel = kernel.reshape(m, s, m, s, channels, features).transpose(0, 2, 1, 3, 4, 5)
    return x, kernel.reshape(m, m, s * s * channels, features)


CPU_CHUNK = 32
"""Rows the ``"im2col"`` network processes at a time (a ``lax.map`` over chunks of a batch):
the patches of a chunk stay in cache. Measured on this project's CPU, the critic over a
rollout's 1,024 final observations ran ~5x faster in chunks of 8-32 rows than whole, and a
256-row minibatch's gradient ~1.5x faster in chunks of 32."""


class NatureActorCritic(nn.Module):
    """``__call__(obs [B, H, W, C]) -> (logits or mean [B, action_size], value [B])``;
    ``value(obs) -> [B]``. The torso is shared by both heads (orthogonal init: gain sqrt(2)
    in the torso, 0.01 for the policy head, 1 for the value head).

    ``height``, ``width``, ``channels``: the observations' shape. ``conv``: ``"im2col"`` (the
    CPU; batches are processed ``CPU_CHUNK`` rows at a time) or ``"native"``. Parameters:
    ``Conv_i_kernel``/``_bias``, ``Dense_0_*``, then the heads ``policy_*`` and ``value_*``."""

    action_size: int
    height: int = 84
    width: int = 84
    channels: int = 4
    conv: str = "im2col"

    def setup(self) -> None:
        zeros = nn.initializers.zeros
        layers: dict[str, tuple[Array, Array]] = {}
        channels = self.channels
        for i, (features, kernel, _) in enumerate(NATURE_CONVS):
            shape = (kernel, kernel, channels, features)
            layers[f"Conv_{i}"] = (
                self.param(f"Conv_{i}_kernel", _conv_orthogonal(HIDDEN_GAIN), shape),
                self.param(f"Conv_{i}_bias", zeros, (features,)),
            )
            channels = features
        flat = _side(self.height) * _side(self.width) * channels
        for name, (fan_in, fan_out, gain) in {
            "Dense_0": (flat, NATURE_DENSE, HIDDEN_GAIN),
            "policy": (NATURE_DENSE, self.action_size, POLICY_HEAD_GAIN),
            "value": (NATURE_DENSE, 1, VALUE_HEAD_GAIN),
        }.items():
            layers[name] = (
                self.param(f"{name}_kernel", orthogonal(gain), (fan_in, fan_out)),
                self.param(f"{name}_bias", zeros, (fan_out,)),
            )
        self.layers = layers

    def _apply(self, obs: Array, heads: tuple[str, ...]) -> tuple[Array, ...]:
        layers, conv = self.layers, self.conv

        def rows(x: Array) -> tuple[Array, ...]:
            x = x * PIXEL_SCALE
            for i, (_, _, stride) in enumerate(NATURE_CONVS):
                kernel, bias = layers[f"Conv_{i}"]
                x = nn.relu(strided_conv(x, kernel, bias, stride, conv))
            kernel, bias = layers["Dense_0"]
            x = nn.relu(x.reshape(x.shape[0], -1) @ kernel + bias)
            return tuple(x @ layers[h][0] + layers[h][1] for h in heads)

        batch = obs.shape[0]
        if conv == "native" or batch <= CPU_CHUNK or batch % CPU_CHUNK:
            return rows(obs)
        chunks = obs.reshape(batch // CPU_CHUNK, CPU_CHUNK, *obs.shape[1:])
        out = jax.lax.map(rows, chunks)
        return tuple(y.reshape(batch, *y.shape[2:]) for y in out)

    def __call__(self, obs: Array) -> tuple[Array, Array]:
        logits, value = self._apply(obs, ("policy", "value"))
        return logits, value[..., 0]

    def value(self, obs: Array) -> Array:
        """The value head alone: ``[B, H, W, C] -> [B]``."""
        return self._apply(obs, ("value",))[0][..., 0]


def _side(side: int) -> int:
    """An image side after the three convolutions (84 -> 7)."""
    for _, kernel, stride in NATURE_CONVS:
        side = (side - kernel) // stride + 1
    return side
