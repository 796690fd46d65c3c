"""ppo_jax.core.envpool: EnvPool's episode ends reach ppo_jax with the same-step reset.

The oracle is EnvPool itself: a second pool with the same seed, driven through EnvPool's own
Python API with its next-step reset (the call after an episode ended resets that environment
and ignores its action). The adapter's rollout, inside ``jax.jit``, must show exactly the
oracle's transitions, with the oracle's reset steps folded into the step that ended the
episode: the same final observations, rewards, terminations and truncations, the oracle's
reset observation as the next observation, and episode lengths and returns equal to EnvPool's
``elapsed_step`` counts and summed rewards.
"""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig
from ppo_jax.core.envpool import EnvPoolEnv
from ppo_jax.core.envs import (
    check_env_trusted,
    env_spec,
    is_batched_env,
    make_env,
    reset_envs,
    step_envs,
)
from ppo_jax.run import plan as planning

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("envpool") is None,
    reason='the envpool extra is not installed (pip install -e ".[envpool]")',
)


def adapter_rollout(name: str, kwargs: dict, actions: np.ndarray, runs: int = 0) -> dict:
    """The adapter's ``[T, N]`` rollout of the given ``actions [T, N, ...]`` in one jitted scan
    (``runs > 0``: ``vmap`` over that many runs, ``actions [T, R, N, ...]``)."""
    env, params = make_env(PPOConfig(env_name=name, env_kwargs=tuple(kwargs.items())))
    num_envs = actions.shape[2] if runs else actions.shape[1]

    def run(key: jax.Array, actions: jax.Array) -> tuple:
        carry = reset_envs(env, params, key, num_envs)

        def body(carry, a):
            carry, out = step_envs(env, params, key, carry, a)
            return carry, {**out, "obs": carry.obs}

        return carry.obs, jax.lax.scan(body, carry, actions)[1]

    if runs:
        keys = jax.random.split(jax.random.PRNGKey(0), runs)
        obs0, out = jax.jit(jax.vmap(run, in_axes=(0, 1)))(keys, jnp.asarray(actions))
        return {"obs0": np.asarray(obs0), **{k: np.asarray(v) for k, v in out.items()}}
    obs0, out = jax.jit(run)(jax.random.PRNGKey(0), jnp.asarray(actions))
    return {"obs0": np.asarray(obs0), **{k: np.asarray(v) for k, v in out.items()}}


def oracle_rollout(task: str, kwargs: dict, actions: np.ndarray, image: bool) -> dict:
    """The same actions through EnvPool's own API, its reset steps taken as EnvPool takes
    them (``[T, N]`` arrays of the real steps; ``reset_obs[t]``: the observation of the reset
    step that followed step ``t``, where one did)."""
    import envpool

    num_envs = actions.shape[1]
    pool = envpool.make(task, env_type="gymnasium", num_envs=num_envs, **kwargs)

    def layout(obs: np.ndarray) -> np.ndarray:
        return np.transpose(obs, (0, 2, 3, 1)) if image else obs.astype(np.float32)

    obs, info = pool.reset()
    out: dict[str, list] = {k: [] for k in ("final", "reward", "term", "trunc", "length")}
    out["reset_obs"] = []
    obs0 = layout(obs)
    # Episode lengths from EnvPool's elapsed_step: at the end, less its value at the reset
    # (0, or the game's steps so far after a lost life with episodic_life).
    start = np.asarray(info["elapsed_step"]).copy()
    for t in range(actions.shape[0]):
        obs, reward, term, trunc, info = pool.step(actions[t])
        out["final"].append(layout(obs))
        out["reward"].append(reward)
        out["term"].append(term)
        out["trunc"].append(trunc)
        out["length"].append(info["elapsed_step"] - start)
        ended = np.flatnonzero(term | trunc).astype(np.int32)
        fresh = np.zeros_like(layout(obs))
        if ended.size:  # EnvPool's next call for these resets them and ignores the action
            zero = np.zeros((ended.size, *actions.shape[2:]), actions.dtype)
            robs, rreward, rterm, rtrunc, rinfo = pool.step(zero, ended)
            assert np.array_equal(rinfo["env_id"], ended) and np.all(rreward == 0)
            assert not np.any(rterm | rtrunc)
            fresh[ended] = layout(robs)
            start[ended] = rinfo["elapsed_step"]
        out["reset_obs"].append(fresh)
    return {"obs0": obs0, **{k: np.asarray(v) for k, v in out.items()}}


def check_same(ours: dict, oracle: dict) -> None:
    """Every real transition equal, resets folded into the ending step, statistics equal."""
    np.testing.assert_array_equal(ours["obs0"], oracle["obs0"])
    np.testing.assert_array_equal(ours["final_obs"], oracle["final"])
    np.testing.assert_array_equal(ours["reward"], oracle["reward"])
    np.testing.assert_array_equal(ours["terminated"], oracle["term"])
    np.testing.assert_array_equal(ours["truncated"], oracle["trunc"] & ~oracle["term"])
    done = oracle["term"] | oracle["trunc"]
    expected_next = np.where(
        done.reshape(done.shape + (1,) * (oracle["final"].ndim - 2)),
        oracle["reset_obs"],
        oracle["final"],
    )
    np.testing.assert_array_equal(ours["obs"], expected_next)
    # Episode statistics: lengths are EnvPool's elapsed_step at the end, returns its rewards.
    np.testing.assert_array_equal(ours["completed_length"][done], oracle["length"][done])
    returns = np.zeros(done.shape[1])
    for t in range(done.shape[0]):
        returns += oracle["reward"][t]
        np.testing.assert_allclose(
            ours["completed_return"][t][done[t]], returns[done[t]], rtol=1e-5, atol=1e-5
        )
        returns[done[t]] = 0.0


def test_cartpole_episode_ends_match_envpool_own_rollout() -> None:
    # A 30-step time limit: random actions end CartPole episodes both ways.
    kwargs = {"max_episode_steps": 30, "seed": 3}
    actions = np.random.default_rng(0).integers(0, 2, (200, 6)).astype(np.int32)
    ours = adapter_rollout("envpool:CartPole-v1", kwargs, actions)
    oracle = oracle_rollout("CartPole-v1", kwargs, actions, image=False)
    check_same(ours, oracle)
    assert oracle["term"].sum() > 10 and (oracle["trunc"] & ~oracle["term"]).sum() > 5


def test_runs_under_vmap_share_one_pool_of_all_their_environments() -> None:
    # Run r's environment i is environment r * N + i of one pool of R * N environments.
    kwargs = {"max_episode_steps": 25, "seed": 5}
    runs, num_envs = 3, 2
    actions = np.random.default_rng(1).integers(0, 2, (80, runs, num_envs)).astype(np.int32)
    ours = adapter_rollout("envpool:CartPole-v1", kwargs, actions, runs=runs)
    oracle = oracle_rollout("CartPole-v1", kwargs, actions.reshape(80, runs * num_envs), False)
    # [R, N, ...] first observations and [R, T, N, ...] steps, as the pool's [T, R * N, ...]
    flat = {"obs0": ours.pop("obs0").reshape(runs * num_envs, -1)}
    for key, value in ours.items():
        value = np.moveaxis(value, 0, 1)
        flat[key] = value.reshape(value.shape[0], runs * num_envs, *value.shape[3:])
    check_same(flat, oracle)
    assert oracle["term"].sum() >= 5


@pytest.mark.heavy
def test_atari_episode_ends_match_envpool_own_rollout() -> None:
    # Lives lost (episodic_life), games over and a 40-step time limit, in [H, W, C] images.
    kwargs = {"episodic_life": True, "max_episode_steps": 40, "seed": 1}
    actions = np.random.default_rng(2).integers(0, 4, (120, 4)).astype(np.int32)
    ours = adapter_rollout("envpool:Breakout-v5", kwargs, actions)
    oracle = oracle_rollout("Breakout-v5", kwargs, actions, image=True)
    assert ours["obs"].shape[2:] == (84, 84, 4) and ours["obs"].dtype == np.uint8
    check_same(ours, oracle)
    assert oracle["trunc"].sum() > 0 and oracle["term"].sum() > 0


@pytest.mark.heavy
def test_mujoco_steps_through_the_host_and_keeps_the_contract() -> None:
    # HalfCheetah's arrays are float64: stepped by a host callback, with the same mapping.
    kwargs = {"max_episode_steps": 7, "seed": 2}
    env, _ = make_env(PPOConfig(env_name="envpool:HalfCheetah-v4", env_kwargs=(("seed", 2),)))
    assert env.pool(1).xla_step is None
    actions = np.random.default_rng(3).uniform(-1, 1, (20, 3, 6)).astype(np.float32)
    ours = adapter_rollout("envpool:HalfCheetah-v4", kwargs, actions)
    oracle = oracle_rollout("HalfCheetah-v4", kwargs, actions.astype(np.float64), image=False)
    for key in ("final", "reset_obs", "obs0"):
        oracle[key] = oracle[key].astype(np.float32)
    oracle["reward"] = oracle["reward"].astype(np.float32)
    check_same(ours, oracle)
    assert oracle["trunc"].sum() == 2 * 3


def test_spaces_and_layout() -> None:
    env, params = make_env(PPOConfig(env_name="envpool:CartPole-v1"))
    assert is_batched_env(env) and isinstance(env, EnvPoolEnv)
    obs_shape, action = env_spec(env, params)
    assert obs_shape == (4,) and not action.continuous and action.size == 2
    assert params.max_steps_in_episode == 500
    # Same name and settings: equal adapters (one compile-cache key).
    assert env == EnvPoolEnv("CartPole-v1") and hash(env) == hash(EnvPoolEnv("CartPole-v1"))
    assert env != EnvPoolEnv("CartPole-v1", (("seed", 1),))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("envpool:NoSuchGame-v5", (), "not an EnvPool task id"),
        ("envpool:CartPole-v1", (("no_such_setting", 1),), "env_kwargs"),
        ("envpool:CartPole-v1", (("num_envs", 4),), "env_kwargs num_envs=4"),
        ("envpool:CartPole-v1", (("max_episode_steps", "long"),), "env_kwargs"),
    ],
)
def test_bad_names_and_settings_fail_in_one_line(name: str, kwargs: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        make_env(PPOConfig(env_name=name, env_kwargs=kwargs))
    assert "\n" not in str(info.value)


@pytest.mark.heavy
def test_atari_images_are_not_normalised() -> None:
    with pytest.raises(ValueError, match="normalize_observations"):
        make_env(PPOConfig(env_name="envpool:Pong-v5", normalize_observations=True))
    # The drivers (whose environments are cached by name) refuse it too, before compiling.
    config = PPOConfig(env_name="envpool:Pong-v5", torso="nature", normalize_observations=True)
    with pytest.raises(ValueError, match="normalize_observations"):
        planning.resolve_spec(config)


def test_evaluation_inside_training_is_refused_in_one_line() -> None:
    config = PPOConfig(env_name="envpool:CartPole-v1", eval_every=2)
    with pytest.raises(ValueError, match="eval_every=2") as info:
        planning.resolve_spec(config)
    assert "\n" not in str(info.value)


def test_a_run_folder_naming_an_envpool_task_is_built_like_a_suite_id() -> None:
    # envpool: is a fixed prefix importing only envpool: no code of the folder's choosing.
    config = PPOConfig(env_name="envpool:CartPole-v1").with_env_origin("run folder 'x'")
    check_env_trusted(config)
    env, _ = make_env(config)
    assert isinstance(env, EnvPoolEnv)


def test_a_missing_rom_is_one_line(tmp_path) -> None:
    """EnvPool's Atari loader ends the whole process on a missing ROM (``exit(1)``): a
    ``base_path`` (or ``task``) without the ROM is refused first, naming the kwarg and the
    file; a ``base_path`` that is not a folder too. A real copy of the assets loads."""
    import envpool

    from ppo_jax.core.envpool import check_native_files

    for kwargs, needle in (
        (
            (("base_path", str(tmp_path)),),
            r"base_path: envpool:Pong-v5 needs the ROM '.*pong\.bin'",
        ),
        ((("task", "no_such_rom"),), r"task: envpool:Pong-v5 needs the ROM '.*no_such_rom\.bin'"),
        ((("base_path", str(tmp_path / "none")),), "not a folder"),
    ):
        with pytest.raises(ValueError, match=needle) as info:
            make_env(PPOConfig(env_name="envpool:Pong-v5", env_kwargs=kwargs))
        assert "\n" not in str(info.value)
    default = envpool.make_spec("Pong-v5").config.base_path
    check_native_files(envpool, "Pong-v5", {"base_path": default})  # the real assets
    check_native_files(envpool, "CartPole-v1", {"base_path": str(tmp_path)})  # loads no file
