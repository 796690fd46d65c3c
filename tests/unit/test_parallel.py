"""ppo_jax.run.parallel: layouts of runs on devices, the one mesh helper, CPU devices; and data
parallelism within one run (``split_envs``): every piece that crosses the environments axis is
checked against the unsplit computation on the same data (gradients, advantage normalisation,
running statistics, explained variance), the devices must end every update with identical
parameters, the sharded program must equal its one-device emulation (``vmap`` with an axis
name), and a split run must equal the one-device run with the same key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ppo_jax import PPOConfig, train, train_seeds
from ppo_jax.core.envs import make_env
from ppo_jax.core.loss import explained_variance, loss_and_grad
from ppo_jax.core.normalize import init_reward_norm, init_stats, scale_rewards, update_stats
from ppo_jax.core.spec import make_spec
from ppo_jax.core.train import init_runner, make_train, update_step
from ppo_jax.core.types import Batch
from ppo_jax.run import plan as planning
from ppo_jax.run import programs
from ppo_jax.run.parallel import ENVS_AXIS, Layout, configure_cpu_devices, plan_layout

AXIS = "shards"


def _halves(tree):
    """``[B, ...]`` leaves -> ``[2, B/2, ...]`` (two shards of one batch)."""
    return jax.tree.map(lambda x: x.reshape(2, -1, *x.shape[1:]), tree)


def _minibatch(key, size: int) -> Batch:
    k = jax.random.split(key, 5)
    return Batch(
        obs=jax.random.normal(k[0], (size, 4)),
        action=jax.random.randint(k[1], (size,), 0, 2),
        log_prob=-0.69 + 0.1 * jax.random.normal(k[2], (size,)),
        value=jax.random.normal(k[3], (size,)),
        advantage=3.0 + 2.0 * jax.random.normal(k[4], (size,)),
        target=jax.random.normal(k[4], (size,)) + 1.0,
    )


def _spec(config):
    env, env_params = make_env(config)
    return make_spec(config, env, env_params), env, env_params


def test_sharded_gradient_equals_whole_minibatch_gradient():
    config = PPOConfig(hidden_sizes=(16, 16), vf_clip_eps=0.2)
    spec, _, _ = _spec(config)
    params = spec.network.init(jax.random.PRNGKey(0))
    mb = _minibatch(jax.random.PRNGKey(1), 64)
    hp = config.hyperparams()
    (loss, info), grads = jax.jit(lambda b: loss_and_grad(params, spec, hp, b))(mb)
    split_fn = jax.vmap(lambda b: loss_and_grad(params, spec, hp, b, None, AXIS), axis_name=AXIS)
    (s_loss, s_info), s_grads = jax.jit(split_fn)(_halves(mb))
    np.testing.assert_allclose(s_loss, [loss, loss], rtol=1e-5)
    for whole, split in zip(
        jax.tree.leaves((info, grads)), jax.tree.leaves((s_info, s_grads)), strict=True
    ):
        np.testing.assert_allclose(split[0], whole, rtol=1e-4, atol=1e-7)
        np.testing.assert_array_equal(split[0], split[1])  # every shard takes the same step


def test_sharded_running_stats_equal_all_samples():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(2, 50, 3)).astype(np.float32)
    stats = update_stats(init_stats((3,)), x[0, :10])
    whole = update_stats(stats, x.reshape(-1, 3))
    split = jax.vmap(lambda s: update_stats(stats, s, AXIS), axis_name=AXIS)(jnp.asarray(x))
    for w, s in zip(whole, split, strict=True):
        np.testing.assert_allclose(s[0], w, rtol=1e-5)
        np.testing.assert_allclose(s[1], w, rtol=1e-5)
    np.testing.assert_allclose(
        whole.mean, np.concatenate([x[0, :10], x.reshape(-1, 3)]).mean(0), rtol=1e-4
    )


def test_sharded_reward_scaling_and_explained_variance():
    rng = np.random.default_rng(1)
    rewards = jnp.asarray(rng.normal(size=(16, 8)), jnp.float32)  # [T, N]
    dones = jnp.asarray(rng.random((16, 8)) < 0.1)
    state, scaled = scale_rewards(init_reward_norm(8), rewards, dones, 0.99, 10.0)

    def shard(r, d, returns):
        own = init_reward_norm(4)._replace(returns=returns)
        return scale_rewards(own, r, d, 0.99, 10.0, AXIS)

    # Shard the environments axis: [T, N] -> [2, T, N/2].
    to_shards = lambda a: jnp.moveaxis(a.reshape(a.shape[0], 2, -1), 1, 0)  # noqa: E731
    s_state, s_scaled = jax.vmap(shard, axis_name=AXIS)(
        to_shards(rewards), to_shards(dones), jnp.zeros((2, 4))
    )
    np.testing.assert_allclose(
        np.concatenate([s_scaled[0], s_scaled[1]], axis=1), scaled, rtol=1e-5
    )
    np.testing.assert_allclose(s_state.stats.var[0], state.stats.var, rtol=1e-5)

    pred, target = rewards[:, 0], rewards[:, 1]
    ev = explained_variance(pred, target)
    s_ev = jax.vmap(lambda p, t: explained_variance(p, t, AXIS), axis_name=AXIS)(
        pred.reshape(2, -1), target.reshape(2, -1)
    )
    np.testing.assert_allclose(s_ev, [ev, ev], rtol=1e-5)


@pytest.mark.heavy
def test_devices_keep_identical_parameters(tiny_config):
    """Emulate two devices with ``vmap(axis_name)``: each holds half the environments, and
    after every update both hold the same parameters, statistics and (global) metrics."""
    config = tiny_config.replace(normalize_observations=True, normalize_rewards=True)
    spec, _, env_params = _spec(config)
    hp = config.hyperparams()

    def two_updates(key):
        runner = init_runner(spec, env_params, hp, key, ENVS_AXIS)
        runner, m1 = update_step(spec, env_params, hp, runner, ENVS_AXIS)
        runner, m2 = update_step(spec, env_params, hp, runner, ENVS_AXIS)
        return runner, (m1, m2)

    keys = jnp.stack([jax.random.PRNGKey(3)] * 2)
    runner, metrics = jax.jit(jax.vmap(two_updates, axis_name=ENVS_AXIS))(keys)
    assert runner.env.obs.shape == (2, config.num_envs // 2, 4)
    # The two shards acted in different environments ...
    assert not np.array_equal(runner.env.obs[0], runner.env.obs[1])
    # ... yet hold the same learner state and metrics.
    for leaf in jax.tree.leaves((runner.train_state, metrics, runner.reward_norm.stats)):
        np.testing.assert_array_equal(leaf[0], leaf[1])
    assert int(metrics[1].env_steps[0]) == 2 * config.batch_size


@pytest.mark.heavy
def test_split_run_equals_its_one_device_emulation(tiny_config):
    """The sharded program (two host devices) against ``vmap(axis_name)`` on one device."""
    assert jax.local_device_count() == 2  # conftest: two host devices
    assert _layout(tiny_config, split_envs=True).envs == 2
    env, env_params = make_env(tiny_config)
    fn = make_train(tiny_config, env, axis_name=ENVS_AXIS)
    hp = tiny_config.hyperparams()
    keys = jnp.stack([jax.random.PRNGKey(7)] * 2)
    state, metrics = jax.jit(jax.vmap(fn, in_axes=(0, None, None), axis_name=ENVS_AXIS))(
        keys, hp, env_params
    )
    split = train(tiny_config, jax.random.PRNGKey(7), split_envs=True)
    assert len(split.metrics["value_loss"].sharding.device_set) == 2
    for a, b in zip(jax.tree.leaves(split.train_state), jax.tree.leaves(state), strict=True):
        np.testing.assert_allclose(a, b[0], rtol=1e-4, atol=1e-6)
    for name, value in split.metrics.items():
        np.testing.assert_allclose(value, getattr(metrics, name)[0], rtol=1e-4, atol=1e-6)


def _assert_same_run(a, b):
    for x, y in zip(jax.tree.leaves(a.train_state), jax.tree.leaves(b.train_state), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    assert a.metrics.keys() == b.metrics.keys()
    for name, value in a.metrics.items():
        np.testing.assert_allclose(value, b.metrics[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_split_envs_run_equals_the_one_device_run(tiny_config):
    """Every environment's and minibatch's randomness comes from the run's key as on one
    device, so the run split over two devices is the one-device run (float rounding aside):
    resets, actions, steps, shuffles, statistics, gradients."""
    config = tiny_config.replace(
        num_envs=8,
        num_minibatches=4,
        total_timesteps=8 * 8 * 3,
        normalize_observations=True,
        normalize_rewards=True,
    )
    one = train(config, jax.random.PRNGKey(5))
    split = train(config, jax.random.PRNGKey(5), split_envs=True)
    assert len(split.metrics["value_loss"].sharding.device_set) == 2
    assert len(one.metrics["value_loss"].sharding.device_set) == 1
    _assert_same_run(split, one)


@pytest.mark.heavy  # tens of seconds on 2 cores
def test_split_envs_seeds_equal_the_one_device_seeds(tiny_config):
    """The same with several runs vmapped inside the sharded program (and the hash shuffle)."""
    config = tiny_config.replace(shuffle="hash", total_timesteps=4 * 8 * 2)
    _assert_same_run(
        train_seeds(config, [3, 11], split_envs=True), train_seeds(config, [3, 11], shard=False)
    )


def _layout(config, num_runs=1, **kwargs):
    return plan_layout(
        num_runs,
        num_envs=config.num_envs,
        num_steps=config.num_steps,
        num_minibatches=config.num_minibatches,
        **kwargs,
    )


@pytest.mark.full  # minutes of compiling; the CLI test runs this path in the default suite
def test_split_seeds_checkpoint_ranges_and_layout_switch(tiny_config):
    """The range drivers (the session's path) under split_envs: the state has the unsplit
    shapes, consecutive ranges replay the whole run, and a split state continues unsplit."""
    config = tiny_config.replace(total_timesteps=tiny_config.batch_size * 4)
    whole = train_seeds(config, 2, split_envs=True)
    plan = planning.plan_seeds(config, 2, split_envs=True)
    runner = programs.init_runs(plan)
    assert runner.env.obs.shape == (2, config.num_envs, 4)
    segment = programs.compile_segments(plan, runner, 2)
    runner, first = segment(runner, 0)
    runner, second = segment(runner, 2)
    for name in ("value_loss", "episode_return", "env_steps"):
        np.testing.assert_allclose(
            np.concatenate([first[name], second[name]], axis=1),
            whole.metrics[name],
            rtol=1e-4,
            atol=1e-6,
        )
    # A state saved by a split run continues on one device (same shapes; e.g. a checkpoint
    # resumed without --split-envs).
    one = planning.plan_seeds(config, 2, shard=False)
    half = jax.device_get(
        programs.compile_segments(plan, programs.init_runs(plan), 2)(programs.init_runs(plan), 0)[0]
    )
    _, rest = programs.compile_segments(one, half, 2)(half, 2)
    assert np.all(np.isfinite(rest["value_loss"]))
    np.testing.assert_array_equal(rest["env_steps"][0], config.batch_size * np.array([3, 4]))


def test_split_envs_bad_layouts_are_refused_before_compiling(tiny_config):
    with pytest.raises(ValueError, match="num_envs must be a multiple of 2"):
        _layout(tiny_config.replace(num_envs=3, total_timesteps=3 * 8 * 3), split_envs=True)
    with pytest.raises(ValueError, match="num_minibatches=16 must divide"):
        _layout(
            tiny_config.replace(num_minibatches=16, num_steps=4, total_timesteps=48),
            split_envs=True,
        )
    with pytest.raises(ValueError, match="exclusive"):
        _layout(tiny_config, 2, shard=True, split_envs=True)
    with pytest.raises(TypeError, match="split_envs"):
        train(tiny_config, jax.random.PRNGKey(0), split_envs="yes")  # type: ignore[arg-type]
    assert _layout(tiny_config).envs == 1


def test_layouts_of_runs(tiny_config):
    devices = jax.local_devices()
    assert _layout(tiny_config, 4) == Layout(tuple(devices), 2, 1)
    assert _layout(tiny_config, 3) == Layout(tuple(devices[:1]), 1, 1)  # 3 runs do not split
    assert _layout(tiny_config, 4, shard=False).size == 1
    assert _layout(tiny_config, 1, split_envs=True) == Layout(tuple(devices), 1, 2)
    assert _layout(tiny_config, 4, split_envs=True).axis_name == ENVS_AXIS
    with pytest.warns(RuntimeWarning, match="only 1 device"):
        _layout(tiny_config, 4, shard=True, devices=devices[:1])
    mesh = _layout(tiny_config, 4).mesh()
    assert mesh.axis_names == ("runs", "envs") and mesh.devices.shape == (2, 1)


def test_cpu_devices_are_configured_only_before_jax_starts():
    # JAX has started in this process: nothing may change.
    assert configure_cpu_devices(5) == 0
    assert jax.local_device_count() == 2


def test_importing_the_package_leaves_jax_distributed_startable():
    """``jax.distributed.initialize`` refuses once anything has started the XLA backend, so
    importing ``ppo_jax`` (the CLI and the tuned configs included, whose validation imports
    gymnax) must start nothing; a fresh process then joins a one-process job."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import ppo_jax, ppo_jax.cli.main, ppo_jax.io.tuned as t\n"
        f"ppo_jax.run.parallel.initialize('127.0.0.1:{port}', 1, 0)\n"
        "import jax; print(jax.process_count(), t.CARTPOLE_V1.total_timesteps)\n"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "393216"]
