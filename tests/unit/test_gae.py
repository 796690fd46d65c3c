"""GAE and reward-to-go against hand-derived numbers and a Python-loop oracle."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import compute_gae, compute_reward_to_go

WRAPS = [pytest.param(lambda f: f, id="eager"), pytest.param(jax.jit, id="jit")]


def loop_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Independent oracle: the GAE recursion written as a plain Python loop over time."""
    T = len(rewards)
    adv = np.zeros(T)
    running = 0.0
    for t in reversed(range(T)):
        done = terminated[t] or truncated[t]
        bootstrap = 0.0 if terminated[t] else gamma * next_values[t]
        delta = rewards[t] + bootstrap - values[t]
        running = delta + (0.0 if done else gamma * lam * running)
        adv[t] = running
    return adv, adv + np.asarray(values)


def loop_reward_to_go(rewards, next_values, terminated, truncated, gamma):
    T = len(rewards)
    out = np.zeros(T)
    g = next_values[-1]
    for t in reversed(range(T)):
        if terminated[t]:
            g = rewards[t]
        elif truncated[t] or t == T - 1:
            g = rewards[t] + gamma * next_values[t]
        else:
            g = rewards[t] + gamma * g
        out[t] = g
    return out


@pytest.mark.parametrize("wrap", WRAPS)
def test_hand_derived_no_done(wrap):
    # gamma = 0.5, lambda = 0.5, r = [1, 1], V(s) = [0, 0], V(s') = [0, 2]
    # delta_1 = 1 + 0.5 * 2 - 0 = 2           A_1 = 2
    # delta_0 = 1 + 0.5 * 0 - 0 = 1           A_0 = 1 + 0.25 * 2 = 1.5
    fn = wrap(lambda *a: compute_gae(*a, 0.5, 0.5))
    adv, ret = fn(
        jnp.array([1.0, 1.0]),
        jnp.array([0.0, 0.0]),
        jnp.array([0.0, 2.0]),
        jnp.array([False, False]),
        jnp.array([False, False]),
    )
    np.testing.assert_allclose(adv, [1.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(ret, [1.5, 2.0], rtol=1e-6)


@pytest.mark.parametrize("wrap", WRAPS)
def test_termination_does_not_bootstrap(wrap):
    # Step 0 terminates: delta_0 = r_0 - V(s_0) = 1 - 0.5 = 0.5, and nothing flows back from
    # step 1. Step 1: delta_1 = 2 + 0.9 * 10 - 1 = 10.
    fn = wrap(lambda *a: compute_gae(*a, 0.9, 0.8))
    adv, ret = fn(
        jnp.array([1.0, 2.0]),
        jnp.array([0.5, 1.0]),
        jnp.array([100.0, 10.0]),  # V(final_obs) at a terminal step must be ignored
        jnp.array([True, False]),
        jnp.array([False, False]),
    )
    np.testing.assert_allclose(adv, [0.5, 10.0], rtol=1e-6)
    np.testing.assert_allclose(ret, [1.0, 11.0], rtol=1e-6)


@pytest.mark.parametrize("wrap", WRAPS)
def test_truncation_bootstraps_from_final_observation(wrap):
    # Step 0 is truncated: delta_0 = 1 + 0.9 * V(final_obs) - V(s_0) = 1 + 0.9 * 10 - 2 = 8;
    # the advantage chain is cut (step 1 belongs to the next episode): A_0 = 8.
    fn = wrap(lambda *a: compute_gae(*a, 0.9, 0.8))
    adv, _ = fn(
        jnp.array([1.0, 1.0]),
        jnp.array([2.0, 0.0]),
        jnp.array([10.0, 0.0]),
        jnp.array([False, False]),
        jnp.array([True, False]),
    )
    np.testing.assert_allclose(adv, [8.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize("wrap", WRAPS)
@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_oracle(wrap, seed):
    rng = np.random.default_rng(seed)
    T, N = 13, 5
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    values = rng.normal(size=(T, N)).astype(np.float32)
    next_values = rng.normal(size=(T, N)).astype(np.float32)
    terminated = rng.random((T, N)) < 0.15
    truncated = (rng.random((T, N)) < 0.15) & ~terminated
    gamma, lam = 0.97, 0.9
    adv, ret = wrap(lambda *a: compute_gae(*a, gamma, lam))(
        rewards, values, next_values, terminated, truncated
    )
    rtg = wrap(lambda *a: compute_reward_to_go(*a, gamma))(
        rewards, next_values, terminated, truncated
    )
    for n in range(N):
        want_adv, want_ret = loop_gae(
            rewards[:, n],
            values[:, n],
            next_values[:, n],
            terminated[:, n],
            truncated[:, n],
            gamma,
            lam,
        )
        np.testing.assert_allclose(adv[:, n], want_adv, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ret[:, n], want_ret, rtol=1e-5, atol=1e-5)
        want_rtg = loop_reward_to_go(
            rewards[:, n], next_values[:, n], terminated[:, n], truncated[:, n], gamma
        )
        np.testing.assert_allclose(rtg[:, n], want_rtg, rtol=1e-5, atol=1e-5)


def test_reward_to_go_equals_lambda_one_returns():
    rng = np.random.default_rng(7)
    T, N = 20, 3
    rewards = rng.normal(size=(T, N))
    values = rng.normal(size=(T, N))
    next_values = rng.normal(size=(T, N))
    terminated = rng.random((T, N)) < 0.1
    truncated = (rng.random((T, N)) < 0.1) & ~terminated
    # A consistent rollout: where no episode ended, V(s'_t) is V(s_{t+1}).
    done = terminated | truncated
    next_values[:-1] = np.where(done[:-1], next_values[:-1], values[1:])
    _, ret1 = compute_gae(rewards, values, next_values, terminated, truncated, 0.9, 1.0)
    rtg = compute_reward_to_go(rewards, next_values, terminated, truncated, 0.9)
    np.testing.assert_allclose(ret1, rtg, rtol=1e-5, atol=1e-5)


def test_hand_derived_reward_to_go():
    # gamma = 0.5; r = [1, 2, 4]; step 1 is truncated with V(s'_1) = 8; V(s'_2) = 6 (rollout end).
    # G_2 = 4 + 0.5 * 6 = 7; G_1 = 2 + 0.5 * 8 = 6; G_0 = 1 + 0.5 * G_1 = 4
    rtg = compute_reward_to_go(
        jnp.array([1.0, 2.0, 4.0]),
        jnp.array([0.0, 8.0, 6.0]),
        jnp.array([False, False, False]),
        jnp.array([False, True, False]),
        0.5,
    )
    np.testing.assert_allclose(rtg, [4.0, 6.0, 7.0], rtol=1e-6)


def test_gae_is_differentiable_wrt_nothing():
    """Outputs are stop-gradient'ed: gradients through the targets are zero."""

    def f(v):
        adv, ret = compute_gae(
            jnp.ones(3), v, jnp.ones(3), jnp.zeros(3, bool), jnp.zeros(3, bool), 0.9, 0.9
        )
        return adv.sum() + ret.sum()

    np.testing.assert_array_equal(jax.grad(f)(jnp.ones(3)), np.zeros(3))
