"""The smallest environment that shows the whole contract ppo_jax relies on (gymnax >= 1.0).

    ppo-jax train --env examples.minimal_env:CopyBit --total-timesteps 32768

``CopyBit``: every step shows a random bit, one-hot; saying it (action = the bit) pays 1,
saying the other bit ends the episode (a termination: no bootstrap); after
``max_steps_in_episode`` steps the episode is cut (a truncation: bootstrapped from the value of
the final observation). The best return is ``max_steps_in_episode`` (8).

What each method must do is written beside it; docs/guides/environments.md states the contract
and tests/integration/test_minimal_env.py checks it (tests/learning/test_minimal_env_learned.py:
that PPO learns it).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class CopyBitState(environment.EnvState):
    """An immutable pytree; ``time`` (inherited) counts the steps of the episode."""

    bit: jax.Array


@struct.dataclass
class CopyBitParams(environment.EnvParams):
    """``max_steps_in_episode``: the time limit (``time >= max_steps_in_episode`` truncates)."""

    max_steps_in_episode: int = 8


class CopyBit(environment.Environment):
    """Say the bit you see (see the module's documentation)."""

    @property
    def default_params(self) -> CopyBitParams:
        return CopyBitParams()

    def reset_env(self, key: Any, params: CopyBitParams) -> tuple[jax.Array, CopyBitState]:
        """``(obs, state)`` of a fresh episode, ``time`` 0."""
        state = CopyBitState(time=0, bit=jax.random.bernoulli(key).astype(jnp.int32))
        return self.get_obs(state), state

    def step_env(
        self, key: Any, state: CopyBitState, action: Any, params: CopyBitParams
    ) -> tuple[jax.Array, CopyBitState, jax.Array, jax.Array, dict[str, Any]]:
        """One step without reset: ``(obs, state, reward, terminated, info)``. It must advance
        ``time``: gymnax's ``step`` truncates where ``time >= max_steps_in_episode``."""
        right = action == state.bit
        new_state = CopyBitState(
            time=state.time + 1, bit=jax.random.bernoulli(key).astype(jnp.int32)
        )
        reward = right.astype(jnp.float32)
        return self.get_obs(new_state), new_state, reward, jnp.logical_not(right), {}

    def get_obs(self, state: CopyBitState, params: Any = None, key: Any = None) -> jax.Array:
        return jax.nn.one_hot(state.bit, 2)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)
