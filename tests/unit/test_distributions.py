"""ppo_jax.core.distributions: categorical (with action masks) and diagonal Gaussian against
closed forms and a NumPy reference; tanh-Gaussian, Beta and composite (product) policies
against distrax and scipy."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax.core.distributions import (
    Beta,
    Categorical,
    Composite,
    DiagGaussian,
    TanhGaussian,
    dist_entropy,
    dist_env_action,
    dist_log_prob,
    dist_mode,
    dist_sample,
    entropy,
    log_prob,
    masked_categorical,
    sample_action,
    tanh_log_det,
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


# --------------------------------------------------- bounded and composite policies (oracles)
def _tanh_oracle(mean, std, low, high):
    """distrax: a diagonal Gaussian pushed through tanh, then the affine map onto the bounds."""
    distrax = pytest.importorskip("distrax")
    base = distrax.MultivariateNormalDiag(mean, std)
    half, mid = (high - low) / 2.0, (high + low) / 2.0
    bijector = distrax.Block(
        distrax.Chain([distrax.ScalarAffine(shift=mid, scale=half), distrax.Tanh()]), 1
    )
    return distrax.Transformed(base, bijector)


def test_tanh_gaussian_log_prob_matches_distrax(key):
    k1, k2 = jax.random.split(key)
    mean = jax.random.normal(k1, (6, 3))
    log_std = 0.5 * jax.random.normal(k2, (6, 3))
    low, high = jnp.array([-2.0, 0.0, -1.0]), jnp.array([2.0, 5.0, 1.0])
    dist = TanhGaussian(
        mean, log_std, jnp.broadcast_to(low, (6, 3)), jnp.broadcast_to(high, (6, 3))
    )
    u = dist_sample(jax.random.PRNGKey(3), dist)
    action = dist_env_action(dist, u)
    oracle = _tanh_oracle(mean, jnp.exp(log_std), low, high)
    np.testing.assert_allclose(
        dist_log_prob(dist, u), oracle.log_prob(action), rtol=1e-4, atol=1e-4
    )
    assert bool(jnp.all((action >= low) & (action <= high)))


def test_tanh_log_det_stays_finite_where_tanh_saturates():
    u = jnp.array([-80.0, -20.0, -3.0, 0.0, 3.0, 20.0, 80.0])
    got = tanh_log_det(u)
    assert bool(jnp.all(jnp.isfinite(got)))
    moderate = jnp.abs(u) <= 3.0
    direct = jnp.log(1.0 - jnp.tanh(u) ** 2)
    np.testing.assert_allclose(got[moderate], direct[moderate], rtol=1e-5)
    # For large |u|: log(1 - tanh^2) = log 4 - 2|u| + O(exp(-2|u|)).
    np.testing.assert_allclose(got[-1], math.log(4.0) - 160.0, rtol=1e-6)


def test_tanh_gaussian_entropy_matches_monte_carlo(key):
    mean = jnp.array([[0.0, 1.5, -0.7]])
    log_std = jnp.array([[0.0, -0.5, 0.8]])
    low, high = jnp.array([[-1.0, -3.0, 0.0]]), jnp.array([[1.0, 1.0, 2.0]])
    dist = TanhGaussian(mean, log_std, low, high)
    oracle = _tanh_oracle(mean[0], jnp.exp(log_std[0]), low[0], high[0])
    _, logp = oracle.sample_and_log_prob(seed=key, sample_shape=(400_000,))
    mc = -float(jnp.mean(logp))
    stderr = float(jnp.std(logp)) / math.sqrt(400_000)
    assert abs(float(dist_entropy(dist)[0]) - mc) < 4 * stderr + 1e-3


def test_beta_log_prob_entropy_and_mode_match_scipy(key):
    stats = pytest.importorskip("scipy.stats")
    alpha = jnp.array([[1.0, 2.5, 7.0], [1.3, 1.0, 3.0]])
    beta = jnp.array([[3.0, 2.5, 1.5], [1.3, 1.0, 9.0]])
    low = jnp.broadcast_to(jnp.array([-2.0, 0.0, -1.0]), (2, 3))
    high = jnp.broadcast_to(jnp.array([2.0, 5.0, 1.0]), (2, 3))
    dist = Beta(alpha, beta, low, high)
    action = dist_sample(key, dist)
    assert bool(jnp.all((action >= low) & (action <= high)))
    a, b, lo, width = (np.asarray(x, np.float64) for x in (alpha, beta, low, high - low))
    ref = stats.beta.logpdf(np.asarray(action, np.float64), a, b, loc=lo, scale=width).sum(-1)
    np.testing.assert_allclose(dist_log_prob(dist, action), ref, rtol=1e-4, atol=1e-4)
    ref_entropy = stats.beta.entropy(a, b, loc=lo, scale=width).sum(-1)
    np.testing.assert_allclose(dist_entropy(dist), ref_entropy, rtol=1e-4, atol=1e-4)
    grid = np.linspace(0.0, 1.0, 200_001)[1:-1]
    for i in range(2):
        for j in range(3):
            if a[i, j] > 1 and b[i, j] > 1:
                best = grid[np.argmax(stats.beta.logpdf(grid, a[i, j], b[i, j]))]
                want = lo[i, j] + width[i, j] * best
                assert abs(float(dist_mode(dist)[i, j]) - want) < 1e-3 * width[i, j]


def test_beta_samples_have_the_scaled_moments(key):
    n = 100_000
    alpha, beta = jnp.full((n, 1), 2.0), jnp.full((n, 1), 5.0)
    dist = Beta(alpha, beta, jnp.full((n, 1), -1.0), jnp.full((n, 1), 3.0))
    x = np.asarray(dist_sample(key, dist))[:, 0]
    mean = -1.0 + 4.0 * 2.0 / 7.0
    var = 16.0 * (2.0 * 5.0) / (49.0 * 8.0)
    assert abs(x.mean() - mean) < 4 * math.sqrt(var / n)
    assert abs(x.var() - var) < 0.02 * var


def _composite(key):
    k1, k2, k3 = jax.random.split(key, 3)
    logits = jax.random.normal(k1, (5, 4))
    mask = jnp.array([[True, False, True, False]] * 5)
    parts = (
        masked_categorical(logits, mask),
        DiagGaussian(jax.random.normal(k2, (5, 2)), jnp.full((5, 2), -0.3)),
        Categorical(jax.random.normal(k3, (5, 3))),
    )
    return Composite(parts), mask


def test_composite_log_prob_and_entropy_are_sums_over_leaves(key):
    dist, _ = _composite(key)
    action = dist_sample(jax.random.PRNGKey(7), dist)
    assert isinstance(action, tuple) and len(action) == 3
    want = sum(dist_log_prob(p, a) for p, a in zip(dist.parts, action, strict=True))
    np.testing.assert_allclose(dist_log_prob(dist, action), want, rtol=1e-6)
    np.testing.assert_allclose(
        dist_entropy(dist), sum(dist_entropy(p) for p in dist.parts), rtol=1e-6
    )
    # Independent check of the categorical leaves and the Gaussian leaf with distrax.
    distrax = pytest.importorskip("distrax")
    ref = (
        distrax.Categorical(logits=dist.parts[0].logits).log_prob(action[0])
        + distrax.MultivariateNormalDiag(
            dist.parts[1].mean, jnp.exp(dist.parts[1].log_std)
        ).log_prob(action[1])
        + distrax.Categorical(logits=dist.parts[2].logits).log_prob(action[2])
    )
    np.testing.assert_allclose(dist_log_prob(dist, action), ref, rtol=1e-4, atol=1e-4)


def test_masked_composite_leaves_are_never_sampled(key):
    dist, mask = _composite(key)
    for k in jax.random.split(key, 200):
        action = dist_sample(k, dist)
        assert bool(jnp.all(mask[jnp.arange(5), action[0]]))
    modes = dist_mode(dist)
    assert bool(jnp.all(mask[jnp.arange(5), modes[0]]))


@pytest.mark.parametrize("kind", ["beta", "composite", "tanh"])
def test_a_block_of_a_bounded_or_composite_policy_samples_the_rows_of_the_whole_draw(key, kind):
    if kind == "beta":
        dist = Beta(
            jnp.full((6, 2), 2.0), jnp.full((6, 2), 3.0), jnp.zeros((6, 2)), jnp.ones((6, 2))
        )
    elif kind == "tanh":
        dist = TanhGaussian(
            jnp.zeros((6, 2)), jnp.zeros((6, 2)), -jnp.ones((6, 2)), jnp.ones((6, 2))
        )
    else:
        dist = _composite(key)[0]
        dist = jax.tree.map(lambda x: jnp.concatenate([x, x[:1]]), dist)  # 6 rows
    whole = dist_sample(key, dist)
    part = jax.tree.map(lambda x: x[2:5], dist)
    block = dist_sample(key, part, (jnp.int32(2), 6))
    jax.tree.map(lambda w, b: np.testing.assert_array_equal(w[2:5], b), whole, block)
