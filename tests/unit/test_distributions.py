"""ppo_jax.core.distributions: categorical (with action masks) and diagonal Gaussian against
closed forms and a NumPy reference."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax.core.distributions import (
    Categorical,
    DiagGaussian,
    dist_entropy,
    dist_log_prob,
    dist_mode,
    dist_sample,
    entropy,
    log_prob,
    masked_categorical,
    sample_action,
)


def test_categorical_helpers_match_references(key):
    logits = jax.random.normal(key, (5, 3))
    actions = jnp.array([0, 1, 2, 1, 0])
    ref_logp = jax.nn.log_softmax(logits)[jnp.arange(5), actions]
    np.testing.assert_allclose(log_prob(logits, actions), ref_logp, rtol=1e-6)
    p = jax.nn.softmax(logits)
    np.testing.assert_allclose(entropy(logits), -(p * jnp.log(p)).sum(-1), rtol=1e-5)
    samples = sample_action(key, jnp.tile(jnp.log(jnp.array([0.2, 0.8])), (20000, 1)))
    assert samples.dtype == jnp.int32
    np.testing.assert_allclose(samples.mean(), 0.8, atol=0.02)


def test_categorical_distribution_functions_agree_with_logits():
    logits = jnp.log(jnp.array([[0.1, 0.6, 0.3]]))
    dist = Categorical(logits)
    np.testing.assert_allclose(dist_log_prob(dist, jnp.array([1])), [math.log(0.6)], rtol=1e-6)
    assert int(dist_mode(dist)[0]) == 1


def numpy_masked(logits: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference: softmax over the legal actions only; log-probabilities and entropy."""
    z = np.where(mask, logits, -np.inf)
    z = z - z.max(-1, keepdims=True)
    p = np.where(mask, np.exp(z), 0.0)
    p /= p.sum(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    ent = -np.sum(np.where(mask, p * np.where(mask, logp, 0.0), 0.0), -1)
    return logp, ent


@pytest.mark.parametrize("seed", range(4))
def test_masked_log_probs_and_entropy_match_numpy(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(64, 5)).astype(np.float32) * 3
    mask = rng.random((64, 5)) < 0.6
    mask[np.arange(64), rng.integers(0, 5, 64)] = True  # at least one legal action
    dist = masked_categorical(jnp.asarray(logits), jnp.asarray(mask))
    want_logp, want_ent = numpy_masked(logits.astype(np.float64), mask)
    np.testing.assert_allclose(dist_entropy(dist), want_ent, rtol=1e-5, atol=1e-6)
    legal = np.argwhere(mask)
    rows = jnp.asarray(legal[:, 0])
    got = dist_log_prob(Categorical(dist.logits[rows]), jnp.asarray(legal[:, 1]))
    np.testing.assert_allclose(got, want_logp[legal[:, 0], legal[:, 1]], rtol=1e-5, atol=1e-6)
    probs = np.asarray(jax.nn.softmax(dist.logits))
    assert np.all(probs[~mask] == 0.0)
    assert np.all(np.isfinite(np.asarray(dist_entropy(dist))))


def test_masked_actions_are_never_sampled_and_never_the_mode(key):
    logits = jnp.tile(jnp.array([5.0, 0.0, -1.0, 9.0]), (4000, 1))  # 3 would dominate
    mask = jnp.tile(jnp.array([True, True, True, False]), (4000, 1))
    dist = masked_categorical(logits, mask)
    samples = np.asarray(dist_sample(key, dist))
    assert not np.any(samples == 3)
    assert set(np.unique(samples)) <= {0, 1, 2}
    assert int(dist_mode(dist)[0]) == 0
    grads = jax.grad(lambda lg: dist_entropy(masked_categorical(lg, mask[:1])).sum())(logits[:1])
    assert np.all(np.isfinite(np.asarray(grads))) and float(grads[0, 3]) == 0.0


def test_gaussian_log_prob_and_entropy_match_closed_form():
    mean = jnp.array([[0.3, -1.0], [2.0, 0.5]])
    log_std = jnp.array([[-0.5, 0.2], [0.0, -1.5]])
    action = jnp.array([[1.0, -0.2], [1.5, 0.5]])
    dist = DiagGaussian(mean, log_std)
    expected_lp, expected_h = [], []
    for m_row, s_row, a_row in zip(
        np.asarray(mean), np.asarray(log_std), np.asarray(action), strict=True
    ):
        lp = h = 0.0
        for m, ls, a in zip(m_row, s_row, a_row, strict=True):
            sd = math.exp(ls)
            lp += -((a - m) ** 2) / (2 * sd * sd) - math.log(sd * math.sqrt(2 * math.pi))
            h += 0.5 * math.log(2 * math.pi * math.e * sd * sd)
        expected_lp.append(lp)
        expected_h.append(h)
    np.testing.assert_allclose(dist_log_prob(dist, action), expected_lp, rtol=1e-5)
    np.testing.assert_allclose(dist_entropy(dist), expected_h, rtol=1e-5)
    np.testing.assert_array_equal(dist_mode(dist), mean)


def test_gaussian_samples_have_the_right_moments(key):
    dist = DiagGaussian(jnp.full((40000, 2), jnp.array([1.0, -2.0])), jnp.full((40000, 2), -0.7))
    samples = np.asarray(dist_sample(key, dist))
    np.testing.assert_allclose(samples.mean(0), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(samples.std(0), math.exp(-0.7), rtol=0.02)


@pytest.mark.parametrize("wrap", [lambda f: f, jax.jit])
def test_a_block_samples_the_rows_of_a_draw_for_the_whole_batch(key, wrap):
    """``block=(start, total)``: a device holding rows ``start ..`` of a split batch draws
    exactly what one draw for the whole batch gives there (masked logits included)."""
    logits = jax.random.normal(key, (8, 5))
    mask = jnp.arange(5) < jnp.arange(1, 9)[:, None] % 5 + 1  # row i: the first (i+1)%5+1 legal
    gauss = DiagGaussian(jax.random.normal(key, (8, 2)), jnp.full((8, 2), -0.5))
    for whole in (Categorical(logits), masked_categorical(logits, mask), gauss):
        full = np.asarray(dist_sample(key, whole))
        for start in (0, 2, 6):
            part = jax.tree.map(lambda x, s=start: x[s : s + 2], whole)
            got = wrap(lambda p, s: dist_sample(key, p, (s, 8)))(part, jnp.int32(start))
            np.testing.assert_array_equal(got, full[start : start + 2])
