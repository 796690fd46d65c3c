"""Policy evaluation (pure, jitted) and export of a trained policy as a plain function."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax import xla
from ppo_jax.config import PPOConfig
from ppo_jax.envs import action_spec, env_spec, make_env, to_env_action
from ppo_jax.networks import (
    action_distribution,
    dist_mode,
    dist_sample,
    is_continuous,
    policy_logits,
)
from ppo_jax.types import Array, Params, PRNGKey


class EvalResult(NamedTuple):
    """Returns and lengths of ``num_episodes`` complete episodes, each ``[num_episodes]``."""

    returns: Array
    lengths: Array


class _EvalCarry(NamedTuple):
    env_state: Any
    obs: Array
    ret: Array
    length: Array
    active: Array
    key: PRNGKey


def _select_action(
    config: PPOConfig, params: Params, obs: Array, key: PRNGKey, greedy: bool
) -> Array:
    """Policy action for ``obs`` (not yet clipped to a ``Box``'s bounds)."""
    dist = action_distribution(config, params, obs)
    return dist_mode(dist) if greedy else dist_sample(key, dist)


def run_episodes(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    params: Params,
    key: PRNGKey,
    num_episodes: int,
    max_steps: int,
    greedy: bool,
) -> EvalResult:
    """Play ``num_episodes`` episodes in parallel, each to its first end (or ``max_steps``)."""
    reset_key, key = jax.random.split(key)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, num_episodes), env_params
    )
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    carry = _EvalCarry(
        env_state, obs, zeros, zeros.astype(jnp.int32), jnp.ones((num_episodes,), bool), key
    )

    def body(c: _EvalCarry, _: None) -> tuple[_EvalCarry, None]:
        key, act_key, step_key = jax.random.split(c.key, 3)
        action = to_env_action(
            env, env_params, _select_action(config, params, c.obs, act_key, greedy)
        )
        obs, env_state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(step_key, num_episodes), c.env_state, action, env_params)
        ret = c.ret + jnp.where(c.active, reward.astype(jnp.float32), 0.0)
        length = c.length + c.active.astype(jnp.int32)
        active = c.active & ~(terminated | truncated)
        return _EvalCarry(env_state, obs, ret, length, active, key), None

    carry, _ = jax.lax.scan(body, carry, None, length=max_steps)
    return EvalResult(returns=carry.ret, lengths=carry.length)


@functools.lru_cache(maxsize=16)
def _jitted_eval(
    config: PPOConfig, env: Any, num_episodes: int, max_steps: int, greedy: bool
) -> Any:
    env_obj = env if env is not None else make_env(config)[0]

    def fn(params: Params, key: PRNGKey, env_params: Any) -> EvalResult:
        return run_episodes(
            config, env_obj, env_params, params, key, num_episodes, max_steps, greedy
        )

    return xla.jit(fn)


def evaluate(
    config: PPOConfig,
    params: Params,
    key: Any,
    num_episodes: int,
    greedy: bool = True,
    *,
    env: Any = None,
    env_params: Any = None,
    max_steps: int | None = None,
) -> EvalResult:
    """Returns of ``num_episodes`` episodes of the trained policy (one compiled call).

    ``greedy`` takes the most probable action; otherwise actions are sampled. Episodes run to
    their first termination or truncation; ``max_steps`` (default: the environment's
    ``max_steps_in_episode``) bounds the loop.
    """
    from ppo_jax.train import _check_config, _check_key, _resolve_env

    config = _check_config(config)
    key = _check_key(key)
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an int >= 1, got {num_episodes!r}")
    cache_env, params_env = _resolve_env(config, env, env_params)
    if max_steps is None:
        max_steps = int(getattr(params_env, "max_steps_in_episode", 1000))
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    env_obj = cache_env if cache_env is not None else make_env(config)[0]
    check_params_fit(config, params, env_obj, params_env)
    fn = _jitted_eval(config, cache_env, num_episodes, max_steps, bool(greedy))
    return fn(params, key, params_env)


def check_params_fit(config: PPOConfig, params: Params, env: Any, env_params: Any) -> None:
    """``ValueError`` unless ``params`` take ``env``'s observations and produce its actions."""
    obs_shape, action_size = env_spec(env, env_params)
    spec = action_spec(env, env_params)
    try:
        out = jax.eval_shape(
            lambda o: policy_logits(config, params, o), jax.ShapeDtypeStruct(obs_shape, jnp.float32)
        )
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"params do not take the environment's observations of shape {obs_shape}: {err}"
        ) from None
    if out.shape[-1:] != (action_size,) or is_continuous(params) != spec.continuous:
        kind = "continuous" if spec.continuous else "discrete"
        raise ValueError(
            f"params give {out.shape[-1]} {'continuous' if is_continuous(params) else 'discrete'} "
            f"action output(s); the environment has {action_size} {kind} action(s)"
        )


def export_policy(
    config: PPOConfig, params: Params, *, greedy: bool = True, seed: int = 0
) -> Callable[[Any], Any]:
    """A plain function ``numpy observation -> action``, e.g. for a gymnasium environment loop.

    Discrete actions: an int for one observation, an int array for a batch. Continuous actions:
    a float32 array ``[A]`` (or ``[batch, A]``) clipped to the environment's bounds. Observation
    normalisation saved in ``params`` is applied. Greedy takes the most probable action (the
    Gaussian mean); with ``greedy=False`` actions are sampled from a generator seeded with
    ``seed``. Compiled once per input shape.
    """
    params = jax.device_get(params)
    env, env_params = make_env(config)
    check_params_fit(config, params, env, env_params)
    continuous = is_continuous(params)
    dist_fn = xla.jit(lambda obs: action_distribution(config, params, obs))
    bound_fn = xla.jit(lambda a: to_env_action(env, env_params, a))
    rng = np.random.default_rng(seed)

    def act(obs: Any) -> Any:
        dist = dist_fn(np.asarray(obs, np.float32))
        if continuous:
            mean = np.asarray(dist.mean, np.float64)
            if not greedy:
                std = np.exp(np.asarray(dist.log_std, np.float64))
                mean = mean + std * rng.standard_normal(mean.shape)
            return np.asarray(bound_fn(mean.astype(np.float32)))
        logits = np.asarray(dist.logits, np.float64)
        if greedy:
            out = np.argmax(logits, axis=-1)
        else:
            probs = np.exp(logits - logits.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            flat = probs.reshape(-1, probs.shape[-1])
            out = np.array([rng.choice(len(p), p=p) for p in flat]).reshape(probs.shape[:-1])
        return int(out) if out.ndim == 0 else out

    return act


RENDERABLE_ENVS = (
    "CartPole-v1",
    "Acrobot-v1",
    "Pendulum-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Catch-bsuite",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "Seaquest-MinAtar",
    "SpaceInvaders-MinAtar",
    "Pong-misc",
    "PointRobot-misc",
    "MetaMaze-misc",
    "FourRooms-misc",
)
"""Environments gymnax's ``Visualizer`` can draw."""


def record_episode(
    config: PPOConfig,
    params: Params,
    key: Any,
    *,
    max_steps: int,
    greedy: bool = True,
    env: Any = None,
    env_params: Any = None,
) -> tuple[list[Any], list[float]]:
    """One episode of the policy as ``(states, cumulative_returns)`` (pre-reset states, at most
    ``max_steps``), for rendering with gymnax's ``Visualizer``."""
    from ppo_jax.train import _check_key

    env_obj, default_params = (env, env.default_params) if env is not None else make_env(config)
    env_params = default_params if env_params is None else env_params
    key = _check_key(key)
    key, reset_key = jax.random.split(key)
    obs, state = env_obj.reset(reset_key, env_params)

    @xla.jit
    def step(k: PRNGKey, s: Any, o: Array) -> Any:
        act_key, step_key = jax.random.split(k)
        action = to_env_action(
            env_obj, env_params, _select_action(config, params, o, act_key, greedy)
        )
        return env_obj.step(step_key, s, action, env_params)

    states, returns, total = [state], [0.0], 0.0
    for _ in range(max_steps):
        key, sub = jax.random.split(key)
        obs, next_state, reward, terminated, truncated, _ = step(sub, state, obs)
        total += float(reward)
        if bool(terminated) or bool(truncated):
            returns.append(total)
            break
        state = next_state
        states.append(state)
        returns.append(total)
    return states, returns[: len(states)]
