"""Pytrees that cross function boundaries. Every ``lax.scan`` carry is one of these NamedTuples."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

PRNGKey = jax.Array
Params = Any
Array = jax.Array


class TrainState(NamedTuple):
    """Learner state: arrays only (no functions), so it can be vmapped, sharded and saved."""

    params: Params
    """``{"actor": ..., "critic": ...}`` flax parameter trees, plus ``"obs_norm"`` (running
    observation statistics, not trained) when observations are normalised."""
    opt_state: Any
    """optax state of the clip-by-global-norm + Adam + schedule chain."""
    step: Array
    """Number of gradient steps taken so far (int32 scalar)."""


class EpisodeStats(NamedTuple):
    """Running statistics of the episode each environment is in. Shapes ``[N]``."""

    episode_return: Array
    episode_length: Array


class EnvCarry(NamedTuple):
    """What the rollout carries between environment steps (all with leading axis ``[N]``)."""

    env_state: Any
    obs: Array
    stats: EpisodeStats


class Transition(NamedTuple):
    """One environment step of every environment; a rollout stacks these to ``[T, N, ...]``."""

    obs: Array
    """Observation the action was chosen from, ``[N, *obs_shape]``."""
    action: Array
    """Action taken, ``[N]`` (int32, discrete) or ``[N, A]`` (float, continuous; as sampled,
    before clipping to the environment's bounds)."""
    log_prob: Array
    """log pi_old(action | obs), ``[N]``."""
    reward: Array
    """Reward received, ``[N]``."""
    terminated: Array
    """True where the episode ended in a terminal state (no bootstrap), ``[N]``."""
    truncated: Array
    """True where the episode was cut by the time limit (bootstrap from V(final_obs)), ``[N]``."""
    final_obs: Array
    """The true next observation (``info["final_observation"]``, pre-reset), ``[N, *obs_shape]``."""
    completed_return: Array
    """Return of the episode that ended at this step, 0 where none ended, ``[N]``."""
    completed_length: Array
    """Length of the episode that ended at this step, 0 where none ended, ``[N]``."""


class Batch(NamedTuple):
    """Flattened training data of one update, leading axis ``[B]`` (or ``[M, B/M]`` split)."""

    obs: Array
    action: Array
    log_prob: Array
    value: Array
    advantage: Array
    target: Array


class LossInfo(NamedTuple):
    """Scalar diagnostics from one minibatch loss evaluation."""

    total_loss: Array
    policy_loss: Array
    value_loss: Array
    entropy: Array
    approx_kl: Array
    clip_fraction: Array


class Metrics(NamedTuple):
    """Per-update diagnostics. Each field is a scalar per update; ``lax.scan`` stacks them to
    ``[num_updates]`` (one row per update keeps memory bounded)."""

    episode_return: Array
    """Mean return of the episodes that ended during this update; NaN if none ended."""
    episode_length: Array
    """Mean length of the episodes that ended during this update; NaN if none ended."""
    episodes_completed: Array
    """Number of episodes that ended during this update."""
    policy_loss: Array
    value_loss: Array
    entropy: Array
    approx_kl: Array
    clip_fraction: Array
    explained_variance: Array
    """``1 - Var(target - V) / Var(target)`` over the update's batch, before the update."""
    learning_rate: Array
    """Learning rate used by the last gradient step of this update."""
    grad_norm: Array
    """Mean global gradient norm (before clipping) over the update's minibatches."""
    env_steps: Array
    """Environment steps taken so far, at the end of this update."""


class RunningStats(NamedTuple):
    """Mean and population variance of everything merged so far, elementwise over ``shape``."""

    mean: Array
    """``[*shape]`` float32."""
    var: Array
    """``[*shape]`` float32."""
    samples: Array
    """Number of samples merged (float32 scalar; starts at ``ppo_jax.normalize.INITIAL_COUNT``)."""


class RewardNormState(NamedTuple):
    """State of reward scaling: per-environment discounted returns and their running statistics."""

    returns: Array
    """Discounted return of the current episode of each environment, ``[N]``."""
    stats: RunningStats
    """Statistics of those returns (scalar shape)."""


class RunnerState(NamedTuple):
    """The carry of the outer training ``lax.scan`` (one iteration = rollout + update)."""

    train_state: TrainState
    env: EnvCarry
    key: PRNGKey
    reward_norm: RewardNormState
    """Reward-scaling state (carried always; used when ``config.normalize_rewards``)."""
