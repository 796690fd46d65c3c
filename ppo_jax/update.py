"""The PPO update: optimiser, minibatch shuffling, epochs; everything in ``lax.scan``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from ppo_jax.config import Hyperparams, PPOConfig
from ppo_jax.loss import loss_and_grad
from ppo_jax.networks import trainable
from ppo_jax.types import Array, Batch, LossInfo, PRNGKey, TrainState


def learning_rate_at(config: PPOConfig, hp: Hyperparams, step: Array) -> Array:
    """Learning rate for gradient step ``step`` (0-based): constant, or linearly annealed from
    ``hp.learning_rate`` by one ``1 / num_updates`` decrement per update (reaching 0 after the
    last update)."""
    lr = jnp.asarray(hp.learning_rate, jnp.float32)
    if not config.anneal_lr:
        return lr
    steps_per_update = config.update_epochs * config.num_minibatches
    update_index = (step // steps_per_update).astype(jnp.float32)
    return lr * (1.0 - update_index / config.num_updates)


def make_optimizer(config: PPOConfig, hp: Hyperparams) -> optax.GradientTransformation:
    """``clip_by_global_norm(max_grad_norm)`` -> Adam -> (annealed) learning rate.

    Built inside the trace so that ``hp`` may be traced (vmapped over for sweeps).
    """
    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.scale_by_adam(eps=config.adam_eps),
        optax.scale_by_learning_rate(lambda count: learning_rate_at(config, hp, count)),
    )


PERMUTATION_ROUNDS = 8
"""Rounds of (odd multiply, add, xorshift) in :func:`random_permutation`."""


def random_permutation(key: PRNGKey, n: int) -> Array:
    """A pseudo-random permutation of ``range(n)`` ``[n] int32``, computed without sorting.

    ``jax.random.permutation`` sorts random keys (two rounds for thousands of items), and XLA's
    CPU sort made that ~15% of a PPO update. Here each index goes through a keyed bijection of
    ``[0, 2^k)`` (``2^k >= n``): rounds of ``x <- (a x + b) mod 2^k`` with a random odd ``a``
    and random ``b``, then ``x <- x xor (x >> k/2)``, each invertible, so the composition is a
    permutation of ``[0, 2^k)``. Values ``>= n`` are mapped again until they fall below ``n``
    ("cycle walking"), which restricts it to a permutation of ``range(n)``. Every item lands in
    every position and every pair shares a minibatch at the uniform rates (tested with
    chi-square and frequency checks); it is not a uniform draw from all ``n!`` permutations.
    """
    bits = max(2, (n - 1).bit_length())
    mask = jnp.uint32((1 << bits) - 1)
    shift = bits // 2
    coefficients = jax.random.bits(key, (PERMUTATION_ROUNDS, 2), jnp.uint32)
    mult = coefficients[:, 0] | jnp.uint32(1)
    add = coefficients[:, 1]

    def mix(x: Array) -> Array:
        for r in range(PERMUTATION_ROUNDS):
            x = (x * mult[r] + add[r]) & mask
            x = x ^ (x >> shift)
        return x

    out = mix(jnp.arange(n, dtype=jnp.uint32))
    if n != 1 << bits:
        out = jax.lax.while_loop(
            lambda y: jnp.any(y >= n), lambda y: jnp.where(y >= n, mix(y), y), out
        )
    return out.astype(jnp.int32)


def shuffle_and_split(
    key: PRNGKey, batch: Batch, num_minibatches: int, shuffle: str = "sort"
) -> Batch:
    """Shuffle ``[B, ...]`` leaves with one permutation and split them to ``[M, B/M, ...]``.

    ``shuffle``: ``"sort"`` (``jax.random.permutation``) or ``"hash"``
    (:func:`random_permutation`), see ``PPOConfig.shuffle``.
    """
    size = batch.obs.shape[0]
    hashed = shuffle == "hash"
    perm = random_permutation(key, size) if hashed else jax.random.permutation(key, size)
    return jax.tree.map(
        lambda x: jnp.take(x, perm, axis=0).reshape(num_minibatches, -1, *x.shape[1:]), batch
    )


def update_minibatch(
    config: PPOConfig,
    hp: Hyperparams,
    state: TrainState,
    minibatch: Batch,
    axis_name: str | None = None,
) -> tuple[TrainState, tuple[LossInfo, Array]]:
    """One gradient step on one minibatch; returns ``(state, (LossInfo, grad_norm))``.

    With ``axis_name`` this device holds one shard of the minibatch; the gradient is averaged
    over the axis (see :func:`ppo_jax.loss.loss_and_grad`), so every device takes the same step.
    """
    (_, info), grads = loss_and_grad(state.params, config, hp, minibatch, axis_name)
    tx = make_optimizer(config, hp)
    train_params = trainable(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, train_params)
    params = {**state.params, **optax.apply_updates(train_params, updates)}
    new_state = TrainState(params=params, opt_state=opt_state, step=state.step + 1)
    return new_state, (info, optax.tree.norm(grads))


def update_epoch(
    config: PPOConfig,
    hp: Hyperparams,
    state: TrainState,
    batch: Batch,
    key: PRNGKey,
    axis_name: str | None = None,
) -> tuple[TrainState, tuple[LossInfo, Array]]:
    """One pass over ``batch [B]`` in ``num_minibatches`` shuffled minibatches.

    Returns the state and per-minibatch ``(LossInfo, grad_norm)`` stacked to ``[M]``.
    """
    minibatches = shuffle_and_split(key, batch, config.num_minibatches, config.shuffle)

    def body(s: TrainState, mb: Batch) -> tuple[TrainState, tuple[LossInfo, Array]]:
        return update_minibatch(config, hp, s, mb, axis_name)

    return jax.lax.scan(body, state, minibatches)


def update_epochs(
    config: PPOConfig,
    hp: Hyperparams,
    state: TrainState,
    batch: Batch,
    key: PRNGKey,
    axis_name: str | None = None,
) -> tuple[TrainState, tuple[LossInfo, Array]]:
    """``update_epochs`` passes over ``batch``; diagnostics stacked to ``[E, M]``.

    With ``axis_name``, ``batch`` is this device's shard of the rollout and ``key`` should differ
    per device (each shuffles its own shard); minibatch ``m`` is the union of every device's
    ``m``-th local minibatch.
    """

    def body(s: TrainState, k: PRNGKey) -> tuple[TrainState, tuple[LossInfo, Array]]:
        return update_epoch(config, hp, s, batch, k, axis_name)

    return jax.lax.scan(body, state, jax.random.split(key, config.update_epochs))


def init_opt_state(config: PPOConfig, hp: Hyperparams, params: Any) -> Any:
    """Initial optimiser state for the trainable part of ``params``."""
    return make_optimizer(config, hp).init(trainable(params))
