"""A custom gymnax environment, to train with ppo_jax from Python and from the command line.

    ppo-jax train --env examples.corridor:Corridor --total-timesteps 65536

``Corridor``: the agent starts at the left end of a corridor of ``length`` cells and moves left
or right; reaching the right end pays 1 and ends the episode (termination); every step costs
0.01; after ``max_steps_in_episode`` steps the episode is cut (truncation). The observation is
the position, one-hot. The best return is ``1 - 0.01 * (length - 1)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class CorridorState(environment.EnvState):
    position: jax.Array
    time: int


@struct.dataclass
class CorridorParams(environment.EnvParams):
    length: int = 8
    max_steps_in_episode: int = 50


class Corridor(environment.Environment):
    """Walk right to the end of a corridor (see the module's documentation)."""

    @property
    def default_params(self) -> CorridorParams:
        return CorridorParams()

    def step_env(self, key: Any, state: CorridorState, action: Any, params: CorridorParams):
        move = jnp.where(action == 1, 1, -1)
        position = jnp.clip(state.position + move, 0, params.length - 1)
        at_end = position == params.length - 1
        reward = jnp.where(at_end, 1.0, 0.0) - 0.01
        new_state = CorridorState(position=position, time=state.time + 1)
        return self.get_obs(new_state, params), new_state, reward, at_end, {}

    def reset_env(self, key: Any, params: CorridorParams):
        state = CorridorState(position=jnp.int32(0), time=0)
        return self.get_obs(state, params), state

    def get_obs(self, state: CorridorState, params: Any = None, key: Any = None) -> jax.Array:
        params = self.default_params if params is None else params
        return jax.nn.one_hot(state.position, 8)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: Any) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (8,), jnp.float32)


def best_return(params: CorridorParams | None = None) -> float:
    """The return of walking straight to the end."""
    params = params or CorridorParams()
    return 1.0 - 0.01 * (params.length - 1)
