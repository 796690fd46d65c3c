"""ppo_jax.run.programs (and the plans of ppo_jax.run.plan): train / train_seeds on tiny
configs: shapes, determinism, vmapped seeds equal single runs, traced hyperparameters never
recompile, progress segments replay the whole run, environment overrides, bad arguments
refused before compiling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import ConstantRewardEnv, CounterParams, MatrixActionEnv

from ppo_jax import Hyperparams, PPOConfig, train, train_seeds
from ppo_jax.core.types import METRIC_NAMES
from ppo_jax.run import plan as planning
from ppo_jax.run import programs, progress
from ppo_jax.run.plan import seed_list


class CompileCounter:
    """Counts XLA backend compilations while active (``jax.monitoring`` events)."""

    def __enter__(self) -> list[str]:
        self.events: list[str] = []
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self.events

    def _listen(self, event: str, duration: float, **kwargs: object) -> None:
        if "backend_compile" in event:
            self.events.append(event)

    def __exit__(self, *exc: object) -> None:
        jax.monitoring.unregister_event_duration_listener(self._listen)


@pytest.fixture(scope="module")
def tiny() -> PPOConfig:
    from conftest import TINY

    return PPOConfig(**TINY)


@pytest.fixture(scope="module")
def four_seeds(tiny) -> tuple:
    """Seeds 0..3 on one device and (the default) split over both devices."""
    return train_seeds(tiny, 4, shard=False), train_seeds(tiny, 4)


def test_tiny_run_shapes_and_finite_metrics(tiny_config, key):
    result = train(tiny_config, key)
    assert set(result.metrics) == set(METRIC_NAMES)
    for name, value in result.metrics.items():
        assert value.shape == (tiny_config.num_updates,), name
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "learning_rate"):
        assert np.all(np.isfinite(result.metrics[name])), name
    np.testing.assert_array_equal(
        result.metrics["env_steps"], tiny_config.batch_size * np.arange(1, 4)
    )
    # Linear annealing: update u uses lr * (1 - u / num_updates).
    np.testing.assert_allclose(
        result.metrics["learning_rate"],
        tiny_config.learning_rate * np.array([1.0, 2 / 3, 1 / 3]),
        rtol=1e-5,
    )
    assert result.params["network"]["actor"]["Dense_0"]["kernel"].shape == (4, 16)
    assert int(result.train_state.step) == 3 * 2 * 2
    assert result.obs_norm is None


def test_same_key_same_result_different_key_differs(tiny_config):
    a = train(tiny_config, jax.random.PRNGKey(5))
    b = train(tiny_config, jax.random.PRNGKey(5))
    c = train(tiny_config, jax.random.PRNGKey(6))
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    kernel = lambda r: r.params["network"]["actor"]["Dense_0"]["kernel"]  # noqa: E731
    assert not np.allclose(kernel(a), kernel(c))


def test_train_seeds_equals_single_runs(tiny, four_seeds):
    batched = four_seeds[0]
    assert batched.metrics["episode_return"].shape == (4, tiny.num_updates)
    for s in (0, 3):
        single = train(tiny, jax.random.PRNGKey(s))
        for x, y in zip(
            jax.tree.leaves(batched.params), jax.tree.leaves(single.params), strict=True
        ):
            np.testing.assert_allclose(x[s], y, rtol=1e-4, atol=1e-5)
        for name in ("policy_loss", "value_loss", "entropy", "episodes_completed"):
            np.testing.assert_allclose(
                batched.metrics[name][s], single.metrics[name], rtol=1e-4, atol=1e-5
            )


def test_train_seeds_accepts_a_count_and_refuses_bad_seeds(tiny, four_seeds):
    assert jax.tree.leaves(four_seeds[1].params)[0].shape[0] == 4  # train_seeds(tiny, 4)
    for bad in (0, [], [-1], ["a"], 2.5, [2**32], [0, 0], 2**40):
        with pytest.raises((ValueError, TypeError), match="seeds"):
            train_seeds(tiny, bad)
    assert seed_list(np.int64(3)) == [0, 1, 2]
    assert seed_list([np.int64(2**32 - 1)]) == [2**32 - 1]


def test_seed_keys_are_prngkey_of_each_seed():
    """The vectorised keys equal ``jax.random.PRNGKey(s)`` called one seed at a time (the
    oracle), below and above 2**31 and at the largest seed."""
    seeds = [0, 1, 7, 123_456_789, 2**31 - 1, 2**31, 2**31 + 5, 3_000_000_000, 2**32 - 1]
    expected = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds])
    keys = planning.seed_keys(seeds)
    assert keys.dtype == jnp.uint32
    np.testing.assert_array_equal(np.asarray(keys), expected)
    counted = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in range(3)])
    np.testing.assert_array_equal(np.asarray(planning.seed_keys(3)), counted)


def test_a_million_seeds_are_checked_without_per_seed_python_work():
    """A count or list at the limit is read, checked and turned into keys as arrays (the
    refusal of a too-large run then comes from the memory check, tested in
    tests/integration/test_fuzz.py); a duplicate among a million is named."""
    keys = planning.seed_keys(planning.MAX_RUNS)
    assert keys.shape == (planning.MAX_RUNS, 2) and int(keys[-1, 1]) == planning.MAX_RUNS - 1
    seeds = list(range(planning.MAX_RUNS))
    seeds[-1] = 17
    with pytest.raises(ValueError, match=r"duplicates \[17\]"):
        seed_list(seeds)
    with pytest.raises(ValueError, match="at most"):
        seed_list(range(planning.MAX_RUNS + 1))


def test_traced_hyperparameters_never_recompile(tiny, four_seeds):
    """A new learning rate, gamma, clip_eps ... as ``hp=`` or as a changed config field reuses
    the executable; a static field compiles anew."""
    cfg = tiny
    base = train(cfg, jax.random.PRNGKey(0))  # compiled here, or by an earlier test
    train_seeds(cfg, 4)
    with CompileCounter() as compiles:
        train(cfg, jax.random.PRNGKey(1))
        train(PPOConfig(**{**cfg.__dict__}), jax.random.PRNGKey(2))  # equal config, new object
        other = train(cfg, jax.random.PRNGKey(0), hp=Hyperparams(learning_rate=1e-4, gamma=0.9))
        train(cfg.replace(learning_rate=3e-3, clip_eps=0.1, ent_coef=0.0), jax.random.PRNGKey(0))
        train(cfg, jax.random.PRNGKey(0), hp={"vf_coef": 0.25, "max_grad_norm": 1.0})
        train_seeds(cfg.replace(gae_lambda=0.8), 4, hp={"learning_rate": 2e-3})
        assert compiles == []
        train(cfg.replace(num_steps=4, total_timesteps=4 * 4 * 3), jax.random.PRNGKey(0))
        assert len(compiles) >= 1  # a static field is a new program
    assert not np.allclose(base.metrics["learning_rate"], other.metrics["learning_rate"])
    np.testing.assert_allclose(other.metrics["learning_rate"][0], 1e-4, rtol=1e-6)
    # hp given as a config field and as hp= are the same run.
    a = train(cfg.replace(learning_rate=1e-4, gamma=0.9), jax.random.PRNGKey(0))
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(other.params), strict=True):
        np.testing.assert_array_equal(x, y)


def test_bad_hyperparameters_are_refused(tiny_config, key):
    with pytest.raises(ValueError, match="gamma"):
        train(tiny_config, key, hp={"gamma": 1.5})
    with pytest.raises(ValueError, match="unknown field"):
        train(tiny_config, key, hp={"num_envs": 8})
    with pytest.raises(TypeError, match="hp"):
        train(tiny_config, key, hp=[1e-3])
    with pytest.raises(TypeError, match=r"hp\.learning_rate"):
        train(tiny_config, key, hp={"learning_rate": np.ones(3)})


def test_progress_segments_replay_the_whole_run_bit_for_bit(tiny, four_seeds):
    whole = four_seeds[1]
    events: list[progress.ProgressEvent] = []
    with progress.listen(events.append):
        segmented = train_seeds(tiny, 4, progress_every=2)
    leaves = zip(
        jax.tree.leaves(whole.train_state), jax.tree.leaves(segmented.train_state), strict=True
    )
    for x, y in leaves:
        np.testing.assert_array_equal(x, y)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(whole.metrics[name], segmented.metrics[name], err_msg=name)
    assert [e.update for e in events] == [2, 3]
    assert all(e.returns.shape == (4,) and e.num_updates == 3 for e in events)
    assert events[-1].env_steps == tiny.env_steps


def test_a_range_from_any_start_replays_the_whole_run(tiny, four_seeds):
    """A range program compiled without the end mask (its length divides the run) still runs a
    shorter range from another start, as a resumed run does: only the updates left."""
    whole = four_seeds[0]
    plan = planning.plan_seeds(tiny, 4, shard=False)
    runner = programs.init_runs(plan)
    runner, first = programs.compile_segments(plan, runner, 1)(runner, 0)
    runner, rest = programs.compile_segments(plan, runner, tiny.num_updates)(runner, 1)
    assert rest["policy_loss"].shape == (4, tiny.num_updates - 1)
    leaves = zip(
        jax.tree.leaves(whole.train_state), jax.tree.leaves(runner.train_state), strict=True
    )
    for x, y in leaves:
        np.testing.assert_array_equal(x, y)
    for name in METRIC_NAMES:
        joined = np.concatenate([first[name], rest[name]], axis=1)
        np.testing.assert_array_equal(whole.metrics[name], joined, err_msg=name)


def test_custom_env_override_and_unsupported_action_space_refused(tiny_config, key):
    env = ConstantRewardEnv()
    result = train(tiny_config, key, env=env, env_params=CounterParams(max_steps_in_episode=5))
    finite = result.metrics["episode_return"][np.isfinite(result.metrics["episode_return"])]
    np.testing.assert_array_equal(finite, 5.0)
    with pytest.raises(ValueError, match=r"1-D spaces\.Box"):
        train(tiny_config, key, env=MatrixActionEnv())
    with pytest.raises(TypeError, match="gymnax Environment"):
        train(tiny_config, key, env=object())


def test_bad_arguments(tiny_config):
    with pytest.raises(TypeError, match="PPOConfig"):
        train({"num_envs": 4}, jax.random.PRNGKey(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):
        train(tiny_config, jnp.zeros(3, jnp.uint32))
    with pytest.raises(ValueError, match="progress_every"):
        train(tiny_config, jax.random.PRNGKey(0), progress_every=-1)


def test_no_placeholder_zero_returns(tiny_config, key):
    """Updates in which no episode ended report NaN, never 0; others the true mean return."""
    cfg = tiny_config.replace(num_steps=4, num_minibatches=1, total_timesteps=4 * 4 * 6)
    result = train(
        cfg, key, env=ConstantRewardEnv(), env_params=CounterParams(max_steps_in_episode=10)
    )
    ret = np.asarray(result.metrics["episode_return"])
    count = np.asarray(result.metrics["episodes_completed"])
    # Episodes of 10 steps with 4-step rollouts end in updates 2 (steps 8-11) and 4 (16-19).
    np.testing.assert_array_equal(count, [0, 0, 4, 0, 4, 0])
    assert np.isnan(ret[[0, 1, 3, 5]]).all()
    np.testing.assert_array_equal(ret[[2, 4]], 10.0)


def test_train_seeds_sharded_over_devices_matches_one_device(tiny, four_seeds):
    assert jax.local_device_count() == 2  # conftest: two host devices
    one, split = four_seeds  # shard=False, and the default: the seeds split over both devices
    assert len(split.metrics["value_loss"].sharding.device_set) == 2
    assert len(one.metrics["value_loss"].sharding.device_set) == 1
    np.testing.assert_allclose(
        np.asarray(split.metrics["value_loss"]), np.asarray(one.metrics["value_loss"]), rtol=1e-4
    )
    # 3 seeds do not split over 2 devices: one device runs them (decided before compiling).
    assert planning.plan_seeds(tiny, 3, shard=True).layout.size == 1
    with pytest.raises(TypeError, match="shard"):
        train_seeds(tiny, 2, shard="yes")  # type: ignore[arg-type]


@pytest.mark.heavy
def test_envpool_runs_share_one_device_and_restart_episodes_when_restored() -> None:
    pytest.importorskip("envpool")
    config = PPOConfig(env_name="envpool:CartPole-v1", num_envs=3, num_steps=4, hidden_sizes=(8,))
    spec, env_params = planning.resolve_spec(config)
    hp = planning.check_hyperparams(config, None)
    keys = planning.seed_keys([0, 1])
    with pytest.raises(ValueError, match="one EnvPool pool"):
        planning.make_plan(spec, env_params, keys, hp, shard=True)
    plan = planning.make_plan(spec, env_params, keys, hp)  # "auto": one device, whatever there is
    assert plan.layout.size == 1
    runner = programs.init_runs(plan)
    # A restored carry from another process: episodes under way, stats counting.
    stale = runner.env._replace(
        obs=runner.env.obs + 1.0,
        first=jnp.zeros_like(runner.env.first),
        stats=jax.tree.map(lambda x: x + 7, runner.env.stats),
    )
    fresh = programs.restart_episodes(plan, runner._replace(env=stale))
    assert bool(jnp.all(fresh.env.first)) and fresh.env.obs.shape == (2, 3, 4)
    assert not np.any(np.asarray(fresh.env.stats.episode_length))
    assert bool(jnp.all(jnp.abs(fresh.env.obs) <= 0.05))  # CartPole starts within +-0.05
    assert fresh.train_state is not None and bool(jnp.all(fresh.key == runner.key))
    # Environments whose state is in the carry resume it as it is.
    gymnax_plan = planning.make_plan(*planning.resolve_spec(PPOConfig()), keys, hp)
    assert programs.restart_episodes(gymnax_plan, runner) is runner
