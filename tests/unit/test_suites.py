"""ppo_jax.core.suites: each suite's episode ends reach ppo_jax as terminated or truncated as the
suite itself defines them, with the pre-reset observation kept and a fresh episode started in the
same step. The oracle of each check is the suite's own definition (a time limit reached, a goal
reward, a pole angle past Brax's threshold), read from a rollout of random actions."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig
from ppo_jax.core import suites
from ppo_jax.core.envs import (
    action_masks,
    env_spec,
    make_env,
    reset_envs,
    reset_pool_size,
    step_envs,
)
from ppo_jax.core.suites import SUITE_MODULES, SuiteEnv, make_suite_env
from ppo_jax.core.types import ActionSpec, CompositeAction


def needs(prefix: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(SUITE_MODULES[prefix]) is None,
        reason=f'the {prefix} extra is not installed (pip install -e ".[{prefix}]")',
    )


def rollout(
    name: str, kwargs: dict, steps: int, num_envs: int = 8, seed: int = 0, masked: bool = True
) -> dict:
    """``steps`` vmapped steps of random (``masked``: legal) actions; ``[T, N]``
    arrays of what ``step_envs`` returns, plus the observations seen after each step."""
    config = PPOConfig(env_name=name, env_kwargs=tuple(kwargs.items()))
    env, params = make_env(config)
    _, action = env_spec(env, params)

    def run(key: jax.Array) -> dict:
        carry = reset_envs(env, params, key, num_envs)

        def body(carry, k):
            k_act, k_env = jax.random.split(k)
            if action.continuous:
                a = jax.random.uniform(k_act, (num_envs, action.size), minval=-1.0, maxval=1.0)
            else:
                mask = action_masks(env, params, carry.env_state)
                logits = jnp.zeros((num_envs, action.size))
                if mask is not None and masked:
                    logits = jnp.where(mask, logits, -jnp.inf)
                a = jax.random.categorical(k_act, logits)
            carry, out = step_envs(env, params, k_env, carry, a)
            return carry, {**out, "obs": carry.obs}

        return jax.lax.scan(body, carry, jax.random.split(key, steps))[1]

    return jax.tree.map(np.asarray, jax.jit(run)(jax.random.key(seed)))


def check_episode_ends(out: dict, limit: int) -> None:
    """Truncation happens exactly at the time limit, termination before it, never both; the
    observation after an episode end is a fresh one (not the final one)."""
    term, trunc, length = out["terminated"], out["truncated"], out["completed_length"]
    assert not np.any(term & trunc)
    assert np.all(length[trunc] == limit), length[trunc]
    assert np.all(length[term] <= limit)
    done = term | trunc
    assert done.any(), "no episode ended: the check says nothing"
    final = out["final_obs"][done].reshape(done.sum(), -1)
    after = out["obs"][done].reshape(done.sum(), -1)
    assert not np.allclose(final, after)


# ------------------------------------------------------------------ dispatch and errors
def test_a_missing_extra_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        suites.importlib.util, "find_spec", lambda m, *a: None if m == "brax" else real(m, *a)
    )
    with pytest.raises(ValueError, match=r'pip install "ppo-jax\[brax\]"') as err:
        make_suite_env("brax:ant", {})
    assert "\n" not in str(err.value)


def test_an_unknown_suite_is_refused():
    with pytest.raises(ValueError, match="unknown suite"):
        make_suite_env("gym:CartPole-v1", {})


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        pytest.param("navix:Nope-v0", "Navix-Empty-5x5-v0", marks=needs("navix")),
        pytest.param("jumanji:Nope-v0", "Snake-v1", marks=needs("jumanji")),
        pytest.param("xminigrid:Nope", "MiniGrid-Empty-5x5", marks=needs("xminigrid")),
        pytest.param("craftax:Nope-v1", "Craftax-Classic-Symbolic-v1", marks=needs("craftax")),
        pytest.param("brax:nope", "inverted_pendulum", marks=needs("brax")),
    ],
)
def test_an_unknown_id_lists_the_suites_environments(name, allowed):
    with pytest.raises(ValueError, match=allowed) as err:
        make_env(PPOConfig(env_name=name))
    assert name in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        pytest.param("navix:Navix-Empty-5x5-v0", {"colour": 3}, "colour", marks=needs("navix")),
        pytest.param(
            "craftax:Craftax-Classic-Symbolic-v1", {"lives": 3}, "lives", marks=needs("craftax")
        ),
        pytest.param(
            "brax:inverted_pendulum", {"episode_length": 0}, "episode_length", marks=needs("brax")
        ),
        pytest.param("jumanji:Snake-v1", {"speed": 2}, "speed", marks=needs("jumanji")),
    ],
)
def test_bad_env_kwargs_name_the_field(name, kwargs, field):
    with pytest.raises(ValueError, match=field):
        make_env(PPOConfig(env_name=name, env_kwargs=tuple(kwargs.items())))


@needs("navix")
def test_adapters_are_equal_by_name_and_kwargs():
    a = make_suite_env("navix:Navix-Empty-5x5-v0", {"max_steps": 7})[0]
    b = make_suite_env("navix:Navix-Empty-5x5-v0", {"max_steps": 7})[0]
    c = make_suite_env("navix:Navix-Empty-5x5-v0", {})[0]
    assert isinstance(a, SuiteEnv) and a == b and hash(a) == hash(b) and a != c
    assert a.default_params.max_steps_in_episode == 7 and a.name == "navix:Navix-Empty-5x5-v0"


# ------------------------------------------------------------------ episode ends per suite
@pytest.mark.parametrize(
    ("name", "obs_shape"),
    [
        pytest.param("navix:Navix-Empty-5x5-v0", (5, 5, 3), marks=needs("navix")),
        pytest.param("xminigrid:MiniGrid-Empty-5x5", (7, 7, 2), marks=needs("xminigrid")),
    ],
)
def test_grid_goal_terminates_and_max_steps_truncates(name, obs_shape):
    out = rollout(name, {"max_steps": 30}, 150, num_envs=16)
    check_episode_ends(out, 30)
    # Empty-5x5 pays (1, or 1 - 0.9 t/T) exactly when the goal is reached: its termination.
    np.testing.assert_array_equal(out["reward"] > 0, out["terminated"])
    assert out["terminated"].any() and out["truncated"].any()
    assert out["obs"].dtype == np.float32 and out["obs"].shape[2:] == obs_shape


@needs("jumanji")
def test_jumanji_snake_time_limit_is_a_truncation_and_masks_reach_the_policy():
    # Legal moves only: a snake this short cannot die, so every end is the time limit.
    out = rollout("jumanji:Snake-v1", {"time_limit": 15}, 100)
    check_episode_ends(out, 15)
    assert out["truncated"].any() and not out["terminated"].any()
    # Flattened: grid 12x12x5 + step count; the action mask is not part of the observation.
    assert out["obs"].shape[2:] == (12 * 12 * 5 + 1,)
    env, params = make_env(PPOConfig(env_name="jumanji:Snake-v1"))
    _, state = env.reset(jax.random.key(1), params)
    assert np.asarray(env.action_mask(state, params)).shape == (4,)


@needs("jumanji")
def test_jumanji_snake_illegal_moves_terminate():
    # Any move: running into a wall is illegal in Snake, and ends the episode as a termination.
    out = rollout("jumanji:Snake-v1", {"time_limit": 15}, 100, masked=False)
    check_episode_ends(out, 15)
    assert out["terminated"].any()
    assert np.all(out["completed_length"][out["terminated"]] < 15)


@pytest.mark.heavy  # 20 s: Jumanji's Tetris compiles slowly
@needs("jumanji")
def test_jumanji_multidiscrete_with_a_joint_mask_is_one_discrete_over_the_product():
    """Tetris's mask [4 rotations, 10 columns] is joint: the action is one Discrete(40) whose
    mask is Jumanji's own, flattened; its index unravels to Jumanji's (rotation, column)."""
    import jumanji

    env, params = make_env(PPOConfig(env_name="jumanji:Tetris-v0"))
    _, action = env_spec(env, params)
    assert action == ActionSpec(False, 40)
    own = jumanji.make("Tetris-v0")
    key = jax.random.key(3)
    _, state = env.reset(key, params)
    _, timestep = own.reset(key)
    mask = np.asarray(env.action_mask(state, params))
    np.testing.assert_array_equal(mask, np.asarray(timestep.observation.action_mask).reshape(-1))
    # Stepping with flat index 4 * 10 + ... is stepping Jumanji with the unravelled pair.
    legal = int(np.flatnonzero(mask)[-1])
    _, ours, reward, *_ = env.step(key, state, jnp.int32(legal), params)  # the game goes on
    theirs, ts = own.step(state[0], jnp.array(np.unravel_index(legal, (4, 10)), jnp.int32))
    np.testing.assert_array_equal(ours[0].grid_padded, theirs.grid_padded)
    assert float(reward) == float(ts.reward)
    # BinPack: a joint [40 spaces, 20 items] mask, and observation entries that are pytrees.
    env, params = make_env(PPOConfig(env_name="jumanji:BinPack-v2"))
    assert env_spec(env, params)[1] == ActionSpec(False, 800)


@pytest.mark.heavy  # 20 s
@needs("jumanji")
def test_jumanji_multidiscrete_with_per_component_masks_is_a_tuple_of_discretes():
    """RobotWarehouse's mask [4 agents, 5 moves] is per component: Tuple(Discrete(5) x 4),
    each leaf masked by its row; legal random actions never step into an illegal move."""
    env, params = make_env(PPOConfig(env_name="jumanji:RobotWarehouse-v0"))
    _, action = env_spec(env, params)
    assert isinstance(action, CompositeAction)
    assert action.leaves == (ActionSpec(False, 5),) * 4
    import jumanji

    key = jax.random.key(0)
    _, state = env.reset(key, params)
    masks = env.action_mask(state, params)
    assert isinstance(masks, tuple) and len(masks) == 4
    _, timestep = jumanji.make("RobotWarehouse-v0").reset(key)
    np.testing.assert_array_equal(np.stack(masks), np.asarray(timestep.observation.action_mask))


@pytest.mark.heavy  # 20 s: Craftax compiles its world generator into every step
@needs("craftax")
def test_craftax_time_limit_is_a_truncation():
    out = rollout("craftax:Craftax-Classic-Symbolic-v1", {"max_timesteps": 6}, 14, num_envs=2)
    check_episode_ends(out, 6)
    assert out["truncated"].sum() >= 2


@pytest.mark.heavy  # 15 s of Brax compilation
@needs("brax")
def test_brax_fall_terminates_and_episode_length_truncates():
    out = rollout("brax:inverted_pendulum", {"episode_length": 12}, 60)
    check_episode_ends(out, 12)
    assert out["terminated"].any() and out["truncated"].any()
    # Brax's inverted pendulum ends when the pole angle (observation 1) passes 0.2 rad.
    angle = np.abs(out["final_obs"][..., 1])
    np.testing.assert_array_equal(angle > 0.2, out["terminated"])


# ------------------------------------------------------------------ pooled resets
class Countdown(SuiteEnv):
    """Episodes of ``limit`` steps (drawn at reset from 2, 3, 4); obs ``[t, start]``, where
    ``start`` is a random number drawn at reset (which episode start this is)."""

    suite = "test"

    def _build(self, env_id, kwargs):
        self.reset_ratio = kwargs.get("reset_ratio", 1)
        self._num_actions = 2
        self._params = suites.SuiteParams(max_steps_in_episode=4)

    def _reset(self, key, params):
        start = jax.random.uniform(key)
        limit = 2 + jnp.floor(start * 3)
        return jnp.stack([0.0, start]), (jnp.float32(0.0), start, limit)

    def _step(self, key, state, action, params):
        t, start, limit = state
        t = t + 1
        return jnp.stack([t, start]), (t, start, limit), 1.0, t >= limit, jnp.array(False)


@pytest.mark.parametrize("ratio", [1, 4])
def test_pooled_resets_start_fresh_episodes_only_where_one_ended(ratio, key):
    env = Countdown("countdown", (("reset_ratio", ratio),))
    params = env.default_params
    num_envs = 16
    pool = max(1, num_envs // ratio) if ratio > 1 else 0
    assert reset_pool_size(env, num_envs) == pool and reset_pool_size(env, 1) == 0
    carry = reset_envs(env, params, key, num_envs)
    for k in jax.random.split(key, 12):
        before = np.asarray(carry.obs)
        carry, out = step_envs(env, params, k, carry, jnp.zeros((num_envs,), jnp.int32))
        done = np.asarray(out["terminated"])
        obs, final = np.asarray(carry.obs), np.asarray(out["final_obs"])
        np.testing.assert_array_equal(final[:, 0], before[:, 0] + 1)  # the pre-reset obs
        np.testing.assert_array_equal(final[:, 1], before[:, 1])
        np.testing.assert_array_equal(obs[~done], final[~done])  # running episodes go on
        assert np.all(obs[done, 0] == 0) and np.all(np.asarray(carry.env_state[0])[done] == 0)
        starts = obs[done, 1]
        assert not np.isin(starts, before[:, 1]).any()  # fresh starts, not old ones
        if pool and done.sum():
            # The j-th ending env takes start j % pool: distinct up to the pool size.
            assert len(np.unique(starts)) == min(done.sum(), pool)
        elif done.sum():
            assert len(np.unique(starts)) == done.sum()
    assert int(np.asarray(carry.stats.episode_length).max()) <= 4
