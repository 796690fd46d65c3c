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


def test_the_problem_is_one_value_and_its_parts_are_keywords(tiny_config):
    """``problem=Problem(...)`` and the same parts as keywords are one call (the same compiled
    program, the same result); both at once, or an unknown part, is a TypeError."""
    import numpy as np
    from probe_envs import ConstantRewardEnv

    from ppo_jax import Problem, train_seeds
    from ppo_jax.core.spec import problem_of

    env = ConstantRewardEnv()
    by_value = train_seeds(tiny_config, 2, problem=Problem(env=env, metrics_fn=_mean_reward))
    by_keywords = train_seeds(tiny_config, 2, env=env, metrics_fn=_mean_reward)
    for name in ("policy_loss", "mean_reward"):
        np.testing.assert_array_equal(by_value.metrics[name], by_keywords.metrics[name])
    assert problem_of(None, {"network": None}) == Problem()
    with pytest.raises(TypeError, match="not both"):
        problem_of(Problem(env=env), {"network": Shared()})
    with pytest.raises(TypeError, match="problem's parts"):
        train_seeds(tiny_config, 2, environment=env)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"ppo_jax\.Problem"):
        train_seeds(tiny_config, 2, problem={"env": env})  # type: ignore[arg-type]


def _mean_reward(traj):
    return {"mean_reward": traj.reward.mean()}
