"""Clipped surrogate and value losses: hand-derived numbers, the piecewise form, gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import clipped_surrogate_loss, value_loss
from ppo_jax.core.loss import explained_variance

WRAPS = [pytest.param(lambda f: f, id="eager"), pytest.param(jax.jit, id="jit")]


@pytest.mark.parametrize("wrap", WRAPS)
def test_ratio_one_gives_minus_mean_advantage(wrap):
    adv = jnp.array([1.0, -2.0, 3.0, 0.5])
    logp = jnp.log(jnp.array([0.1, 0.2, 0.3, 0.4]))
    loss = wrap(clipped_surrogate_loss)(logp, logp, adv, 0.2)
    np.testing.assert_allclose(loss, -np.mean([1.0, -2.0, 3.0, 0.5]), rtol=1e-6)


def test_hand_derived_values():
    # eps = 0.2. ratios r = [1.5, 0.5, 1.1, 0.7], advantages A = [2, 2, -1, -1]
    #   r=1.5, A=2:  min(3.0, 1.2*2=2.4) = 2.4
    #   r=0.5, A=2:  min(1.0, 0.8*2=1.6) = 1.0
    #   r=1.1, A=-1: min(-1.1, -1.1)    = -1.1
    #   r=0.7, A=-1: min(-0.7, -0.8)    = -0.8
    # loss = -(2.4 + 1.0 - 1.1 - 0.8) / 4 = -0.375
    ratios = jnp.array([1.5, 0.5, 1.1, 0.7])
    adv = jnp.array([2.0, 2.0, -1.0, -1.0])
    loss = clipped_surrogate_loss(jnp.log(ratios), jnp.zeros(4), adv, 0.2)
    np.testing.assert_allclose(loss, -0.375, rtol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_piecewise_form(seed):
    """min(r A, clip(r) A) == min(r, 1+eps) A for A >= 0 and max(r, 1-eps) A for A < 0."""
    rng = np.random.default_rng(seed)
    n, eps = 256, 0.2
    ratio = rng.uniform(0.3, 1.7, n)
    adv = rng.normal(size=n)
    piece = np.where(adv >= 0, np.minimum(ratio, 1 + eps) * adv, np.maximum(ratio, 1 - eps) * adv)
    loss = clipped_surrogate_loss(
        jnp.log(jnp.asarray(ratio, jnp.float32)), jnp.zeros(n), jnp.asarray(adv, jnp.float32), eps
    )
    np.testing.assert_allclose(loss, -piece.mean(), rtol=1e-5, atol=1e-6)


def test_zero_gradient_outside_trust_region():
    eps = 0.2
    # (ratio, advantage, gradient expected to be zero?)
    cases = [
        (1.5, 1.0, True),  # A > 0, ratio above 1 + eps: clipped, no gradient
        (0.5, -1.0, True),  # A < 0, ratio below 1 - eps: clipped, no gradient
        (1.1, 1.0, False),  # inside the region
        (0.5, 1.0, False),  # A > 0 and ratio below: the unclipped term is the min, gradient flows
        (1.5, -1.0, False),  # A < 0 and ratio above: gradient flows (pessimistic bound)
    ]
    for ratio, adv, zero in cases:
        grad = jax.grad(
            lambda lp, a=adv: clipped_surrogate_loss(lp, jnp.zeros(1), jnp.array([a]), eps)
        )(jnp.log(jnp.array([ratio])))
        if zero:
            assert float(grad[0]) == 0.0, (ratio, adv)
        else:
            # d/dlogp of -r*A = -r*A
            np.testing.assert_allclose(grad[0], -ratio * adv, rtol=1e-5)


def test_value_loss_unclipped_and_clipped():
    v = jnp.array([1.0, 3.0])
    old = jnp.array([0.0, 0.0])
    target = jnp.array([2.0, 0.0])
    # unclipped: 0.5 * mean([1, 9]) = 2.5
    np.testing.assert_allclose(value_loss(v, old, target), 2.5, rtol=1e-6)
    # clipped with c = 0.5: v_clip = [0.5, 0.5]; errs = [max(1, 2.25), max(9, 0.25)]
    # = [2.25, 9] -> 0.5 * 5.625 = 2.8125
    np.testing.assert_allclose(value_loss(v, old, target, 0.5), 2.8125, rtol=1e-6)


def test_explained_variance():
    t = jnp.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(explained_variance(t, t), 1.0)
    np.testing.assert_allclose(explained_variance(jnp.full(4, 2.5), t), 0.0, atol=1e-6)
    assert np.isnan(explained_variance(t, jnp.ones(4)))
