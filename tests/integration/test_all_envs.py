"""Every gymnax environment trains with the same code: the action space picks the policy
(categorical or Gaussian), the observation shape picks the torso (MLP or CNN)."""

from __future__ import annotations

import gymnax
import jax
import numpy as np
import pytest

from ppo_jax import PPOConfig, evaluate, make_env, train
from ppo_jax.core.envs import action_spec

# Downloads MNIST on first use: not hermetic, so not trained here (and refused cleanly without a
# network: tests/integration/test_cli.py).
NEEDS_NETWORK = {"MNISTBandit-bsuite"}
# The default suite runs the spaces no other test covers (a Discrete observation space, a 2-D
# Box action, the bandit whose reset and step states differ in shape); Pendulum and MinAtar are
# trained by other default tests; the rest, `-m full`.
DEFAULT = {"FrozenLake-misc", "Reacher-misc", "SimpleBandit-bsuite"}
QUICK = {"FrozenLake-misc"}
"""In the quick tier; the other DEFAULT environments run with ``-m heavy``."""
ENVS = [
    pytest.param(
        name,
        marks=()
        if name in QUICK
        else (pytest.mark.heavy,)
        if name in DEFAULT
        else (pytest.mark.full,),
    )
    for name in gymnax.registered_envs
    if name not in NEEDS_NETWORK
]


@pytest.mark.parametrize("env_name", ENVS)
def test_env_trains_and_evaluates(env_name, key):
    config = PPOConfig(
        env_name=env_name, num_envs=4, num_steps=8, total_timesteps=64, update_epochs=1,
        num_minibatches=2, hidden_sizes=(16,), cnn_channels=(4,), normalize_observations=True,
        normalize_rewards=True,
    )  # fmt: skip
    env, env_params = make_env(config)
    spec = action_spec(env, env_params)
    result = train(config, key)
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl"):
        assert np.all(np.isfinite(np.asarray(result.metrics[name]))), name
    for leaf in jax.tree.leaves(result.params):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert ("log_std" in result.params) == spec.continuous
    obs_ndim = len(env.observation_space(env_params).shape)
    assert ("Conv_0" in result.params["network"]["actor"]) == (obs_ndim == 3)
    out = evaluate(config, result, key, 2, max_steps=20)
    assert out.returns.shape == (2,) and np.all(np.isfinite(np.asarray(out.returns)))


def _suite(name: str, module: str, heavy: bool = False, **kwargs: object) -> object:
    import importlib.util

    missing = importlib.util.find_spec(module) is None
    marks = [pytest.mark.skipif(missing, reason=f"{module} is not installed (its extra)")]
    if heavy:
        marks.append(pytest.mark.heavy)
    return pytest.param(name, kwargs, marks=marks, id=name)


# One environment per optional suite (ppo_jax.core.suites), with short time limits so that
# episodes end inside the smoke run. The quick tier runs Navix's and Jumanji's; the others
# (Brax's and Craftax's programs take 25-45 s to compile on 2 cores) run in the heavy tier.
SUITES = [
    _suite("navix:Navix-Empty-5x5-v0", "navix", max_steps=10),
    _suite("xminigrid:MiniGrid-Empty-5x5", "xminigrid", heavy=True, max_steps=10),
    _suite("jumanji:Snake-v1", "jumanji", time_limit=10),
    _suite("brax:inverted_pendulum", "brax", heavy=True, episode_length=10),
    _suite("craftax:Craftax-Classic-Symbolic-v1", "craftax", heavy=True, max_timesteps=10),
]


@pytest.mark.parametrize(("env_name", "env_kwargs"), SUITES)
def test_suite_env_trains_and_evaluates(env_name, env_kwargs, key):
    config = PPOConfig(
        env_name=env_name, env_kwargs=tuple(env_kwargs.items()), num_envs=4, num_steps=8,
        total_timesteps=64, update_epochs=1, num_minibatches=2, hidden_sizes=(16,),
        torso="mlp", normalize_observations=True,
    )  # fmt: skip
    result = train(config, key)
    assert np.asarray(result.metrics["policy_loss"]).shape == (2,)
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl"):
        assert np.all(np.isfinite(np.asarray(result.metrics[name]))), name
    for leaf in jax.tree.leaves(result.params):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert np.asarray(result.metrics["episodes_completed"]).sum() > 0
    out = evaluate(config, result, key, 2)
    assert out.returns.shape == (2,) and np.all(np.isfinite(np.asarray(out.returns)))
    assert np.all(np.asarray(out.lengths) <= 10)
