"""Composition of the pure stages into one jittable training function.

``make_train(config, env)`` returns ``train_fn(key, hp, env_params) -> (TrainState, Metrics)``:
:func:`init_runner`, then :func:`scan_updates` over all updates, each an :func:`update_step`
(rollout -> GAE -> epochs of minibatch updates). The whole run, initialisation included, is one
compiled program; seeds are a ``vmap`` of it, hyperparameter sweeps a ``vmap`` over ``hp`` too.
Checkpointed runs call :func:`scan_updates` on consecutive ranges of updates and replay exactly
the same updates.

``axis_name``: the program of one device holding a block of a run's environments (inside
``shard_map``; see ``ppo_jax.run.parallel``). Its randomness is the one-device program's: the
reset keys, the actions' noise and the step keys are drawn for all the run's environments and
the device keeps its block (``ppo_jax.core.rollout.env_block``); the rollout is gathered so that
every device shuffles the whole batch with the run's key and trains on its share of each
minibatch. Gradients, statistics and metrics are reduced over that mesh axis, so every device
ends each update with the same learner state, and the run equals the one-device run (up to
float rounding) on any number of devices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from ppo_jax.core.config import Hyperparams, PPOConfig, StaticConfig
from ppo_jax.core.envs import make_env, reset_envs
from ppo_jax.core.episodes import evaluate_during_training, init_eval_state
from ppo_jax.core.gae import compute_gae, compute_reward_to_go
from ppo_jax.core.loss import explained_variance
from ppo_jax.core.normalize import (
    init_obs_stats,
    init_reward_norm,
    scale_rewards,
    update_obs_stats,
)
from ppo_jax.core.rollout import bootstrap_values, collect_rollout, env_block
from ppo_jax.core.spec import ExtensionKeywords, Problem, TrainSpec, make_spec, problem_of
from ppo_jax.core.types import Array, Batch, Metrics, PRNGKey, RunnerState, TrainState
from ppo_jax.core.update import (
    init_opt_state,
    learning_rate_at,
    optimizer_chain,
    update_epochs,
)

if TYPE_CHECKING:
    from typing import Unpack

TrainFn = Callable[[PRNGKey, Hyperparams, Any], tuple[TrainState, Metrics]]


def _psum(x: Array, axis_name: str | None) -> Array:
    return x if axis_name is None else jax.lax.psum(x, axis_name)


def _mean_where(values: Array, mask: Array, axis_name: str | None = None) -> Array:
    count = _psum(jnp.sum(mask), axis_name)
    total = _psum(jnp.sum(jnp.where(mask, values, 0.0)), axis_name)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def init_runner(
    spec: TrainSpec,
    env_params: Any,
    hp: Hyperparams,
    key: PRNGKey,
    axis_name: str | None = None,
) -> RunnerState:
    """Fresh parameters, optimiser state and reset environments for one run.

    With ``axis_name`` this device keeps its block of the ``num_envs`` reset environments
    (every device resets all of them once, with the one-device program's keys; the parameters
    are the same on every device).
    """
    config, net = spec.config, spec.network
    init_key, reset_key, key = jax.random.split(key, 3)
    params = net.init(init_key)
    env_carry = env_block(reset_envs(spec.env, env_params, reset_key, config.num_envs), axis_name)
    num_envs = env_carry.first.shape[0]
    env_carry = env_carry._replace(policy_state=net.initial_state(num_envs))
    obs_norm = None
    if config.normalize_observations:
        obs_norm = update_obs_stats(init_obs_stats(net.obs_shape), env_carry.obs, axis_name)
    train_state = TrainState(
        params=params,
        opt_state=init_opt_state(spec, hp, params),
        step=jnp.int32(0),
        obs_norm=obs_norm,
    )
    return RunnerState(
        train_state=train_state,
        env=env_carry,
        key=key,
        reward_norm=init_reward_norm(num_envs),
        evaluation=init_eval_state(spec, params, obs_norm),
    )


def train_state_shapes(params: Any, obs_shape: Any) -> TrainState:
    """Shapes and dtypes of the :class:`TrainState` of one run whose parameters are shaped
    like ``params`` (arrays or ``jax.ShapeDtypeStruct``), with observation statistics of
    ``obs_shape`` (a shape, an :class:`~ppo_jax.core.types.ObsTree`, or ``None``:
    observations not normalised). Needs no environment and no network: a reader rebuilds a
    stored learner state from its parameters' shapes."""
    opt = optimizer_chain(1.0, 1e-5, lambda count: jnp.float32(0.0))

    def fresh(p: Any) -> TrainState:
        stats = None if obs_shape is None else init_obs_stats(obs_shape)
        return TrainState(params=p, opt_state=opt.init(p), step=jnp.int32(0), obs_norm=stats)

    return jax.eval_shape(fresh, params)


def update_step(
    spec: TrainSpec,
    env_params: Any,
    hp: Hyperparams,
    runner: RunnerState,
    axis_name: str | None = None,
) -> tuple[RunnerState, Metrics]:
    """One PPO iteration: collect a rollout, compute targets, run the epochs of updates.

    With ``axis_name`` (inside ``shard_map`` over an environments axis) ``runner.env`` holds
    this device's block of the environments; the rollout's batch is gathered from all devices
    (so each can take its share of every minibatch of the one-device shuffle), the gradient
    steps average over all shards, the statistics and metrics cover all of them, and every
    device ends with the same parameters.
    """
    config = spec.config
    key, rollout_key, epoch_key = jax.random.split(runner.key, 3)
    start_state = runner.env.policy_state
    env_carry, traj = collect_rollout(
        spec, env_params, runner.train_state, runner.env, rollout_key, axis_name
    )
    next_values = bootstrap_values(spec, runner.train_state, traj)
    rewards, reward_norm = traj.reward, runner.reward_norm
    done = traj.terminated | traj.truncated
    if config.normalize_rewards:
        reward_norm, rewards = scale_rewards(
            reward_norm, traj.reward, done, hp.gamma, config.norm_clip, axis_name
        )
    advantages, targets = compute_gae(
        rewards, traj.value, next_values, traj.terminated, traj.truncated, hp.gamma, hp.gae_lambda
    )
    if config.value_target == "reward_to_go":
        targets = compute_reward_to_go(
            rewards, next_values, traj.terminated, traj.truncated, hp.gamma
        )
    batch = Batch(
        obs=traj.obs,
        action=traj.action,
        log_prob=traj.log_prob,
        value=traj.value,
        advantage=advantages,
        target=targets,
        action_mask=traj.action_mask,
    )
    if spec.network.recurrent:  # whole [T, N] sequences and their start states
        batch = batch._replace(first=traj.first, policy_state=start_state)
    else:  # [T * N] transitions (of all devices' environments, in the one-device order)
        if axis_name is not None:
            batch = jax.lax.all_gather(batch, axis_name, axis=1, tiled=True)
        batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)
    train_state, (info, grad_norms) = update_epochs(
        spec, hp, runner.train_state, batch, epoch_key, axis_name
    )
    if train_state.obs_norm is not None:
        # The rollout acted with the old statistics, and the epochs reused them (ratios start
        # at 1); the next rollout uses statistics that include this one's observations.
        train_state = train_state._replace(
            obs_norm=update_obs_stats(train_state.obs_norm, traj.obs, axis_name)
        )
    metrics = Metrics(
        episode_return=_mean_where(traj.completed_return, done, axis_name),
        episode_length=_mean_where(traj.completed_length.astype(jnp.float32), done, axis_name),
        episodes_completed=_psum(jnp.sum(done).astype(jnp.int32), axis_name),
        policy_loss=info.policy_loss.mean(),
        value_loss=info.value_loss.mean(),
        entropy=info.entropy.mean(),
        approx_kl=info.approx_kl.mean(),
        clip_fraction=info.clip_fraction.mean(),
        explained_variance=explained_variance(traj.value, targets, axis_name),
        learning_rate=learning_rate_at(spec, hp, train_state.step - 1),
        grad_norm=grad_norms.mean(),
        env_steps=(train_state.step // (config.update_epochs * config.num_minibatches))
        * config.batch_size,
        custom=custom_metrics(spec, traj, axis_name),
    )
    runner = runner._replace(
        train_state=train_state, env=env_carry, key=key, reward_norm=reward_norm
    )
    return runner, metrics


def env_steps_done(config: StaticConfig, step: Any) -> Any:
    """Env steps of a run whose optimiser took ``step`` steps (``update_epochs *
    num_minibatches`` per update, ``batch_size`` env steps each)."""
    return (step // (config.update_epochs * config.num_minibatches)) * config.batch_size


def custom_metrics(spec: TrainSpec, traj: Any, axis_name: str | None = None) -> dict[str, Array]:
    """``spec.metrics_fn(traj)`` as float32 scalars (averaged over environment shards)."""
    if spec.metrics_fn is None:
        return {}
    out = {
        str(k): jnp.asarray(v, jnp.float32).reshape(())
        for k, v in dict(spec.metrics_fn(traj)).items()
    }
    return out if axis_name is None else jax.lax.pmean(out, axis_name)


def scan_updates(
    spec: TrainSpec,
    env_params: Any,
    hp: Hyperparams,
    runner: RunnerState,
    start: Array,
    length: int,
    stop: Array | None = None,
    axis_name: str | None = None,
) -> tuple[RunnerState, Metrics]:
    """Updates ``start .. start + length - 1`` (``length`` static) in one ``lax.scan``; metrics
    stacked to ``[length]``.

    With a (traced) ``stop``, updates at indices ``>= stop`` are discarded (state unchanged,
    NaN/0 metrics, but ``env_steps`` keeps the run's count), so one compiled range length also
    serves a shorter last range (computing a discarded update costs less than compiling a
    second program, or a ``lax.cond`` in the loop). With ``eval_every`` each update may end
    with an evaluation (:func:`~ppo_jax.core.episodes.evaluate_during_training`); with
    ``stop_at_return`` the updates after a run's stopping evaluation are discarded the same way.
    """
    config = spec.config

    def one_update(r: RunnerState, update: Array) -> tuple[RunnerState, Metrics]:
        new, metrics = update_step(spec, env_params, hp, r, axis_name)
        if not config.eval_every:
            return new, metrics
        new, evaluation = evaluate_during_training(spec, env_params, new, update)
        return new, metrics._replace(evaluation=evaluation)

    stopping = config.stop_at_return is not None
    if stop is None and not stopping:
        return jax.lax.scan(one_update, runner, start + jnp.arange(length, dtype=jnp.int32))

    def body(r: RunnerState, update: Array) -> tuple[RunnerState, Metrics]:
        new, metrics = one_update(r, update)
        keep = jnp.ones((), bool) if stop is None else update < stop
        if r.evaluation is not None:  # a run stopped at an evaluation skips the rest
            keep = keep & ~r.evaluation.stopped
        new = jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, r)
        blank = jax.tree.map(
            lambda m: jnp.where(
                keep, m, jnp.nan if jnp.issubdtype(m.dtype, jnp.floating) else 0
            ).astype(m.dtype),
            metrics,
        )
        # A skipped update logs the env steps its run had taken (never 0): curves and tables
        # of a stopped run end where it stopped.
        steps = jnp.where(keep, metrics.env_steps, env_steps_done(config, r.train_state.step))
        return new, blank._replace(env_steps=steps.astype(metrics.env_steps.dtype))

    return jax.lax.scan(body, runner, start + jnp.arange(length, dtype=jnp.int32))


def make_train(
    config: PPOConfig,
    env: Any = None,
    progress_every: int = 0,
    axis_name: str | None = None,
    *,
    problem: Problem | None = None,
    **keywords: Unpack[ExtensionKeywords],
) -> TrainFn:
    """The pure training function for ``config``: ``train_fn(key, hp, env_params)``.

    The environment is ``env`` (or ``problem.env``), default the one ``config.env_name``
    names. The returned function is jittable and vmappable over ``key`` (seeds), ``hp``
    (sweeps) and ``env_params``; it returns the final :class:`TrainState` and :class:`Metrics`
    stacked over ``[num_updates]``. Traced values are read from ``hp`` only (``config``'s
    traced fields are ignored). ``problem`` (or its parts as keywords: ``network``,
    ``lr_schedule``, ``metrics_fn``, ``env_params``, see :class:`~ppo_jax.core.spec.Problem`):
    the extension points; ``env_params`` only fixes shapes for the network.
    ``progress_every`` must be 0: progress is reported by the drivers of ``ppo_jax.run`` between
    compiled segments, so that programs carry no host callbacks.
    """
    if progress_every:
        raise ValueError(
            "make_train(progress_every=...) is gone: the compiled program has no host "
            "callbacks; ppo_jax.train/train_seeds(progress_every=N) report progress between "
            "segments of N updates"
        )
    parts = problem_of(problem, keywords)
    if env is not None:
        parts = parts._replace(env=env)
    if parts.env is None:
        made, default_params = make_env(config)
        parts = parts._replace(env=made)
    else:
        default_params = parts.env.default_params
    if parts.env_params is None:
        parts = parts._replace(env_params=default_params)
    return train_function(make_spec(config, parts), axis_name)


def train_function(spec: TrainSpec, axis_name: str | None = None) -> TrainFn:
    """``train_fn(key, hp, env_params)`` of a :class:`TrainSpec`: init, then every update."""

    def train_fn(key: PRNGKey, hp: Hyperparams, env_params: Any) -> tuple[TrainState, Metrics]:
        runner = init_runner(spec, env_params, hp, key, axis_name)
        runner, metrics = scan_updates(
            spec, env_params, hp, runner, jnp.int32(0), spec.config.num_updates, None, axis_name
        )
        return runner.train_state, metrics

    return train_fn
