"""Policies with memory and legal-action masks, judged by tasks nobody here wrote (bsuite's
MemoryChain, gymnax's CartPole with its velocities hidden) and by a masked toy environment whose
forbidden action pays most."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces
from gymnax.environments.classic_control.cartpole import CartPole
from probe_envs import MaskedChoiceEnv

from ppo_jax import evaluate, export_policy, get_config, train_seeds
from ppo_jax.core.config import PPOConfig


@pytest.mark.timeout(900)
def test_memory_chain_needs_memory():
    """The context bit is shown only at the first step and asked for at the last: the tuned
    recurrent config scores >= 0.9 (greedy, 64 episodes) on every seed; the feed-forward policy
    with the same settings and budget stays at chance."""
    config = get_config("MemoryChain-bsuite")
    assert config.recurrent == "gru"
    key = jax.random.PRNGKey(1234)
    gru = train_seeds(config, 8)
    scores = np.asarray(evaluate(config, gru.params, key, 64, obs_norm=gru.obs_norm).returns)
    assert (scores.mean(-1) >= 0.9).all(), scores.mean(-1)
    flat = config.replace(recurrent=None)
    ff = train_seeds(flat, 4)
    chance = np.asarray(evaluate(flat, ff.params, key, 64).returns).mean(-1)
    assert (np.abs(chance) <= 0.4).all(), chance


LONG_CHAIN = PPOConfig(
    env_name="MemoryChain-bsuite",
    env_kwargs=(("memory_length", 30),),
    num_envs=32,
    num_steps=128,
    total_timesteps=1_048_576,
    learning_rate=1e-3,
    clip_eps=0.2,
    ent_coef=0.01,
    hidden_sizes=(64,),
    recurrent_size=64,
)
"""MemoryChain with the bit shown 30 steps before it is asked for (bsuite's default is 6):
whole 30-step episodes fit the 128-step training sequences."""


@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "cell, steps",
    [("lru", 1_048_576), pytest.param("lstm", 2_097_152, marks=pytest.mark.full)],
)
def test_a_thirty_step_memory_chain(cell, steps):
    """Greedy return >= 0.9 (64 episodes) on each of 4 seeds; the feed-forward policy with the
    same settings stays at chance. (The GRU solved 3 of 4 seeds with 2M steps: see the
    README.)"""
    config = LONG_CHAIN.replace(recurrent=cell, total_timesteps=steps)
    key = jax.random.PRNGKey(7)
    trained = train_seeds(config, 4)
    scores = np.asarray(evaluate(config, trained.params, key, 64).returns).mean(-1)
    assert (scores >= 0.9).all(), scores
    flat = LONG_CHAIN.replace(total_timesteps=131_072)  # recurrent=None: no memory
    ff = train_seeds(flat, 2)
    chance = np.asarray(evaluate(flat, ff.params, key, 64).returns).mean(-1)
    assert (np.abs(chance) <= 0.4).all(), chance


class CartPoleNoVelocity(CartPole):
    """CartPole observing only the cart position and the pole angle: the velocities must be
    inferred from the history."""

    def get_obs(self, state, params=None, key=None):
        return jnp.array([state.x, state.theta])

    def observation_space(self, params):
        high = jnp.array([params.x_threshold * 2, params.theta_threshold_radians * 2])
        return spaces.Box(-high, high, (2,), jnp.float32)


NO_VELOCITY = PPOConfig(
    num_envs=32,
    num_steps=128,
    total_timesteps=1_048_576,
    hidden_sizes=(64,),
    learning_rate=2.5e-3,
    clip_eps=0.2,
    normalize_observations=True,
    recurrent="gru",
    recurrent_size=64,
)
"""The GRU settings that solve CartPole without velocities (see the README)."""


@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "cell",
    [
        pytest.param("gru", marks=pytest.mark.slow),
        pytest.param("lstm", marks=pytest.mark.full),
        "lru",
    ],
)
def test_cartpole_without_velocities_needs_memory(cell):
    env = CartPoleNoVelocity()
    key = jax.random.PRNGKey(99)
    config = NO_VELOCITY.replace(recurrent=cell)
    trained = train_seeds(config, 4, env=env, env_params=env.default_params)
    returns = evaluate(config, trained.params, key, 16, env=env, obs_norm=trained.obs_norm)
    assert (np.asarray(returns.returns).mean(-1) >= 475).all(), np.asarray(returns.returns)
    flat = NO_VELOCITY.replace(recurrent=None)
    ff = train_seeds(flat, 4, env=env, env_params=env.default_params)
    returns = evaluate(flat, ff.params, key, 16, env=env, obs_norm=ff.obs_norm).returns
    returns = np.asarray(returns).mean(-1)
    assert (returns < 200).all(), returns


def illegal_actions(traj) -> dict:
    """Custom metric: actions taken that the environment's mask forbade."""
    legal = jnp.take_along_axis(traj.action_mask, traj.action[..., None], axis=-1)
    return {"illegal_actions": jnp.sum(~legal)}


@pytest.mark.timeout(600)
def test_masked_environment_never_takes_an_illegal_action_and_learns_the_masked_optimum():
    env = MaskedChoiceEnv()
    config = PPOConfig(
        num_envs=16, num_steps=16, total_timesteps=65_536, hidden_sizes=(16,), learning_rate=3e-3
    )
    result = train_seeds(config, 2, env=env, metrics_fn=illegal_actions)
    assert np.asarray(result.metrics["illegal_actions"]).sum() == 0  # over the whole run
    # The masked optimum: action 2 when it is legal (bit 1), else action 1; never action 3,
    # which pays 5 but is never legal. Expected return 0.75 x 8 steps = 6 per episode.
    returns = np.asarray(
        evaluate(config, result.params, jax.random.PRNGKey(5), 200, env=env).returns
    )
    assert (np.abs(returns.mean(-1) - 6.0) < 0.3).all(), returns.mean(-1)
    for seed in range(2):
        policy = export_policy(config, jax.tree.map(lambda x, s=seed: x[s], result.params), env=env)
        assert policy(np.array([1.0], np.float32), np.array([True, True, True, False])) == 2
        assert policy(np.array([0.0], np.float32), np.array([True, True, False, False])) == 1
