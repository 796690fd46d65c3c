"""examples/minimal_env.py is learned: PPO says the bit it sees for the whole episode (the best
return, 8, needs every step right) within 16k steps, and the greedy policy scores 8."""

from __future__ import annotations

import jax
import numpy as np

import ppo_jax
from examples.minimal_env import CopyBit


def test_ppo_learns_the_minimal_environment():
    config = ppo_jax.PPOConfig(total_timesteps=16_384, num_envs=16, num_steps=32)
    result = ppo_jax.train_seeds(config, 2, env=CopyBit())
    assert (ppo_jax.final_return(result.metrics) >= 7.5).all()
    played = ppo_jax.evaluate(config, result.params, jax.random.PRNGKey(0), 16, env=CopyBit())
    np.testing.assert_array_equal(np.asarray(played.returns), 8.0)
