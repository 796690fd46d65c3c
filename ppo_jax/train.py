"""Composition of the pure stages into one jittable training function, and its public drivers.

``make_train(config, env)`` returns ``train_fn(key, hp, env_params) -> (TrainState, Metrics)``:
init -> ``lax.scan`` over updates of (rollout -> GAE -> epochs of minibatch updates). The whole run,
initialisation included, is one compiled program; seeds are a ``vmap`` of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax import progress, xla
from ppo_jax.config import Hyperparams, PPOConfig
from ppo_jax.envs import action_spec, env_spec, make_env, reset_envs
from ppo_jax.gae import compute_gae, compute_reward_to_go
from ppo_jax.loss import explained_variance
from ppo_jax.networks import init_params
from ppo_jax.normalize import init_reward_norm, scale_rewards, update_stats
from ppo_jax.rollout import collect_rollout, rollout_values
from ppo_jax.types import (
    Array,
    Batch,
    Metrics,
    Params,
    PRNGKey,
    RewardNormState,
    RunnerState,
    TrainState,
)
from ppo_jax.update import init_opt_state, learning_rate_at, update_epochs

TrainFn = Callable[[PRNGKey, Hyperparams, Any], tuple[TrainState, Metrics]]


class TrainResult(NamedTuple):
    """Result of :func:`train` / :func:`train_seeds`.

    ``params``: final ``{"actor", "critic"}`` parameters (leading ``[S]`` seed axis from
    :func:`train_seeds`). ``metrics``: ``name -> array`` of shape ``[num_updates]`` (or
    ``[S, num_updates]``), see :class:`ppo_jax.types.Metrics` for the names.
    ``train_state``: the full final learner state (params, optimiser state, step).
    """

    params: Params
    metrics: dict[str, Array]
    train_state: TrainState


def _psum(x: Array, axis_name: str | None) -> Array:
    return x if axis_name is None else jax.lax.psum(x, axis_name)


def _mean_where(values: Array, mask: Array, axis_name: str | None = None) -> Array:
    count = _psum(jnp.sum(mask), axis_name)
    total = _psum(jnp.sum(jnp.where(mask, values, 0.0)), axis_name)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def shard_key(key: PRNGKey, axis_name: str | None) -> PRNGKey:
    """``key`` itself, or with ``axis_name`` a key for this device's shard of the environments
    (``fold_in`` of the device's index on the axis), so shards draw independent randomness."""
    return key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))


def update_step(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    hp: Hyperparams,
    runner: RunnerState,
    axis_name: str | None = None,
) -> tuple[RunnerState, Metrics]:
    """One PPO iteration: collect a rollout, compute targets, run the epochs of updates.

    With ``axis_name`` (inside ``shard_map`` over an environments axis, see ``split_envs``)
    ``runner.env`` holds this device's share of the ``config.num_envs`` environments; the
    gradient steps average over all shards, the statistics and metrics cover all of them, and
    every device ends with the same parameters.
    """
    key, rollout_key, epoch_key = jax.random.split(runner.key, 3)
    rollout_key, epoch_key = shard_key(rollout_key, axis_name), shard_key(epoch_key, axis_name)
    params = runner.train_state.params
    env_carry, traj = collect_rollout(config, env, env_params, params, runner.env, rollout_key)
    values, next_values = rollout_values(config, params, traj)
    rewards, reward_norm = traj.reward, runner.reward_norm
    if config.normalize_rewards:
        reward_norm, rewards = scale_rewards(
            reward_norm,
            traj.reward,
            traj.terminated | traj.truncated,
            hp.gamma,
            config.norm_clip,
            axis_name,
        )
    advantages, targets = compute_gae(
        rewards, values, next_values, traj.terminated, traj.truncated, hp.gamma, hp.gae_lambda
    )
    if config.value_target == "reward_to_go":
        targets = compute_reward_to_go(
            rewards, next_values, traj.terminated, traj.truncated, hp.gamma
        )
    batch = Batch(
        obs=traj.obs,
        action=traj.action,
        log_prob=traj.log_prob,
        value=values,
        advantage=advantages,
        target=targets,
    )
    batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)  # [T * N, ...]
    train_state, (info, grad_norms) = update_epochs(
        config, hp, runner.train_state, batch, epoch_key, axis_name
    )
    if config.normalize_observations:
        # The rollout acted with the old statistics, and the epochs reused them (ratios start
        # at 1); the next rollout uses statistics that include this one's observations.
        new_params = {
            **train_state.params,
            "obs_norm": update_stats(train_state.params["obs_norm"], traj.obs, axis_name),
        }
        train_state = train_state._replace(params=new_params)
    done = traj.terminated | traj.truncated
    metrics = Metrics(
        episode_return=_mean_where(traj.completed_return, done, axis_name),
        episode_length=_mean_where(traj.completed_length.astype(jnp.float32), done, axis_name),
        episodes_completed=_psum(jnp.sum(done).astype(jnp.int32), axis_name),
        policy_loss=info.policy_loss.mean(),
        value_loss=info.value_loss.mean(),
        entropy=info.entropy.mean(),
        approx_kl=info.approx_kl.mean(),
        clip_fraction=info.clip_fraction.mean(),
        explained_variance=explained_variance(batch.value, batch.target, axis_name),
        learning_rate=learning_rate_at(config, hp, train_state.step - 1),
        grad_norm=grad_norms.mean(),
        env_steps=(train_state.step // (config.update_epochs * config.num_minibatches))
        * config.batch_size,
    )
    runner = RunnerState(train_state=train_state, env=env_carry, key=key, reward_norm=reward_norm)
    return runner, metrics


def init_runner(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    hp: Hyperparams,
    key: PRNGKey,
    axis_name: str | None = None,
) -> RunnerState:
    """Fresh parameters, optimiser state and reset environments for one run.

    With ``axis_name`` this device resets its ``num_envs / axis size`` share of the
    environments (the parameters are the same on every device).
    """
    obs_shape, action_size = env_spec(env, env_params)
    continuous = action_spec(env, env_params).continuous
    init_key, reset_key, key = jax.random.split(key, 3)
    params = init_params(config, init_key, obs_shape, action_size, continuous=continuous)
    num_envs = config.num_envs
    if axis_name is not None:
        num_envs //= jax.lax.axis_size(axis_name)
    env_carry = reset_envs(env, env_params, shard_key(reset_key, axis_name), num_envs)
    if config.normalize_observations:
        params["obs_norm"] = update_stats(params["obs_norm"], env_carry.obs, axis_name)
    train_state = TrainState(
        params=params, opt_state=init_opt_state(config, hp, params), step=jnp.int32(0)
    )
    return RunnerState(
        train_state=train_state,
        env=env_carry,
        key=key,
        reward_norm=init_reward_norm(num_envs),
    )


def _report_progress(update: Array, metrics: Metrics) -> None:
    """Hand one seed's progress to the host (see :mod:`ppo_jax.progress`)."""
    count = metrics.episodes_completed
    return_sum = jnp.where(count > 0, metrics.episode_return * count, 0.0)
    jax.debug.callback(progress._dispatch, update, metrics.env_steps, return_sum, count)


def make_train(
    config: PPOConfig, env: Any = None, progress_every: int = 0, axis_name: str | None = None
) -> TrainFn:
    """The pure training function for ``config``: ``train_fn(key, hp, env_params)``.

    ``env`` defaults to ``gymnax.make(config.env_name)``. The returned function is jittable and
    vmappable over ``key`` (seeds), ``hp`` (sweeps) and ``env_params``; it returns the final
    :class:`TrainState` and :class:`Metrics` stacked over ``[num_updates]``. With
    ``progress_every > 0`` it reports to :mod:`ppo_jax.progress` every that many updates and
    after the last one. With ``axis_name`` it is the program of one device holding a share of
    the environments (inside ``shard_map``; see :func:`update_step`).
    """
    if env is None:
        env, _ = make_env(config)
    if (
        isinstance(progress_every, bool)
        or not isinstance(progress_every, int)
        or progress_every < 0
    ):
        raise ValueError(f"progress_every must be an int >= 0, got {progress_every!r}")

    def train_fn(key: PRNGKey, hp: Hyperparams, env_params: Any) -> tuple[TrainState, Metrics]:
        runner = init_runner(config, env, env_params, hp, key, axis_name)
        runner, metrics = run_update_range(
            config,
            env,
            env_params,
            hp,
            runner,
            jnp.int32(0),
            config.num_updates,
            progress_every,
            axis_name=axis_name,
        )
        return runner.train_state, metrics

    return train_fn


def run_update_range(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    hp: Hyperparams,
    runner: RunnerState,
    start: Array,
    length: int,
    progress_every: int = 0,
    stop: Array | None = None,
    axis_name: str | None = None,
) -> tuple[RunnerState, Metrics]:
    """Updates ``start .. start + length - 1`` (``length`` static) in one ``lax.scan``.

    The whole run is ``run_update_range(.., 0, num_updates)``; checkpointed runs call it on
    consecutive ranges with the carried ``runner`` and get the same sequence of updates. With a
    (traced) ``stop``, updates at indices ``>= stop`` are skipped (state unchanged, NaN/0
    metrics), so one compiled range length also serves a shorter last range. ``axis_name``: see
    :func:`update_step`; progress is then reported by the axis' first device only.
    """

    def one_update(r: RunnerState, update: Array) -> tuple[RunnerState, Metrics]:
        r, metrics = update_step(config, env, env_params, hp, r, axis_name)
        if progress_every:
            done = update + 1
            due = (done % progress_every == 0) | (done == config.num_updates)
            if axis_name is not None:
                due = due & (jax.lax.axis_index(axis_name) == 0)
            jax.lax.cond(due, _report_progress, lambda *_: None, done, metrics)
        return r, metrics

    def skipped(r: RunnerState, update: Array) -> tuple[RunnerState, Metrics]:
        shapes = jax.eval_shape(
            lambda x: update_step(config, env, env_params, hp, x, axis_name)[1], r
        )
        blank = jax.tree.map(
            lambda s: jnp.full(
                s.shape, jnp.nan if jnp.issubdtype(s.dtype, jnp.floating) else 0, s.dtype
            ),
            shapes,
        )
        return r, blank

    def body(r: RunnerState, update: Array) -> tuple[RunnerState, Metrics]:
        if stop is None:
            return one_update(r, update)
        return jax.lax.cond(update < stop, one_update, skipped, r, update)

    return jax.lax.scan(body, runner, start + jnp.arange(length, dtype=jnp.int32))


# --------------------------------------------------------------------- cached compiled drivers
SEEDS_AXIS = "seeds"
"""Mesh axis name of the seed dimension when multi-seed runs are split over devices."""


def seed_shards(num_seeds: int, shard: bool) -> int:
    """Devices a ``num_seeds``-seed run is split over: with ``shard``, all local devices when
    they divide the seeds evenly; else 1 (one device runs them all).

    Sharding is opt-in because it changes how many seeds one device batches, which changes
    float rounding inside XLA's fused kernels; a given seed's run is then reproducible for the
    same seed count and device layout, not across layouts.
    """
    if not isinstance(shard, bool):
        raise TypeError(f"shard must be a bool, got {shard!r}")
    devices = jax.local_device_count()
    return devices if shard and devices > 1 and num_seeds % devices == 0 else 1


ENVS_AXIS = "envs"
"""Mesh axis name of the environments when each run's environments are split over devices."""


def env_shards(config: PPOConfig, split_envs: bool) -> int:
    """Devices each run's environments are split over: with ``split_envs``, all local devices
    (data parallelism within a run: each device steps ``num_envs / devices`` environments and
    holds that share of every minibatch; gradients are averaged with ``pmean``); else 1.

    Raises ``ValueError`` when the device count does not divide ``num_envs``, or the per-device
    rollout ``num_envs / devices * num_steps`` is not a multiple of ``num_minibatches``.
    """
    if not isinstance(split_envs, bool):
        raise TypeError(f"split_envs must be a bool, got {split_envs!r}")
    devices = jax.local_device_count()
    if not split_envs or devices == 1:
        return 1
    if config.num_envs % devices:
        raise ValueError(
            f"split_envs=True splits PPOConfig.num_envs={config.num_envs} over {devices} "
            f"devices: num_envs must be a multiple of {devices}"
        )
    local_batch = config.num_envs // devices * config.num_steps
    if local_batch % config.num_minibatches:
        raise ValueError(
            f"split_envs=True over {devices} devices leaves each device "
            f"num_envs / {devices} * num_steps = {local_batch} transitions per rollout, which "
            f"PPOConfig.num_minibatches={config.num_minibatches} must divide"
        )
    return devices


def device_layout(
    config: PPOConfig, num_seeds: int, shard: bool, split_envs: bool
) -> tuple[int, int]:
    """``(seed shards, environment shards)`` of a ``num_seeds``-seed run: how many devices the
    seeds (``shard``, :func:`seed_shards`) or each seed's environments (``split_envs``,
    :func:`env_shards`) are split over. Raises ``ValueError`` for a layout that cannot work
    (both at once, or sizes the device count does not divide); nothing is compiled."""
    if shard is True and split_envs is True:
        raise ValueError("shard=True (seeds over devices) and split_envs=True are exclusive")
    return seed_shards(num_seeds, shard), env_shards(config, split_envs)


def _runner_specs() -> RunnerState:
    """Partition of an ``[S]``-batched :class:`RunnerState` over :data:`ENVS_AXIS`: the
    environments (axis 1 of their leaves) are split, the learner state is replicated."""
    split = PartitionSpec(None, ENVS_AXIS)
    return RunnerState(
        train_state=PartitionSpec(),  # type: ignore[arg-type]
        env=split,  # type: ignore[arg-type]
        key=PartitionSpec(),  # type: ignore[arg-type]
        reward_norm=RewardNormState(returns=split, stats=PartitionSpec()),  # type: ignore[arg-type]
    )


def _shard_mapped(
    fn: Callable[..., Any], shards: int, axis: str, in_specs: Any, out_specs: Any
) -> Callable[..., Any]:
    """``jit(shard_map(fn))`` over a 1-D mesh ``axis`` of the first ``shards`` local devices."""
    mesh = Mesh(np.asarray(jax.local_devices()[:shards]), (axis,))
    sharded = jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    out_shardings = jax.tree.map(
        lambda spec: NamedSharding(mesh, spec),
        out_specs,
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )
    return xla.jit(sharded, out_shardings=out_shardings)


def _over_envs(
    fn: Callable[..., Any], shards: int, in_specs: Any, out_specs: Any
) -> Callable[..., Any]:
    """``jit(shard_map(fn))`` over the first ``shards`` local devices on :data:`ENVS_AXIS`."""
    return _shard_mapped(fn, shards, ENVS_AXIS, in_specs, out_specs)


def _over_seeds(fn: Callable[..., Any], shards: int, num_args: int) -> Callable[..., Any]:
    """``jit(fn)``, where ``fn`` maps ``[S]``-leading first argument (and results) per seed;
    with ``shards > 1`` the seed axis is split over the first ``shards`` local devices
    (``shard_map``: each device runs its seeds, no communication)."""
    if shards == 1:
        return xla.jit(fn)
    spec = PartitionSpec(SEEDS_AXIS)
    in_specs = (spec, *[PartitionSpec()] * (num_args - 1))
    return _shard_mapped(fn, shards, SEEDS_AXIS, in_specs, spec)


@functools.lru_cache(maxsize=32)
def _jitted(
    config: PPOConfig,
    env: Any,
    batched: bool,
    progress_every: int,
    shards: int = 1,
    envs_shards: int = 1,
) -> Any:
    if envs_shards > 1:
        fn = make_train(config, env, progress_every, axis_name=ENVS_AXIS)
        if batched:
            fn = jax.vmap(fn, in_axes=(0, None, None))
        replicated = PartitionSpec()
        return _over_envs(fn, envs_shards, (replicated,) * 3, replicated)
    fn = make_train(config, env, progress_every)
    if not batched:
        return xla.jit(fn)
    return _over_seeds(jax.vmap(fn, in_axes=(0, None, None)), shards, 3)


def _resolve_env(config: PPOConfig, env: Any, env_params: Any) -> tuple[Any, Any]:
    """``(env_or_None, env_params)``, checked; ``None`` stands for ``config.env_name`` (and is
    the compile-cache key for it)."""
    if env is None:
        env_obj, default_params = make_env(config)
        params = default_params if env_params is None else env_params
        env_spec(env_obj, params)
        return None, params
    if not hasattr(env, "default_params"):
        raise TypeError(f"env must be a gymnax Environment (missing .default_params), got {env!r}")
    params = env.default_params if env_params is None else env_params
    env_spec(env, params)
    return env, params


def _result(state: TrainState, metrics: Metrics) -> TrainResult:
    return TrainResult(params=state.params, metrics=dict(metrics._asdict()), train_state=state)


def _check_config(config: Any) -> PPOConfig:
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a ppo_jax.PPOConfig, got {type(config).__name__}")
    return config


def _check_key(key: Any) -> Array:
    key = key if isinstance(key, jax.Array) else jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if key.shape != (2,) or key.dtype != jnp.uint32:
        raise ValueError(
            "key must be a jax.random.PRNGKey (uint32[2]) or a typed key, got "
            f"{key.dtype}{list(key.shape)}"
        )
    return key


def seed_keys(seeds: int | Sequence[int]) -> Array:
    """``[S, 2]`` keys ``PRNGKey(s)`` for a list of int seeds, or for ``range(seeds)``."""
    if isinstance(seeds, bool) or not isinstance(seeds, int | Sequence) or isinstance(seeds, str):
        raise TypeError(f"seeds must be an int count or a list of ints, got {seeds!r}")
    if isinstance(seeds, int) and seeds < 1:
        raise ValueError(f"seeds must be >= 1 when given as a count, got {seeds}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds must not be empty")
    for s in seed_list:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"seeds must be non-negative ints, got {s!r}")
    return jnp.stack([jax.random.PRNGKey(s) for s in seed_list])


def train(
    config: PPOConfig,
    key: Any,
    *,
    env: Any = None,
    env_params: Any = None,
    progress_every: int = 0,
    split_envs: bool = False,
) -> TrainResult:
    """Train one PPO agent; the whole run is one compiled call (cached per config and env).

    Args:
      config: static settings and default hyperparameters.
      key: ``jax.random.PRNGKey(seed)``.
      env, env_params: optional gymnax environment (and params) overriding ``config.env_name``.
      progress_every: report to :mod:`ppo_jax.progress` every that many updates (0: never).
      split_envs: split the environments (and every minibatch) over all local devices, one
        run on several devices with averaged gradients (see :func:`env_shards`). The result
        equals the one-device run's in distribution, not bit for bit: each device draws its own
        random numbers and shuffles its own share of the rollout.
    """
    config = _check_config(config)
    key = _check_key(key)
    cache_env, params = _resolve_env(config, env, env_params)
    fn = _jitted(config, cache_env, False, progress_every, 1, env_shards(config, split_envs))
    state, metrics = fn(key, config.hyperparams(), params)
    return _result(state, metrics)


def compile_train_seeds(
    config: PPOConfig,
    seeds: int | Sequence[int],
    *,
    env: Any = None,
    env_params: Any = None,
    progress_every: int = 0,
    shard: bool = False,
    split_envs: bool = False,
) -> Callable[[], TrainResult]:
    """Compile :func:`train_seeds` ahead of time; returns a zero-argument function that runs it.

    Lets a caller time compilation and execution separately (the CLI and benchmarks do).
    """
    config = _check_config(config)
    keys = seed_keys(seeds)
    cache_env, params = _resolve_env(config, env, env_params)
    hp = config.hyperparams()
    layout = device_layout(config, keys.shape[0], shard, split_envs)
    jitted = _jitted(config, cache_env, True, progress_every, *layout)
    compiled = jitted.lower(keys, hp, params).compile()

    def run() -> TrainResult:
        state, metrics = compiled(keys, hp, params)
        return _result(state, metrics)

    return run


# --------------------------------------------------------------- checkpointable multi-seed runs
@functools.lru_cache(maxsize=16)
def _init_jit(config: PPOConfig, env: Any, shards: int = 1, envs_shards: int = 1) -> Any:
    env_obj = env if env is not None else make_env(config)[0]
    axis_name = ENVS_AXIS if envs_shards > 1 else None

    def init(keys: Array, hp: Hyperparams, env_params: Any) -> RunnerState:
        def one(key: Array) -> RunnerState:
            return init_runner(config, env_obj, env_params, hp, key, axis_name)

        return jax.vmap(one)(keys)

    if envs_shards > 1:
        return _over_envs(init, envs_shards, (PartitionSpec(),) * 3, _runner_specs())
    return _over_seeds(init, shards, 3)


@functools.lru_cache(maxsize=16)
def _range_jit(
    config: PPOConfig,
    env: Any,
    length: int,
    progress_every: int,
    shards: int = 1,
    envs_shards: int = 1,
) -> Any:
    env_obj = env if env is not None else make_env(config)[0]
    axis_name = ENVS_AXIS if envs_shards > 1 else None

    def run(
        runner: RunnerState, hp: Hyperparams, env_params: Any, start: Array, stop: Array
    ) -> Any:
        def one(r: RunnerState) -> tuple[RunnerState, Metrics]:
            return run_update_range(
                config, env_obj, env_params, hp, r, start, length, progress_every, stop, axis_name
            )

        return jax.vmap(one)(runner)

    if envs_shards > 1:
        replicated = PartitionSpec()
        specs = _runner_specs()
        return _over_envs(run, envs_shards, (specs, *[replicated] * 4), (specs, replicated))
    return _over_seeds(run, shards, 5)


def runner_template(
    config: PPOConfig,
    num_seeds: int,
    *,
    env: Any = None,
    env_params: Any = None,
    shard: bool = False,
    split_envs: bool = False,
) -> RunnerState:
    """Shapes and dtypes (``jax.ShapeDtypeStruct``) of the ``[num_seeds]`` runner state that
    :func:`init_seeds` creates; nothing is compiled or run."""
    config = _check_config(config)
    cache_env, params = _resolve_env(config, env, env_params)
    keys = jax.ShapeDtypeStruct((num_seeds, 2), jnp.uint32)
    init = _init_jit(config, cache_env, *device_layout(config, num_seeds, shard, split_envs))
    return jax.eval_shape(init, keys, config.hyperparams(), params)


def init_seeds(
    config: PPOConfig,
    seeds: int | Sequence[int],
    *,
    env: Any = None,
    env_params: Any = None,
    shard: bool = False,
    split_envs: bool = False,
) -> RunnerState:
    """Fresh runner states for ``seeds`` (leading ``[S]`` axis), as :func:`train_seeds` starts.

    The state's shapes do not depend on ``shard``/``split_envs`` (only where its arrays live),
    so a checkpoint written under one layout resumes under another.
    """
    config = _check_config(config)
    cache_env, params = _resolve_env(config, env, env_params)
    keys = seed_keys(seeds)
    init = _init_jit(config, cache_env, *device_layout(config, keys.shape[0], shard, split_envs))
    return init(keys, config.hyperparams(), params)


def run_updates(
    config: PPOConfig,
    runner: RunnerState,
    start: int,
    length: int,
    *,
    env: Any = None,
    env_params: Any = None,
    progress_every: int = 0,
    shard: bool = False,
    split_envs: bool = False,
) -> tuple[RunnerState, dict[str, Array]]:
    """Continue ``[S]``-batched runs by up to ``length`` updates from update index ``start``
    (fewer where the run ends first).

    Returns the new runner states and metrics ``[S, n]``. Splitting a run into consecutive
    ranges (for checkpoints) replays exactly the updates of an unsplit run.
    """
    return compile_run_updates(
        config,
        runner,
        length,
        env=env,
        env_params=env_params,
        progress_every=progress_every,
        shard=shard,
        split_envs=split_envs,
    )(runner, start)


def compile_run_updates(
    config: PPOConfig,
    runner: RunnerState,
    length: int,
    *,
    env: Any = None,
    env_params: Any = None,
    progress_every: int = 0,
    shard: bool = False,
    split_envs: bool = False,
) -> Callable[[RunnerState, int], tuple[RunnerState, dict[str, Array]]]:
    """Compile ranges of ``length`` updates once (timing compilation apart from running).

    Returns ``fn(runner, start) -> (runner, metrics [S, n])`` running ``n = min(length,
    num_updates - start)`` updates; a shorter last range reuses the same executable.
    """
    config = _check_config(config)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be an int >= 1, got {length!r}")
    cache_env, params = _resolve_env(config, env, env_params)
    hp = config.hyperparams()
    num_seeds = jax.tree.leaves(runner)[0].shape[0]
    layout = device_layout(config, num_seeds, shard, split_envs)
    jitted = _range_jit(config, cache_env, length, progress_every, *layout)
    compiled = jitted.lower(runner, hp, params, jnp.int32(0), jnp.int32(0)).compile()

    def run(r: RunnerState, start: int) -> tuple[RunnerState, dict[str, Array]]:
        if not 0 <= start < config.num_updates:
            raise ValueError(f"start must be in [0, {config.num_updates}), got {start}")
        n = min(length, config.num_updates - start)
        out, metrics = compiled(r, hp, params, jnp.int32(start), jnp.int32(start + n))
        return out, {k: v[:, :n] for k, v in metrics._asdict().items()}

    return run


def train_seeds(
    config: PPOConfig,
    seeds: int | Sequence[int],
    *,
    env: Any = None,
    env_params: Any = None,
    progress_every: int = 0,
    shard: bool = False,
    split_envs: bool = False,
) -> TrainResult:
    """Train one agent per seed in ONE compiled call (``vmap`` over keys).

    ``seeds`` is a list of ints or an int count (``range(seeds)``). Every leaf of the result has
    a leading ``[S]`` seed axis; entry ``i`` equals ``train(config, PRNGKey(seeds[i]))`` up to
    float tolerance. With ``shard=True`` the seeds are split over all local devices (when they
    divide the seed count), e.g. the host devices of a CPU or several GPUs. With
    ``split_envs=True`` every seed's environments and minibatches are split over all local
    devices instead (see :func:`env_shards`; useful when there are fewer seeds than devices).
    """
    config = _check_config(config)
    keys = seed_keys(seeds)
    cache_env, params = _resolve_env(config, env, env_params)
    layout = device_layout(config, keys.shape[0], shard, split_envs)
    fn = _jitted(config, cache_env, True, progress_every, *layout)
    state, metrics = fn(keys, config.hyperparams(), params)
    return _result(state, metrics)
