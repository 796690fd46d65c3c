"""gymnax environments: construction, checks, and vmapped reset/step with episode bookkeeping.

Uses the gymnax >= 1.0 contract: ``env.step`` returns
``(obs, state, reward, terminated, truncated, info)``, resets automatically where
``terminated | truncated``, and keeps the pre-reset observation in ``info["final_observation"]``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ppo_jax.config import PPOConfig
from ppo_jax.types import Array, EnvCarry, EpisodeStats, PRNGKey


def make_env(config: PPOConfig) -> tuple[Any, Any]:
    """``(env, env_params)`` for ``config.env_name`` via ``gymnax.make``."""
    import gymnax

    env, env_params = gymnax.make(config.env_name, **dict(config.env_kwargs))
    return env, env_params


class ActionSpec(NamedTuple):
    """What the policy must produce for an environment."""

    continuous: bool
    """``False``: ``spaces.Discrete`` (categorical policy); ``True``: ``spaces.Box`` (Gaussian)."""
    size: int
    """Number of discrete actions, or the dimension of a continuous action."""


def _check_env(env: Any) -> None:
    for attr in ("reset", "step", "action_space", "observation_space"):
        if not hasattr(env, attr):
            raise TypeError(f"env must be a gymnax Environment (missing .{attr}), got {env!r}")


def action_spec(env: Any, env_params: Any) -> ActionSpec:
    """:class:`ActionSpec` of a gymnax environment.

    Raises ``TypeError`` if the object is not a gymnax environment, ``ValueError`` if its action
    space is neither ``Discrete`` nor a 1-D ``Box``.
    """
    from gymnax.environments import spaces

    _check_env(env)
    space = env.action_space(env_params)
    if isinstance(space, spaces.Discrete):
        return ActionSpec(continuous=False, size=int(space.n))
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        return ActionSpec(continuous=True, size=int(space.shape[0]))
    raise ValueError(
        f"env {getattr(env, 'name', env)!r} has action space {space!r}; ppo_jax handles "
        "gymnax spaces.Discrete and 1-D spaces.Box action spaces"
    )


def env_spec(env: Any, env_params: Any) -> tuple[tuple[int, ...], int]:
    """``(obs_shape, action_size)``: ``action_size`` is the number of discrete actions or the
    dimension of a continuous action (see :func:`action_spec`, which also raises here)."""
    size = action_spec(env, env_params).size
    obs_shape = tuple(int(d) for d in env.observation_space(env_params).shape)
    return obs_shape, size


def to_env_action(env: Any, env_params: Any, action: Array) -> Array:
    """The action handed to ``env.step``: continuous actions clipped to the ``Box`` bounds
    (``[..., A]``); discrete actions unchanged."""
    from gymnax.environments import spaces

    space = env.action_space(env_params)
    if isinstance(space, spaces.Box):
        return jnp.clip(action, space.low, space.high).astype(space.dtype)
    return action


def reset_envs(env: Any, env_params: Any, key: PRNGKey, num_envs: int) -> EnvCarry:
    """Reset ``num_envs`` independent environments; returns the rollout carry (leading ``[N]``)."""
    keys = jax.random.split(key, num_envs)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
    zeros = jnp.zeros((num_envs,), jnp.float32)
    stats = EpisodeStats(episode_return=zeros, episode_length=jnp.zeros((num_envs,), jnp.int32))
    return EnvCarry(env_state=env_state, obs=obs, stats=stats)


def step_envs(
    env: Any, env_params: Any, key: PRNGKey, carry: EnvCarry, action: Array
) -> tuple[EnvCarry, dict[str, Array]]:
    """Step every environment once with ``action [N]`` (or ``[N, A]``, already within bounds).

    Returns the new carry and a dict of ``[N]`` arrays: ``reward``, ``terminated``, ``truncated``,
    ``final_obs`` ``[N, *obs_shape]``, ``completed_return`` and ``completed_length`` (the return
    and length of the episode that ended at this step, 0 where none ended).
    """
    keys = jax.random.split(key, action.shape[0])
    obs, env_state, reward, terminated, truncated, info = jax.vmap(
        env.step, in_axes=(0, 0, 0, None)
    )(keys, carry.env_state, action, env_params)
    reward = reward.astype(jnp.float32)
    terminated = jnp.asarray(terminated, bool)
    truncated = jnp.asarray(truncated, bool) & ~terminated
    done = terminated | truncated
    ep_return = carry.stats.episode_return + reward
    ep_length = carry.stats.episode_length + 1
    out = {
        "reward": reward,
        "terminated": terminated,
        "truncated": truncated,
        "final_obs": info["final_observation"],
        "completed_return": jnp.where(done, ep_return, 0.0),
        "completed_length": jnp.where(done, ep_length, 0),
    }
    stats = EpisodeStats(
        episode_return=jnp.where(done, 0.0, ep_return),
        episode_length=jnp.where(done, 0, ep_length),
    )
    return EnvCarry(env_state=env_state, obs=obs, stats=stats), out
