"""Tiny gymnax environments with known values, for tests."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class CounterState(environment.EnvState):
    time: int


@struct.dataclass
class CounterParams(environment.EnvParams):
    max_steps_in_episode: int = 10
    terminate: bool = False
    show_time: bool = False


class ConstantRewardEnv(environment.Environment):
    """Reward 1 every step, 2 actions that do nothing.

    With ``terminate=False`` the episode never terminates and is truncated after
    ``max_steps_in_episode`` steps: the true (untruncated) value of every state is
    ``1 / (1 - gamma)``. With ``terminate=True`` every episode terminates after one step: the
    value is 1. The observation is the constant ``[1.0]`` (or, with ``show_time``, the step count).
    """

    @property
    def default_params(self) -> CounterParams:
        return CounterParams()

    def step_env(self, key: Any, state: CounterState, action: Any, params: CounterParams):
        new_state = CounterState(time=state.time + 1)
        terminated = jnp.asarray(params.terminate, bool)
        obs = self.get_obs(new_state, params)
        return obs, new_state, jnp.float32(1.0), terminated, {}

    def reset_env(self, key: Any, params: CounterParams):
        state = CounterState(time=0)
        return self.get_obs(state, params), state

    def get_obs(self, state: CounterState, params: CounterParams | None = None, key=None):
        show = False if params is None else params.show_time
        return jnp.where(show, jnp.float32(state.time), jnp.float32(1.0))[None]

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(0.0, 1e6, (1,), jnp.float32)


class ContinuousActionEnv(ConstantRewardEnv):
    """Same as :class:`ConstantRewardEnv` but with a 1-D Box action space (Gaussian policy)."""

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


class MatrixActionEnv(ConstantRewardEnv):
    """Same as :class:`ConstantRewardEnv` but with a 2-D Box action space (unsupported)."""

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2, 2), jnp.float32)


def constant_obs_value(env_params: CounterParams, gamma: float) -> float:
    """The true value of the constant observation."""
    return 1.0 if env_params.terminate else 1.0 / (1.0 - gamma)


@struct.dataclass
class BitState(environment.EnvState):
    time: int
    bit: jax.Array


class MatchBitEnv(environment.Environment):
    """One-step episodes: the observation shows a random bit (one-hot); reward 1 if the action
    equals the bit, else 0. An optimal policy earns 1 per episode; a random one 0.5."""

    @property
    def default_params(self) -> environment.EnvParams:
        return environment.EnvParams(max_steps_in_episode=1)

    def step_env(self, key: Any, state: BitState, action: Any, params: Any):
        reward = (action == state.bit).astype(jnp.float32)
        new_state = BitState(time=state.time + 1, bit=state.bit)
        return self.get_obs(new_state), new_state, reward, jnp.array(True), {}

    def reset_env(self, key: Any, params: Any):
        state = BitState(time=0, bit=jax.random.bernoulli(key).astype(jnp.int32))
        return self.get_obs(state), state

    def get_obs(self, state: BitState, params: Any = None, key: Any = None):
        return jax.nn.one_hot(state.bit, 2)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: Any) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)


@struct.dataclass
class TargetState(environment.EnvState):
    time: int
    target: jax.Array


class TargetActionEnv(environment.Environment):
    """One-step episodes with a continuous action in ``[-1, 1]``: the observation is a target
    ``t ~ U(-0.5, 0.5)`` and the reward ``-(a - t)^2`` for the (clipped) action ``a``. The
    optimal policy returns 0 per episode; the mean action of a policy that ignores ``t`` earns
    about ``-1/12``, and a Gaussian with std 1 about ``-0.7``."""

    @property
    def default_params(self) -> environment.EnvParams:
        return environment.EnvParams(max_steps_in_episode=1)

    def step_env(self, key: Any, state: TargetState, action: Any, params: Any):
        reward = -jnp.square(action[0] - state.target)
        new_state = TargetState(time=state.time + 1, target=state.target)
        return self.get_obs(new_state), new_state, reward, jnp.array(True), {"action": action}

    def reset_env(self, key: Any, params: Any):
        state = TargetState(time=0, target=jax.random.uniform(key, (), minval=-0.5, maxval=0.5))
        return self.get_obs(state), state

    def get_obs(self, state: TargetState, params: Any = None, key: Any = None):
        return state.target[None]

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def observation_space(self, params: Any) -> spaces.Box:
        return spaces.Box(-0.5, 0.5, (1,), jnp.float32)


@struct.dataclass
class MaskState(environment.EnvState):
    time: int
    mask: jax.Array


class MaskedChoiceEnv(environment.Environment):
    """Legal-action masks: 4 actions paying ``[0.2, 0.5, 1.0, 5.0]``. Action 3 pays most and is
    never legal; action 2 is legal only when the observed bit is 1. The masked optimum: action
    2 when the bit is 1, else action 1 (expected reward 0.75 per step). Episodes last
    ``max_steps_in_episode`` steps."""

    PAYOFF = (0.2, 0.5, 1.0, 5.0)

    @property
    def default_params(self) -> CounterParams:
        return CounterParams(max_steps_in_episode=8)

    def _draw(self, key: Any) -> jax.Array:
        bit = jax.random.bernoulli(key)
        return jnp.array([True, True, bit, False])

    def step_env(self, key: Any, state: MaskState, action: Any, params: CounterParams):
        reward = jnp.asarray(self.PAYOFF, jnp.float32)[action]
        new_state = MaskState(time=state.time + 1, mask=self._draw(key))
        return self.get_obs(new_state), new_state, reward, jnp.array(False), {}

    def reset_env(self, key: Any, params: CounterParams):
        state = MaskState(time=0, mask=self._draw(key))
        return self.get_obs(state), state

    def get_obs(self, state: MaskState, params: Any = None, key: Any = None):
        return state.mask[2:3].astype(jnp.float32)

    def action_mask(self, state: MaskState, params: Any = None) -> jax.Array:
        return state.mask

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(4)

    def observation_space(self, params: Any) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)


class DictMaskEnv(MaskedChoiceEnv):
    """:class:`MaskedChoiceEnv` with Jumanji-style observations: a dict holding the mask."""

    def get_obs(self, state: MaskState, params: Any = None, key: Any = None):
        return {"bit": state.mask[2:3].astype(jnp.float32), "action_mask": state.mask}


class NaNAfter(ConstantRewardEnv):
    """Reward turns NaN once an episode reaches step 5: the value loss becomes NaN."""

    def step_env(self, key, state, action, params):
        obs, new_state, reward, terminated, info = super().step_env(key, state, action, params)
        return (
            obs,
            new_state,
            jax.numpy.where(new_state.time >= 5, jax.numpy.nan, reward),
            terminated,
            info,
        )


# Targets of ``module:attribute`` environment names (``probe_envs:CONSTANT``, ...).
CONSTANT = ConstantRewardEnv()


def make_constant(max_steps: int = 5) -> tuple[ConstantRewardEnv, CounterParams]:
    """A factory returning ``(env, env_params)``; ``env_kwargs`` reach it."""
    return ConstantRewardEnv(), CounterParams(max_steps_in_episode=max_steps)


def make_match_bit() -> MatchBitEnv:
    """A factory returning an environment."""
    return MatchBitEnv()


NOT_AN_ENV = 42


__all__ = [
    "CONSTANT",
    "ConstantRewardEnv",
    "ContinuousActionEnv",
    "CounterParams",
    "DictMaskEnv",
    "MaskedChoiceEnv",
    "MatchBitEnv",
    "MatrixActionEnv",
    "NaNAfter",
    "TargetActionEnv",
    "constant_obs_value",
    "make_constant",
    "make_match_bit",
]
