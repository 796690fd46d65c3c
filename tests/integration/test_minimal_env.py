"""examples/minimal_env.py: the environment contract of docs/guides/environments.md, checked on
the minimal environment it shows (gymnax's own ``step`` around its ``step_env``), and ppo_jax
training it. Learning it is checked in tests/learning/test_minimal_env_learned.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import ppo_jax
from examples.minimal_env import CopyBit, CopyBitParams


def test_the_contract_reset_step_termination_truncation():
    env, params = CopyBit(), CopyBitParams()
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert int(state.time) == 0 and obs.shape == (2,) and float(obs.sum()) == 1.0
    # Saying the bit pays 1 and goes on; time advances by one per step.
    out = step(jax.random.PRNGKey(1), state, state.bit, params)
    assert len(out) == 6  # (obs, state, reward, terminated, truncated, info)
    obs1, state1, reward, terminated, truncated, info = out
    assert float(reward) == 1.0 and not bool(terminated) and not bool(truncated)
    assert int(state1.time) == 1
    np.testing.assert_array_equal(info["final_observation"], obs1)  # no reset: the same
    # Saying the other bit terminates; the state is reset and the pre-reset observation kept.
    _, state2, reward, terminated, truncated, info = step(
        jax.random.PRNGKey(2), state1, 1 - state1.bit, params
    )
    assert float(reward) == 0.0 and bool(terminated) and not bool(truncated)
    assert int(state2.time) == 0 and bool(info["terminated"])
    # max_steps_in_episode right answers: the last one is truncated (time >= 8), not terminated.
    state = state2
    for t in range(params.max_steps_in_episode):
        obs, state, reward, terminated, truncated, info = step(
            jax.random.PRNGKey(10 + t), state, state.bit, params
        )
        assert float(reward) == 1.0 and not bool(terminated)
        assert bool(truncated) == (t == params.max_steps_in_episode - 1)
    assert int(state.time) == 0 and bool(info["truncated"])
    assert info["final_observation"].shape == obs.shape


def test_ppo_jax_trains_it_and_its_episodes_end_both_ways():
    config = ppo_jax.PPOConfig(
        num_envs=8, num_steps=16, total_timesteps=512, num_minibatches=2, hidden_sizes=(16,)
    )
    result = ppo_jax.train(config, jax.random.PRNGKey(0), env=CopyBit())
    lengths = np.asarray(result.metrics["episode_length"])
    assert np.isfinite(lengths).all() and (lengths <= 8).all()
    assert np.isfinite(np.asarray(result.metrics["policy_loss"])).all()
    returns = np.asarray(result.metrics["episode_return"])
    assert (returns < 8).any()  # a random policy terminates early
    assert jnp.asarray(result.metrics["env_steps"])[-1] == 512
