"""Pytrees that cross function boundaries. Every ``lax.scan`` carry is one of these NamedTuples.

Optional fields hold ``None`` (an empty pytree) when a feature is off: ``TrainState.obs_norm``
without observation normalisation, ``EnvCarry.policy_state`` for a feed-forward policy,
``Transition.action_mask`` for an environment without action masks.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

PRNGKey = jax.Array
Params = Any
Array = jax.Array


class ActionSpec(NamedTuple):
    """What the policy must produce for one action (a leaf of the action space)."""

    continuous: bool
    """``False``: discrete actions (categorical policy); ``True``: a 1-D box (Gaussian)."""
    size: int
    """Number of discrete actions, or the dimension of a continuous action."""
    low: tuple[float, ...] | None = None
    """A box's lower bounds (``size`` floats, possibly ``-inf``); ``None`` for discrete."""
    high: tuple[float, ...] | None = None
    """A box's upper bounds; ``None`` for discrete."""


class CompositeAction(NamedTuple):
    """A ``spaces.Tuple``/``spaces.Dict`` action space (nested): one :class:`ActionSpec` per
    leaf, in ``jax.tree`` order, and the tree they form (hashable: a compile-cache key part)."""

    treedef: Any
    """``jax.tree_util.PyTreeDef`` of the environment's action pytree."""
    leaves: tuple[ActionSpec, ...]

    @property
    def continuous(self) -> bool:
        """Whether any leaf is continuous."""
        return any(leaf.continuous for leaf in self.leaves)

    @property
    def size(self) -> int:
        """Sum of the leaves' sizes."""
        return sum(leaf.size for leaf in self.leaves)


class ObsTree(NamedTuple):
    """Pytree observations (``spaces.Dict``/``spaces.Tuple``): the tree and each leaf's shape
    (hashable). Array observations are described by their shape tuple instead."""

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    paths: tuple[str, ...]
    """Each leaf's key path as a name (``"image"``, ``"critic/joints"``)."""


class RunningStats(NamedTuple):
    """Mean and population variance of everything merged so far, elementwise over ``shape``."""

    mean: Array
    """``[*shape]`` float32."""
    var: Array
    """``[*shape]`` float32."""
    samples: Array
    """Samples merged (float32 scalar; starts at ``ppo_jax.core.normalize.INITIAL_COUNT``)."""


class TrainState(NamedTuple):
    """Learner state: arrays only (no functions), so it can be vmapped, sharded and saved."""

    params: Params
    """Everything the optimiser trains: ``{"network": <the network module's parameters>}``,
    plus ``"log_std"`` ``[A]`` for a Gaussian (continuous-action) policy."""
    opt_state: Any
    """optax state of the clip-by-global-norm + Adam + schedule chain."""
    step: Array
    """Number of gradient steps taken so far (int32 scalar)."""
    obs_norm: RunningStats | None = None
    """Running observation statistics (``PPOConfig.normalize_observations``), updated after
    every rollout, never by the optimiser; ``None`` when observations are not normalised."""


class EpisodeStats(NamedTuple):
    """Running statistics of the episode each environment is in. Shapes ``[N]``."""

    episode_return: Array
    episode_length: Array


class EnvCarry(NamedTuple):
    """What the rollout carries between environment steps (all with leading axis ``[N]``)."""

    env_state: Any
    obs: Array
    stats: EpisodeStats
    first: Array
    """``[N]`` bool: ``obs`` is the first observation of an episode."""
    policy_state: Any = None
    """Recurrent state of the policy in each environment (``[N, ...]``), reset to the initial
    state where an episode starts; ``None`` for a feed-forward policy."""


class Transition(NamedTuple):
    """One environment step of every environment; a rollout stacks these to ``[T, N, ...]``."""

    obs: Any
    """Observation the action was chosen from, ``[N, *obs_shape]`` (a pytree of ``[N, ...]``
    leaves for pytree observations)."""
    action: Any
    """Action taken, ``[N]`` (int32, discrete) or ``[N, A]`` (float, continuous; as sampled,
    before clipping to the environment's bounds; a tanh-Gaussian's pre-squash value); for a
    composite action space, a tuple with one such array per leaf (``jax.tree`` order)."""
    log_prob: Array
    """log pi_old(action | obs), ``[N]``."""
    value: Array
    """V_old(obs), ``[N]``: the critic's value when the action was chosen."""
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
    first: Array
    """``[N]`` bool: ``obs`` is the first observation of an episode (recurrent state reset)."""
    action_mask: Any = None
    """``[N, A]`` bool, legal actions at ``obs`` (for a composite action, the environment's
    pytree of them); ``None`` when the environment has no mask."""
    next_value: Array | None = None
    """``[N]`` V(final_obs) when the rollout computed it (recurrent policies, which need the
    policy state of that step); ``None`` otherwise (computed after the rollout)."""


class Batch(NamedTuple):
    """Training data of one update: leading ``[B]`` (feed-forward, flattened and shuffled) or
    ``[T, B]`` (recurrent: whole sequences of ``B`` environments)."""

    obs: Array
    action: Array
    log_prob: Array
    value: Array
    advantage: Array
    target: Array
    action_mask: Array | None = None
    first: Array | None = None
    """Recurrent only: ``[T, B]`` episode starts inside the sequences."""
    policy_state: Any = None
    """Recurrent only: ``[B, ...]`` policy state at the start of each sequence."""


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
    custom: dict[str, Array] = {}  # noqa: RUF012 (an empty pytree; never mutated)
    """What ``metrics_fn(traj)`` returned for this update's rollout (``name -> scalar``)."""
    evaluation: dict[str, Array] = {}  # noqa: RUF012 (an empty pytree; never mutated)
    """``eval_return``, ``eval_length``, ``eval_truncated`` with ``eval_every > 0``: finite at
    updates that ended with an evaluation, NaN at the others; empty otherwise."""


METRIC_NAMES = tuple(name for name in Metrics._fields if name not in ("custom", "evaluation"))
"""Names of the built-in per-update metrics."""
EVAL_METRIC_NAMES = ("eval_return", "eval_length", "eval_truncated")
"""Metrics of evaluation during training (``PPOConfig.eval_every > 0``): mean return and length
of the evaluation episodes, and how many of them the step budget cut; NaN at updates without
an evaluation."""


def metrics_dict(metrics: Metrics) -> dict[str, Any]:
    """``name -> array`` of the built-in, evaluation and custom metrics, in that order."""
    out = {name: getattr(metrics, name) for name in METRIC_NAMES}
    out.update(metrics.evaluation)
    out.update(metrics.custom)
    return out


class RewardNormState(NamedTuple):
    """State of reward scaling: per-environment discounted returns and their running statistics."""

    returns: Array
    """Discounted return of the current episode of each environment, ``[N]``."""
    stats: RunningStats
    """Statistics of those returns (scalar shape)."""


class EvalState(NamedTuple):
    """What evaluation during training carries (``PPOConfig.eval_every > 0``)."""

    best_params: Params
    """Parameters of the best evaluation so far (the initial ones before the first)."""
    best_obs_norm: RunningStats | None
    """Their observation statistics (``None`` when observations are not normalised)."""
    best_return: Array
    """Mean return of that evaluation (float32; ``-inf`` before the first)."""
    best_update: Array
    """Its update index, 0-based (int32; -1 before the first)."""
    stopped: Array
    """bool: an evaluation reached ``PPOConfig.stop_at_return``; later updates are skipped."""


class RunnerState(NamedTuple):
    """The carry of the outer training ``lax.scan`` (one iteration = rollout + update)."""

    train_state: TrainState
    env: EnvCarry
    key: PRNGKey
    reward_norm: RewardNormState
    """Reward-scaling state (carried always; used when ``config.normalize_rewards``)."""
    evaluation: EvalState | None = None
    """Best evaluated parameters and the stop flag; ``None`` without evaluation during
    training (``eval_every=0``)."""
