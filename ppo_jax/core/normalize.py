"""Running mean/variance statistics for observation and reward normalisation.

Everything here is a pure function of NamedTuples, so the statistics live in the training state:
they are carried through ``lax.scan``, batched by ``vmap`` (one set per seed), sharded with the
runs, written to checkpoints and, for observations, applied by evaluation and exported policies
(they sit in ``TrainState.obs_norm``, beside the parameters the optimiser trains).

Statistics are merged batch-wise with the parallel algorithm of Chan, Golub & LeVeque (1979):
the result equals the mean and (population) variance of all samples seen, up to float rounding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ppo_jax.core.types import Array, RewardNormState, RunningStats

NORM_EPS = 1e-8
"""Added to the variance before taking the square root."""
INITIAL_COUNT = 1e-4
"""Pseudo-count of the initial (mean 0, variance 1) statistics, as in gymnasium's wrappers."""


def init_stats(shape: tuple[int, ...]) -> RunningStats:
    """Mean 0, variance 1, pseudo-count ``INITIAL_COUNT``."""
    return RunningStats(
        mean=jnp.zeros(shape, jnp.float32),
        var=jnp.ones(shape, jnp.float32),
        samples=jnp.float32(INITIAL_COUNT),
    )


def update_stats(stats: RunningStats, samples: Array, axis_name: str | None = None) -> RunningStats:
    """Merge ``samples [K, *shape]`` (any number of leading axes, flattened) into ``stats``.

    With ``axis_name`` each shard along that mesh axis holds some of the samples (the same
    number on every shard) and all shards merge all of them, ending with the same statistics.
    """
    shape = stats.mean.shape
    x = jnp.asarray(samples, jnp.float32).reshape(-1, *shape)
    n = jnp.float32(x.shape[0])
    if axis_name is None:
        batch_mean = x.mean(axis=0)
        batch_var = x.var(axis=0)
    else:
        n = jax.lax.psum(n, axis_name)
        batch_mean = jax.lax.psum(x.sum(axis=0), axis_name) / n
        batch_var = jax.lax.psum(jnp.square(x - batch_mean).sum(axis=0), axis_name) / n
    total = stats.samples + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * (n / total)
    m2 = stats.var * stats.samples + batch_var * n + jnp.square(delta) * (stats.samples * n / total)
    return RunningStats(mean=mean, var=m2 / total, samples=total)


def normalize(stats: RunningStats, x: Array, clip: float) -> Array:
    """``clip((x - mean) / sqrt(var + eps), -clip, clip)``; ``x`` is ``[..., *shape]``."""
    scaled = (jnp.asarray(x, jnp.float32) - stats.mean) * jax.lax.rsqrt(stats.var + NORM_EPS)
    return jnp.clip(scaled, -clip, clip)


def init_reward_norm(num_envs: int) -> RewardNormState:
    """Zero returns for ``num_envs`` environments and fresh scalar statistics."""
    return RewardNormState(returns=jnp.zeros((num_envs,), jnp.float32), stats=init_stats(()))


def scale_rewards(
    state: RewardNormState,
    rewards: Array,
    dones: Array,
    gamma: jax.typing.ArrayLike,
    clip: float,
    axis_name: str | None = None,
) -> tuple[RewardNormState, Array]:
    """Divide rewards by the running std of the discounted return (Engstrom et al. 2020).

    ``rewards``, ``dones`` are ``[T, N]`` rollouts. The return of each environment is
    ``G_t = r_t + gamma * G_{t-1}`` and restarts after an episode ends (``dones[t-1]``). The
    statistics take in all ``T * N`` returns of the rollout, then every reward is divided by
    ``sqrt(var + eps)`` and clipped to ``[-clip, clip]``. Returns the new state and ``[T, N]``
    scaled rewards. With ``axis_name`` the environments are split over that mesh axis and the
    statistics take in every shard's returns.
    """

    def body(g: Array, step: tuple[Array, Array]) -> tuple[Array, Array]:
        r, done = step
        g = r + gamma * g
        return jnp.where(done, 0.0, g), g

    returns, seq = jax.lax.scan(body, state.returns, (rewards, dones))
    stats = update_stats(state.stats, seq, axis_name)
    scaled = jnp.clip(rewards * jax.lax.rsqrt(stats.var + NORM_EPS), -clip, clip)
    return RewardNormState(returns=returns, stats=stats), scaled
