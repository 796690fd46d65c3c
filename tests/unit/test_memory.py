"""``ppo_jax.core.memory``: the memory cells. The parallel scan is judged by a loop
re-implementation of its recurrence (resets included); the cells by their step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax.core.memory import (
    CELLS,
    TIMESCALES,
    GatedLinearCell,
    initial_state,
    linear_recurrence,
    make_cell,
    retention_bias,
)


def loop_recurrence(a, b, h0, first):
    """The oracle: ``h_t = a_t h_{t-1} + b_t`` one step at a time, ``h_{t-1} = 0`` at a
    start."""
    h, out = np.asarray(h0, np.float64), []
    for t in range(a.shape[0]):
        h = np.where(np.asarray(first[t])[:, None], 0.0, h)
        h = np.asarray(a[t], np.float64) * h + np.asarray(b[t], np.float64)
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("length", [1, 2, 7, 64, 129])
def test_the_parallel_scan_is_the_recurrence(length):
    k = jax.random.split(jax.random.PRNGKey(length), 4)
    a = jax.random.uniform(k[0], (length, 3, 5))
    b = jax.random.normal(k[1], (length, 3, 5))
    h0 = jax.random.normal(k[2], (3, 5))
    first = jax.random.uniform(k[3], (length, 3)) < 0.2
    got = np.asarray(linear_recurrence(a, b, h0, first))
    np.testing.assert_allclose(got, loop_recurrence(a, b, h0, first), rtol=1e-5, atol=1e-5)


def test_a_reset_forgets_everything_before_it():
    a = jnp.ones((4, 1, 2))
    b = jnp.ones((4, 1, 2))
    first = jnp.array([[False], [False], [True], [False]])
    h = linear_recurrence(a, b, jnp.full((1, 2), 10.0), first)
    np.testing.assert_array_equal(np.asarray(h)[:, 0, 0], [11.0, 12.0, 1.0, 2.0])


def test_the_cell_steps_as_its_sequence():
    cell = GatedLinearCell(6)
    x = jax.random.normal(jax.random.PRNGKey(0), (9, 2, 3))
    first = jnp.zeros((9, 2), bool).at[4, 1].set(True)
    h0 = jax.random.normal(jax.random.PRNGKey(1), (2, 6))
    params = cell.init(jax.random.PRNGKey(2), h0, x[0])
    whole = cell.apply(params, h0, x, first, method="sequence")
    h, steps = h0, []
    for t in range(9):
        h = jnp.where(first[t][:, None], 0.0, h)
        h, y = cell.apply(params, h, x[t])
        steps.append(y)
    np.testing.assert_allclose(whole, jnp.stack(steps), rtol=1e-5, atol=1e-6)
    assert whole.shape == (9, 2, 6 + 3)  # the memory beside the present input


def test_initial_timescales_span_the_configured_range():
    bias = np.asarray(retention_bias(None, (8,)))
    keep = 1.0 - 1.0 / (1.0 + np.exp(-bias))  # the retention a = 1 - sigmoid(bias)
    np.testing.assert_allclose(1.0 / (1.0 - keep[[0, -1]]), TIMESCALES, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_starts_from_zeros_and_steps(cell):
    state = initial_state(cell, 3, 4)
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(state))
    module = make_cell(cell, 4, jax.nn.initializers.lecun_normal())
    x = jnp.ones((3, 5))
    params = module.init(jax.random.PRNGKey(0), state, x)
    new, y = module.apply(params, state, x)
    assert jax.tree.structure(new) == jax.tree.structure(state)
    assert y.shape[0] == 3


def test_an_unknown_cell_is_named():
    with pytest.raises(ValueError, match="gru"):
        make_cell("transformer", 4, jax.nn.initializers.lecun_normal())


def test_the_lstm_cell_is_the_textbook_lstm():
    """Oracle: the LSTM equations in numpy on the cell's own weights; the forget gate's
    bias starts at 1."""
    from ppo_jax.core.memory import LSTMCell

    cell = LSTMCell(3)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, 4)), np.float64)
    c0, h0 = (np.full((2, 3), 0.3), np.full((2, 3), -0.2))
    params = cell.init(jax.random.PRNGKey(1), (jnp.asarray(c0), jnp.asarray(h0)), x)
    (c, h), y = cell.apply(params, (jnp.asarray(c0), jnp.asarray(h0)), jnp.asarray(x))
    w = np.asarray(params["params"]["gates"]["kernel"], np.float64)
    b = np.asarray(params["params"]["gates"]["bias"], np.float64)
    np.testing.assert_array_equal(b, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    z = np.concatenate([x, h0], -1) @ w + b
    i, f, g, o = np.split(z, 4, -1)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c_want = sig(f) * c0 + sig(i) * np.tanh(g)
    np.testing.assert_allclose(c, c_want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, sig(o) * np.tanh(c_want), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y, h)
