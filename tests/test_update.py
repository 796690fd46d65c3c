"""Minibatch shuffling: both ``PPOConfig.shuffle`` modes give permutations, and the sort-free
one has the statistics of a uniform shuffle (every position, every minibatch pairing)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig, train
from ppo_jax.types import Batch
from ppo_jax.update import random_permutation, shuffle_and_split


@pytest.mark.parametrize("n", [*range(1, 40), 100, 127, 128, 129, 1000, 2048, 3000])
def test_random_permutation_is_a_permutation(n):
    perm = np.asarray(random_permutation(jax.random.PRNGKey(n), n))
    assert perm.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perm), np.arange(n))


def test_random_permutation_is_uniform_in_position_and_pairing():
    n, draws = 24, 20_000
    keys = jax.random.split(jax.random.PRNGKey(1), draws)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: random_permutation(k, n)))(keys))
    # Where item i lands: chi-square of the [item, position] counts against draws / n each.
    counts = np.stack([np.bincount(perms[:, i], minlength=n) for i in range(n)])
    expected = draws / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    dof = (n - 1) ** 2
    assert chi2 < dof + 5 * np.sqrt(2 * dof), chi2  # ~5 sigma; a biased shuffle is far above
    # How often two items share a half (2 minibatches): (n/2 - 1) / (n - 1) for a uniform one.
    half = perms < n // 2
    together = (half[:, :, None] == half[:, None, :]).mean(axis=0)[~np.eye(n, dtype=bool)]
    rate = (n // 2 - 1) / (n - 1)
    sigma = np.sqrt(rate * (1 - rate) / draws)
    assert np.abs(together - rate).max() < 5 * sigma, np.abs(together - rate).max() / sigma
    # Different keys give different permutations, the same key the same one.
    assert len({tuple(p) for p in perms[:100]}) == 100
    np.testing.assert_array_equal(random_permutation(keys[0], n), perms[0])


@pytest.mark.parametrize("shuffle", ["sort", "hash"])
def test_shuffle_and_split_keeps_rows_together(shuffle):
    size = 64
    batch = Batch(
        obs=jnp.arange(size * 4, dtype=jnp.float32).reshape(size, 4),
        action=jnp.arange(size),
        log_prob=jnp.arange(size, dtype=jnp.float32),
        value=-jnp.arange(size, dtype=jnp.float32),
        advantage=jnp.arange(size, dtype=jnp.float32) * 2,
        target=jnp.arange(size, dtype=jnp.float32) + 0.5,
    )
    out = shuffle_and_split(jax.random.PRNGKey(0), batch, 4, shuffle)
    assert out.obs.shape == (4, 16, 4) and out.action.shape == (4, 16)
    rows = np.asarray(out.action).reshape(-1)
    np.testing.assert_array_equal(np.sort(rows), np.arange(size))
    assert not np.array_equal(rows, np.arange(size))
    np.testing.assert_array_equal(np.asarray(out.obs).reshape(-1, 4)[:, 0], rows * 4)
    np.testing.assert_array_equal(np.asarray(out.value).reshape(-1), -rows)
    np.testing.assert_array_equal(np.asarray(out.target).reshape(-1), rows + 0.5)


def test_hash_shuffle_trains_and_bad_value_is_refused(tiny_config):
    result = train(tiny_config.replace(shuffle="hash"), jax.random.PRNGKey(0))
    assert np.all(np.isfinite(result.metrics["value_loss"]))
    with pytest.raises(ValueError, match="shuffle"):
        PPOConfig(shuffle="random")  # type: ignore[arg-type]
