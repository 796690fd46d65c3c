"""ppo_jax.core.spec: what a compiled program closes over is hashable (the compile-cache key),
keeps only the static part of the config, and checks the extension points up front."""

from __future__ import annotations

import flax.linen as nn
import optax
import pytest

from ppo_jax import PPOConfig, make_env
from ppo_jax.core.spec import make_spec


class Shared(nn.Module):
    @nn.compact
    def __call__(self, obs):
        x = nn.tanh(nn.Dense(16)(obs))
        return nn.Dense(2)(x), nn.Dense(1)(x)[..., 0]


def test_equal_setups_are_equal_keys():
    env, params = make_env(PPOConfig())
    a = make_spec(PPOConfig(learning_rate=1e-4), env, params, network=Shared())
    b = make_spec(PPOConfig(learning_rate=3e-3), env, params, network=Shared())
    assert a == b and hash(a) == hash(b)
    assert a.config == PPOConfig().static()  # the static part only
    schedule = optax.linear_schedule(1e-3, 0.0, 100)
    assert make_spec(PPOConfig(), env, params, lr_schedule=schedule) != a
    assert not a.masked


def test_extension_points_are_checked():
    env, params = make_env(PPOConfig())
    with pytest.raises(TypeError, match="lr_schedule must be callable"):
        make_spec(PPOConfig(), env, params, lr_schedule=1e-3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="metrics_fn must be callable"):
        make_spec(PPOConfig(), env, params, metrics_fn={"a": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="feed-forward module"):
        make_spec(PPOConfig(recurrent="gru"), env, params, network=Shared())
