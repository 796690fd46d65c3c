"""ppo_jax.core.rollout: shapes, auto-reset, the pre-reset final observation for bootstrapping,
actions clipped only when stepping, and recurrent states replayed step by step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import ConstantRewardEnv, CounterParams, TargetActionEnv

from ppo_jax import PPOConfig
from ppo_jax.core import rollout
from ppo_jax.core.envs import EnvDraws, make_env, reset_envs, step_envs, to_env_action
from ppo_jax.core.rollout import (
    bootstrap_values,
    collect_rollout,
    env_block,
)
from ppo_jax.core.spec import make_spec
from ppo_jax.core.train import init_runner


def setup(config, env=None, env_params=None, key=None):
    if env is None:
        env, env_params = make_env(config)
    env_params = env.default_params if env_params is None else env_params
    spec = make_spec(config, env, env_params)
    runner = init_runner(spec, env_params, config.hyperparams(), key)
    return spec, env_params, runner


def test_cartpole_rollout_shapes_and_consistency(key):
    cfg = PPOConfig(num_envs=5, num_steps=40, total_timesteps=200, num_minibatches=1)
    spec, env_params, runner = setup(cfg, key=key)
    carry2, traj = jax.jit(lambda r, k: collect_rollout(spec, env_params, r.train_state, r.env, k))(
        runner, jax.random.PRNGKey(1)
    )
    T, N = cfg.num_steps, cfg.num_envs
    assert traj.obs.shape == (T, N, 4)
    assert traj.final_obs.shape == (T, N, 4)
    for name in ("action", "log_prob", "value", "reward", "terminated", "truncated", "first"):
        assert getattr(traj, name).shape == (T, N), name
    assert traj.action_mask is None and traj.next_value is None
    done = np.asarray(traj.terminated | traj.truncated)
    assert done.any(), "a random CartPole policy should end some episodes within 40 steps"
    obs, final = np.asarray(traj.obs), np.asarray(traj.final_obs)
    # Where no episode ended, the true next observation is the next step's observation.
    np.testing.assert_array_equal(final[:-1][~done[:-1]], obs[1:][~done[:-1]])
    np.testing.assert_array_equal(final[-1][~done[-1]], np.asarray(carry2.obs)[~done[-1]])
    # Where an episode ended, the next observation is a fresh reset (|x| <= 0.05), while the
    # final observation is the failed state.
    assert np.all(np.abs(obs[1:][done[:-1]]) <= 0.05)
    assert np.all(np.abs(final[done]).max(axis=-1) > 0.05)
    # An episode's first observation is flagged (the reset, and the step after every end).
    np.testing.assert_array_equal(np.asarray(traj.first)[1:], done[:-1])
    assert np.all(np.asarray(traj.first)[0])
    # Completed-episode bookkeeping: returns equal lengths in CartPole (reward 1 per step).
    np.testing.assert_array_equal(traj.completed_return[done], traj.completed_length[done])
    assert np.all(np.asarray(traj.completed_return)[~done] == 0)
    # The stored values are the critic's at the acting observations.
    np.testing.assert_allclose(
        traj.value, spec.network.value(runner.train_state.params, traj.obs), rtol=1e-5, atol=1e-6
    )


def test_truncation_keeps_the_pre_reset_observation(key):
    env = ConstantRewardEnv()
    env_params = CounterParams(max_steps_in_episode=3, show_time=True)
    cfg = PPOConfig(num_envs=2, num_steps=7, total_timesteps=14, num_minibatches=1)
    spec, env_params, runner = setup(cfg, env, env_params, key)
    _, traj = collect_rollout(
        spec, env_params, runner.train_state, runner.env, jax.random.PRNGKey(2)
    )
    # time: 0 1 2 | 0 1 2 | 0  -> truncation at steps 2 and 5
    np.testing.assert_array_equal(traj.obs[:, 0, 0], [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(traj.final_obs[:, 0, 0], [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(traj.truncated[:, 0], [0, 0, 1, 0, 0, 1, 0])
    assert not traj.terminated.any()
    params = runner.train_state.params
    next_values = bootstrap_values(spec, runner.train_state, traj)
    np.testing.assert_allclose(
        next_values[2, 0], spec.network.value(params, jnp.array([3.0])), rtol=1e-6
    )
    np.testing.assert_allclose(
        traj.value[3, 0], spec.network.value(params, jnp.array([0.0])), rtol=1e-6
    )
    np.testing.assert_array_equal(traj.completed_return[:, 0], [0, 0, 3, 0, 0, 3, 0])


def test_pendulum_actions_are_clipped_only_when_stepping(key):
    config = PPOConfig(env_name="Pendulum-v1", num_envs=16, num_steps=8, log_std_init=2.0)
    spec, env_params, runner = setup(config, key=key)
    _, traj = collect_rollout(spec, env_params, runner.train_state, runner.env, key)
    actions = np.asarray(traj.action)
    assert actions.shape == (8, 16, 1) and np.abs(actions).max() > 2.0  # std e^2: outside bounds
    clipped = np.asarray(to_env_action(spec.env, env_params, traj.action))
    np.testing.assert_array_equal(clipped, np.clip(actions, -2.0, 2.0))
    assert np.all(np.isfinite(np.asarray(traj.log_prob))) and traj.reward.shape == (8, 16)


def test_rewards_are_computed_from_clipped_actions(key):
    config = PPOConfig(num_envs=64, num_steps=4, log_std_init=1.0)
    spec, env_params, runner = setup(config, TargetActionEnv(), key=key)
    _, traj = collect_rollout(spec, env_params, runner.train_state, runner.env, key)
    a = np.clip(np.asarray(traj.action)[..., 0], -1.0, 1.0)
    np.testing.assert_allclose(
        np.asarray(traj.reward), -((a - np.asarray(traj.obs)[..., 0]) ** 2), rtol=1e-5
    )


def test_recurrent_rollout_states_equal_a_step_by_step_python_replay(key):
    """Oracle: replay the rollout in a Python loop, one environment step and one cell step at a
    time with the stored actions; the carried state (reset where episodes start), the values,
    the log-probabilities and the next-state values must match the scan's."""
    env = ConstantRewardEnv()
    env_params = CounterParams(max_steps_in_episode=3, show_time=True)
    cfg = PPOConfig(
        num_envs=3, num_steps=7, total_timesteps=21, num_minibatches=1, hidden_sizes=(8,),
        recurrent="gru", recurrent_size=5,
    )  # fmt: skip
    spec, env_params, runner = setup(cfg, env, env_params, key)
    net, params = spec.network, runner.train_state.params
    start = runner.env.policy_state
    carry, traj = collect_rollout(spec, env_params, runner.train_state, runner.env, key)
    state = start
    for t in range(cfg.num_steps):
        first = np.asarray(traj.first[t])
        state, dist, value = net.step(params, state, traj.obs[t], traj.first[t])
        np.testing.assert_allclose(value, traj.value[t], rtol=1e-5, atol=1e-6)
        lp = jax.nn.log_softmax(dist.logits)[jnp.arange(3), traj.action[t]]
        np.testing.assert_allclose(lp, traj.log_prob[t], rtol=1e-5, atol=1e-6)
        _, _, nv = net.step(params, state, traj.final_obs[t], jnp.zeros(3, bool))
        np.testing.assert_allclose(nv, traj.next_value[t], rtol=1e-5, atol=1e-6)
        if t:  # an episode starts exactly after the previous step ended one
            ended = np.asarray(traj.truncated[t - 1] | traj.terminated[t - 1])
            np.testing.assert_array_equal(first, ended)
    for a, b in zip(jax.tree.leaves(carry.policy_state), jax.tree.leaves(state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_device_block_steps_like_the_whole_batch(key):
    """What a device holding environments 4..7 of 8 gets (``env_block`` of the reset, given
    keys ``split(key, 8)[4:8]``) equals those environments of one step of all 8, over enough
    steps for episodes to end and reset (the auto-reset draws from the given keys)."""
    env, params = make_env(PPOConfig(env_name="CartPole-v1"))
    whole = reset_envs(env, params, key, 8)
    block = jax.vmap(lambda c: env_block(c, "d"), axis_name="d")(
        jax.tree.map(lambda x: jnp.stack([x, x]), whole)
    )
    block = jax.tree.map(lambda x: x[1], block)  # device 1 of 2
    step_whole = jax.jit(lambda c, k, a: step_envs(env, params, k, c, a))
    step_block = jax.jit(
        lambda c, k, a: step_envs(env, params, None, c, a, EnvDraws(key=None, env_keys=k))
    )
    ended = 0
    for t in range(60):
        k = jax.random.fold_in(key, t)
        actions = jnp.full((8,), t % 2, jnp.int32) if t < 30 else jnp.ones(8, jnp.int32)
        whole, out = step_whole(whole, k, actions)
        block, out_block = step_block(block, jax.random.split(k, 8)[4:], actions[4:])
        ended += int(out["terminated"][4:].sum())
        pairs = zip(jax.tree.leaves((whole, out)), jax.tree.leaves((block, out_block)), strict=True)
        for a, b in pairs:
            np.testing.assert_array_equal(np.asarray(a)[4:], b)
    assert ended > 0


@pytest.mark.parametrize(
    "config",
    [
        PPOConfig(env_name="CartPole-v1", num_envs=4, num_steps=40),
        PPOConfig(env_name="Pendulum-v1", num_envs=3, num_steps=8),
        pytest.param(
            PPOConfig(
                env_name="CartPole-v1", num_envs=2, num_steps=30, recurrent="gru", num_minibatches=2
            ),
            marks=pytest.mark.heavy,
        ),
    ],
    ids=["cartpole", "pendulum", "gru"],
)
def test_random_numbers_drawn_ahead_or_in_the_loop_give_the_same_rollout(key, config, monkeypatch):
    """``collect_rollout`` draws every step's random numbers ahead of its loop when they fit
    (with the environments' resets, or without them), else in the loop: the same rollout."""
    spec, env_params, runner = setup(config, key=key)
    dist = rollout._policy_shapes(spec, env_params, runner.train_state, runner.env)
    modes = {}
    for budget in (rollout.DRAWS_AHEAD_BYTES, 0, 1):
        monkeypatch.setattr(rollout, "DRAWS_AHEAD_BYTES", budget)
        modes[budget] = rollout._draws_ahead(spec, env_params, runner.env, dist)
        run = jax.jit(lambda r, k: collect_rollout(spec, env_params, r.train_state, r.env, k))
        modes[budget] = (modes[budget], run(runner, key))
    assert [m for m, _ in modes.values()] == [True, None, None]
    # a budget for the keys (8 bytes) and noise (at most 8) of each env, not for the resets:
    # keys and noise ahead, gymnax's own step (its reset included) in the loop
    per_step = config.num_envs * (4 * 2 + 8 + 4) + 16
    monkeypatch.setattr(rollout, "DRAWS_AHEAD_BYTES", config.num_steps * per_step)
    assert rollout._draws_ahead(spec, env_params, runner.env, dist) is False
    run = jax.jit(lambda r, k: collect_rollout(spec, env_params, r.train_state, r.env, k))
    outs = [*[out for _, out in modes.values()][:2], run(runner, key)]
    ended = int((outs[0][1].terminated | outs[0][1].truncated).sum())
    for other in outs[1:]:
        for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(other), strict=True):
            if jnp.issubdtype(a.dtype, jnp.floating):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
            else:
                np.testing.assert_array_equal(a, b)
    assert ended > 0 or config.env_name == "Pendulum-v1"
