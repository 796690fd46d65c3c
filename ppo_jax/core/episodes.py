"""Evaluation episodes, pure and jittable: used by ``ppo_jax.evaluate`` after training and by
the training program itself every ``PPOConfig.eval_every`` updates.

:func:`run_episodes` plays ``num_episodes`` episodes in parallel on environment instances of
their own (their own reset and step keys), each to its first termination or truncation, or
until the step budget ends it (counted as cut). :func:`evaluate_during_training` wraps it for
the update loop: the NaN convention of the metrics (finite at evaluation updates only), the
best parameters seen so far (the "absolute metric" re-evaluates them) and the early stop at a
target return.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ppo_jax.core.distributions import dist_mode, dist_sample
from ppo_jax.core.envs import action_masks, is_batched_env, step_no_reset, to_env_action
from ppo_jax.core.spec import TrainSpec
from ppo_jax.core.types import (
    EVAL_METRIC_NAMES,
    Array,
    EvalState,
    Params,
    PRNGKey,
    RunnerState,
    RunningStats,
)

EVAL_STREAM = 0x45564C
"""``fold_in`` constant of the evaluation keys: they come from the run's key after an update
without consuming it, so evaluating never changes what training does."""
DEFAULT_EVAL_STEPS = 1000
"""Step budget of an evaluation episode when the environment states no time limit."""


class Episodes(NamedTuple):
    """What :func:`run_episodes` returns; each ``[num_episodes]``."""

    returns: Array
    lengths: Array
    """Steps played (the budget for an episode it cut)."""
    cut: Array
    """True where the step budget ended the episode before it terminated or truncated."""


class _EvalCarry(NamedTuple):
    env_state: Any
    obs: Array
    policy_state: Any
    ret: Array
    length: Array
    active: Array
    key: PRNGKey
    t: Array


def run_episodes(
    spec: TrainSpec,
    env_params: Any,
    params: Params,
    obs_norm: RunningStats | None,
    key: PRNGKey,
    num_episodes: int,
    max_steps: int,
    greedy: bool,
) -> Episodes:
    """Play ``num_episodes`` episodes in parallel, each to its first end, for at most
    ``max_steps`` steps (a ``lax.while_loop`` that stops once every episode has ended). A
    recurrent policy carries its state through each episode; masked actions are never taken."""
    env, net = spec.env, spec.network
    reset_key, key = jax.random.split(key)
    batched = is_batched_env(env)  # EnvPool: a pool of num_episodes environments of its own
    if batched:
        # Seed-batched params (vmap) share the key: tie it to the params (its value unchanged)
        # so that the pool of all runs' environments is reset, not one pool broadcast.
        leaf = jax.tree.leaves(params)[0].ravel()[0]
        tied = reset_key ^ (jnp.isnan(leaf) & False).astype(reset_key.dtype)
        obs, env_state = env.reset_batch(tied, num_episodes, env_params)
    else:
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(reset_key, num_episodes), env_params
        )
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    carry = _EvalCarry(
        env_state,
        obs,
        net.initial_state(num_episodes),
        zeros,
        zeros.astype(jnp.int32),
        jnp.ones((num_episodes,), bool),
        key,
        jnp.int32(0),
    )
    never = jnp.zeros((num_episodes,), bool)
    # Each episode stops at its first end, so a suite adapter need not reset (Craftax's reset
    # generates a world); other environments reset themselves in ``step`` (ignored here).
    stepper = step_no_reset(env)

    def body(c: _EvalCarry) -> _EvalCarry:
        key, act_key, step_key = jax.random.split(c.key, 3)
        mask = action_masks(env, env_params, c.env_state)
        if net.recurrent:
            policy_state, dist, _value = net.step(
                params, c.policy_state, c.obs, never, obs_norm, mask
            )
        else:
            policy_state = c.policy_state
            dist = net.apply(params, c.obs, obs_norm, mask)[0]
        action = dist_mode(dist) if greedy else dist_sample(act_key, dist)
        obs, env_state, reward, terminated, truncated = stepper(
            step_key if batched else jax.random.split(step_key, num_episodes),
            c.env_state,
            to_env_action(env, env_params, net.env_action(dist, action)),
            env_params,
        )
        reward = jnp.asarray(reward, jnp.float32).reshape(num_episodes)
        ret = c.ret + jnp.where(c.active, reward, 0.0)
        length = c.length + c.active.astype(jnp.int32)
        ended = (jnp.asarray(terminated) | jnp.asarray(truncated)).reshape(num_episodes)
        active = c.active & ~ended
        return _EvalCarry(env_state, obs, policy_state, ret, length, active, key, c.t + 1)

    def going(c: _EvalCarry) -> Array:
        return (c.t < max_steps) & jnp.any(c.active)

    carry = jax.lax.while_loop(going, body, carry)
    return Episodes(returns=carry.ret, lengths=carry.length, cut=carry.active)


def eval_steps(spec: TrainSpec) -> int:
    """Step budget of an evaluation episode during training: ``PPOConfig.eval_max_steps``,
    else the environment's ``max_steps_in_episode``, else ``DEFAULT_EVAL_STEPS``."""
    if spec.config.eval_max_steps:
        return int(spec.config.eval_max_steps)
    default = getattr(spec.env, "default_params", None)
    return int(getattr(default, "max_steps_in_episode", DEFAULT_EVAL_STEPS))


def init_eval_state(spec: TrainSpec, params: Params, obs_norm: RunningStats | None) -> EvalState:
    """The evaluation carry of a fresh run (``None`` when ``eval_every`` is 0): no best yet
    (return ``-inf``, update -1), the initial parameters as a placeholder, not stopped."""
    if not spec.config.eval_every:
        return None  # type: ignore[return-value]
    return EvalState(
        best_params=params,
        best_obs_norm=obs_norm,
        best_return=jnp.float32(-jnp.inf),
        best_update=jnp.int32(-1),
        stopped=jnp.zeros((), bool),
    )


def evaluation_due(spec: TrainSpec, update: Array) -> Array:
    """Whether update ``update`` (0-based) ends with an evaluation: every ``eval_every``
    updates, and after the last one."""
    config = spec.config
    done = update + 1
    return (done % config.eval_every == 0) | (done == config.num_updates)


def evaluate_during_training(
    spec: TrainSpec, env_params: Any, runner: RunnerState, update: Array
) -> tuple[RunnerState, dict[str, Array]]:
    """After update ``update``: when due (:func:`evaluation_due`; a ``lax.cond`` on the
    unbatched update index, so the other updates pay nothing), ``eval_episodes`` episodes of
    the current policy; the best parameters so far and the stop flag
    (``stop_at_return``) updated. Returns the runner and the ``EVAL_METRIC_NAMES`` metrics
    (NaN when no evaluation was due)."""
    config = spec.config
    state = runner.evaluation
    if state is None:
        raise ValueError("evaluate_during_training needs a runner made with eval_every > 0")
    budget = eval_steps(spec)

    def evaluate(_: None) -> tuple[EvalState, dict[str, Array]]:
        ts = runner.train_state
        key = jax.random.fold_in(runner.key, EVAL_STREAM)
        episodes = run_episodes(
            spec,
            env_params,
            ts.params,
            ts.obs_norm,
            key,
            config.eval_episodes,
            budget,
            config.eval_greedy,
        )
        mean = episodes.returns.mean()
        better = mean > state.best_return
        target = config.stop_at_return
        reached = jnp.zeros((), bool) if target is None else mean >= target
        new = EvalState(
            best_params=jax.tree.map(
                lambda a, b: jnp.where(better, a, b), ts.params, state.best_params
            ),
            best_obs_norm=jax.tree.map(
                lambda a, b: jnp.where(better, a, b), ts.obs_norm, state.best_obs_norm
            ),
            best_return=jnp.where(better, mean, state.best_return),
            best_update=jnp.where(better, update, state.best_update),
            stopped=state.stopped | reached,
        )
        metrics = {
            "eval_return": mean,
            "eval_length": episodes.lengths.astype(jnp.float32).mean(),
            "eval_truncated": episodes.cut.astype(jnp.float32).sum(),
        }
        return new, metrics

    def skip(_: None) -> tuple[EvalState, dict[str, Array]]:
        return state, {name: jnp.float32(jnp.nan) for name in EVAL_METRIC_NAMES}

    new_state, metrics = jax.lax.cond(evaluation_due(spec, update), evaluate, skip, None)
    return runner._replace(evaluation=new_state), metrics
