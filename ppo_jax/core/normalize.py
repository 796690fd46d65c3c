"""Running mean/variance statistics for observation and reward normalisation.

Everything here is a pure function of NamedTuples, so the statistics live in the training state:
they are carried through ``lax.scan``, batched by ``vmap`` (one set per seed), sharded with the
runs, written to checkpoints and, for observations, applied by evaluation and exported policies
(they sit in ``TrainState.obs_norm``, beside the parameters the optimiser trains).

Statistics are merged batch-wise with the parallel algorithm of Chan, Golub & LeVeque (1979):
the result equals the mean and (population) variance of all samples seen, up to float rounding.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ppo_jax.core.types import Array, ObsTree, RewardNormState, RunningStats

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


def is_image(shape: tuple[int, ...]) -> bool:
    """Whether an observation leaf of ``shape`` is an image ``[H, W, C]`` (not normalised in
    pytree observations)."""
    return len(shape) == 3


def init_obs_stats(obs_shape: tuple[int, ...] | ObsTree) -> Any:
    """Fresh statistics of observations: :func:`init_stats` of an array observation's shape
    (whatever its rank), or for pytree observations the same tree with one
    :class:`RunningStats` per leaf. Image leaves (:func:`is_image`) keep statistics too, so a
    checkpoint holds the whole tree, but :func:`normalize_obs` does not apply them."""
    if not isinstance(obs_shape, ObsTree):
        return init_stats(obs_shape)
    return obs_shape.treedef.unflatten([init_stats(shape) for shape in obs_shape.shapes])


def _per_leaf(stats: Any, obs: Any) -> tuple[list[Any], list[Any], Any]:
    """``(stats per leaf, observation leaves, treedef)`` of pytree observations."""
    leaves, treedef = jax.tree.flatten(obs)
    tree: Any = treedef
    return tree.flatten_up_to(stats), leaves, treedef


def update_obs_stats(stats: Any, obs: Any, axis_name: str | None = None) -> Any:
    """:func:`update_stats` of array observations ``[K, *shape]``, or of every leaf of pytree
    observations (``stats`` from :func:`init_obs_stats`)."""
    if isinstance(stats, RunningStats):
        return update_stats(stats, obs, axis_name)
    per_leaf, leaves, treedef = _per_leaf(stats, obs)
    merged = [update_stats(s, x, axis_name) for s, x in zip(per_leaf, leaves, strict=True)]
    return treedef.unflatten(merged)


def normalize_obs(stats: Any, obs: Any, clip: float) -> Any:
    """:func:`normalize` of array observations, or of every non-image leaf of pytree
    observations (image leaves are only cast to float32)."""
    if isinstance(stats, RunningStats):
        return normalize(stats, obs, clip)
    per_leaf, leaves, treedef = _per_leaf(stats, obs)
    out = [
        jnp.asarray(x, jnp.float32) if is_image(s.mean.shape) else normalize(s, x, clip)
        for s, x in zip(per_leaf, leaves, strict=True)
    ]
    return treedef.unflatten(out)


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
