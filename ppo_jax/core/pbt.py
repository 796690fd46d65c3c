"""Population-based training's exploit and explore steps, as pure functions of arrays.

A population is ``P`` runs stacked on a leading member axis (``RunnerState`` and
:class:`~ppo_jax.core.config.Hyperparams` leaves ``[P, ...]``). Every interval the members are
ranked by a score (their recent training return); each of the bottom ``k`` copies the learner
state of a member drawn uniformly from the top ``k`` (exploit) and perturbs or resamples the
searched hyperparameters it inherited (explore). Everything is ``jnp``, so the whole run is one
compiled ``lax.scan`` over intervals (see ``ppo_jax.run.pbt``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ppo_jax.core.config import Hyperparams
from ppo_jax.core.types import Array, PRNGKey, RunnerState


class SearchDim(NamedTuple):
    """One searched hyperparameter (static: part of the compiled program).

    ``kind``: ``"log"`` (log-uniform on ``[low, high]``), ``"linear"`` (uniform on
    ``[low, high]``) or ``"choice"`` (one of ``choices``, sorted ascending).
    """

    name: str
    kind: str
    low: float
    high: float
    choices: tuple[float, ...] = ()


class PBTSettings(NamedTuple):
    """Static settings of the exploit/explore step."""

    dims: tuple[SearchDim, ...]
    num_replaced: int
    """``k``: the bottom ``k`` members copy one of the top ``k``."""
    perturb: tuple[float, ...]
    """Factors an inherited continuous value is multiplied by (one drawn uniformly)."""
    resample_probability: float
    rank_by: str = "episode_return"
    """What ranks the members after an interval: the mean training return
    (``"episode_return"``) or the mean return of the evaluations in it (``"eval_return"``)."""


RANK_BY = ("episode_return", "eval_return")
"""Metrics PBT may rank its members by."""


def sample_dim(dim: SearchDim, key: PRNGKey, shape: tuple[int, ...]) -> Array:
    """Fresh draws of ``dim`` from its distribution, float32 ``shape``."""
    if dim.kind == "choice":
        idx = jax.random.randint(key, shape, 0, len(dim.choices))
        return jnp.asarray(dim.choices, jnp.float32)[idx]
    u = jax.random.uniform(key, shape)
    if dim.kind == "log":
        lo, hi = jnp.log(dim.low), jnp.log(dim.high)
        return jnp.exp(lo + u * (hi - lo)).astype(jnp.float32)
    return (dim.low + u * (dim.high - dim.low)).astype(jnp.float32)


def perturb_dim(dim: SearchDim, values: Array, key: PRNGKey, factors: tuple[float, ...]) -> Array:
    """``values`` moved a little: continuous values times a factor drawn from ``factors``,
    clipped into ``[low, high]``; choices one step up or down the sorted list (clamped)."""
    if dim.kind == "choice":
        grid = jnp.asarray(dim.choices, jnp.float32)
        idx = jnp.argmin(jnp.abs(values[:, None] - grid[None, :]), axis=1)
        step = jnp.where(jax.random.bernoulli(key, 0.5, values.shape), 1, -1)
        return grid[jnp.clip(idx + step, 0, len(dim.choices) - 1)]
    pick = jax.random.randint(key, values.shape, 0, len(factors))
    moved = values * jnp.asarray(factors, jnp.float32)[pick]
    return jnp.clip(moved, dim.low, dim.high).astype(jnp.float32)


def rank_members(score: Array) -> Array:
    """Member indices from best to worst score ``[P]``; NaN (no episode ended) ranks last,
    ties by index."""
    clean = jnp.where(jnp.isnan(score), -jnp.inf, score)
    return jnp.argsort(-clean, stable=True)


def choose_parents(score: Array, num_replaced: int, key: PRNGKey) -> Array:
    """``[P]`` int32: whom each member copies (itself unless it is in the bottom
    ``num_replaced``, which copy a member of the top ``num_replaced`` drawn uniformly)."""
    order = rank_members(score)
    size = score.shape[0]
    parents = jnp.arange(size, dtype=jnp.int32)
    if num_replaced == 0:
        return parents
    top, bottom = order[:num_replaced], order[size - num_replaced :]
    donors = top[jax.random.randint(key, (num_replaced,), 0, num_replaced)]
    return parents.at[bottom].set(donors.astype(jnp.int32))


def copy_members(tree: Any, parents: Array) -> Any:
    """Every leaf ``[P, ...]`` re-indexed by ``parents``: member ``i`` gets member
    ``parents[i]``'s values, bit for bit."""
    return jax.tree.map(lambda x: x[parents], tree)


def exploit_explore(
    settings: PBTSettings,
    runner: RunnerState,
    hp: Hyperparams,
    score: Array,
    key: PRNGKey,
) -> tuple[RunnerState, Hyperparams, Array]:
    """One PBT step over ``P`` members; returns the new runner states, hyperparameters and the
    ``[P]`` parents.

    Replaced members take the parent's learner state (parameters, optimiser state, step and
    observation statistics) and reward-normalisation statistics; they keep their own
    environments and random key, so copies diverge from the next rollout on. Their searched
    hyperparameters are the parent's, each resampled from the space with probability
    ``resample_probability`` and otherwise perturbed; unsearched ones are never touched.
    """
    parent_key, key = jax.random.split(key)
    parents = choose_parents(score, settings.num_replaced, parent_key)
    replaced = parents != jnp.arange(score.shape[0])
    runner = runner._replace(
        train_state=copy_members(runner.train_state, parents),
        reward_norm=copy_members(runner.reward_norm, parents),
    )
    inherited = copy_members(hp, parents)
    fields = inherited._asdict()
    for dim in settings.dims:
        key, k_coin, k_new, k_move = jax.random.split(key, 4)
        values = jnp.asarray(fields[dim.name], jnp.float32)
        coin = jax.random.bernoulli(k_coin, settings.resample_probability, values.shape)
        explored = jnp.where(
            coin,
            sample_dim(dim, k_new, values.shape),
            perturb_dim(dim, values, k_move, settings.perturb),
        )
        fields[dim.name] = jnp.where(replaced, explored, values)
    return runner, Hyperparams(**fields), parents


def interval_score(episode_returns: Array) -> Array:
    """Score of each member over an interval: the mean of the per-update mean returns
    ``[P, n]`` that saw an episode end (NaN where none did)."""
    seen = ~jnp.isnan(episode_returns)
    total = jnp.sum(jnp.where(seen, episode_returns, 0.0), axis=-1)
    count = jnp.sum(seen, axis=-1)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)
