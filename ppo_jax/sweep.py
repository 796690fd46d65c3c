"""Hyperparameter sweeps: every setting x seed in one compiled program, sharded over devices.

The settings x seeds grid is flattened to one "runs" axis of size ``P = settings * seeds``.
Each run gets its own key (``PRNGKey(seed)``) and its own traced :class:`Hyperparams`; the
compiled function is ``shard_map`` over a 1-D device mesh of ``vmap(train_fn)`` over the runs
each device holds, so runs never communicate and 1, 2 host devices, 8 GPUs or several hosts
(``jax.distributed``) run the same code. If the runs do not fit in memory at once, they are
split into equal chunks run one after another by one compiled function.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax import xla
from ppo_jax.config import TRACED_FIELDS, Hyperparams, PPOConfig, config_field_names
from ppo_jax.envs import env_spec, make_env
from ppo_jax.train import (
    TrainResult,
    _check_config,
    _check_key,
    _resolve_env,
    make_train,
    seed_keys,
)
from ppo_jax.types import Metrics

RUNS_AXIS = "runs"
MEMORY_BUDGET_FRACTION = 0.5
"""Share of the free device memory a sweep chunk may plan to use."""
BYTES_PER_FLOAT = 4
MEMORY_SAFETY_FACTOR = 3.0
"""Multiplier on the analytic per-run estimate (XLA keeps temporaries alive beside the carry)."""

Setting = dict[str, float]


class SweepResult(NamedTuple):
    """Result of :func:`sweep`. Leaves of ``params``/``metrics``/``train_state`` have leading
    ``[settings, seeds]`` axes; ``settings[i]`` is the hyperparameter setting of row ``i``."""

    settings: list[Setting]
    seeds: list[int]
    params: Any
    metrics: dict[str, np.ndarray]
    train_state: Any
    chunk_size: int
    """Runs per compiled call (a multiple of the device count)."""
    num_chunks: int
    """Compiled calls made one after another (1: everything ran at once)."""
    num_devices: int

    def row(self, i: int) -> TrainResult:
        """Setting ``i`` as a :class:`TrainResult` with a leading seed axis."""
        pick = lambda x: x[i]  # noqa: E731
        return TrainResult(
            params=jax.tree.map(pick, self.params),
            metrics={k: v[i] for k, v in self.metrics.items()},
            train_state=jax.tree.map(pick, self.train_state),
        )


# --------------------------------------------------------------------------- settings tables
def check_sweep_field(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a sweepable (traced) config field."""
    if name in TRACED_FIELDS:
        return
    if name in config_field_names():
        raise ValueError(
            f"PPOConfig.{name} cannot be swept: it sets an array shape, a loop length or the "
            f"environment, so it is static. Sweepable fields: {', '.join(TRACED_FIELDS)}"
        )
    raise ValueError(f"unknown sweep field {name!r}; sweepable fields: {', '.join(TRACED_FIELDS)}")


def grid_settings(grid: Mapping[str, Sequence[float]]) -> list[Setting]:
    """Full Cartesian product of ``grid`` (field -> list of values), first field slowest."""
    names = list(grid)
    for name in names:
        check_sweep_field(name)
        values = grid[name]
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of numbers, got {values!r}")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]


class LogUniform(NamedTuple):
    """Random-search distribution: log-uniform on ``[low, high]`` (both > 0)."""

    low: float
    high: float


class Uniform(NamedTuple):
    """Random-search distribution: uniform on ``[low, high]``."""

    low: float
    high: float


def random_settings(
    space: Mapping[str, LogUniform | Uniform | Sequence[float]], num_samples: int, key: Any
) -> list[Setting]:
    """``num_samples`` settings drawn independently from ``space`` with ``key``.

    Each field maps to :class:`LogUniform`, :class:`Uniform` or a list of choices.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
    rng = np.random.default_rng(np.asarray(_check_key(key), np.uint32))
    columns: dict[str, np.ndarray] = {}
    for name, dist in space.items():
        check_sweep_field(name)
        if isinstance(dist, LogUniform):
            if not 0 < dist.low <= dist.high:
                raise ValueError(f"space[{name!r}]: LogUniform needs 0 < low <= high, got {dist}")
            columns[name] = np.exp(rng.uniform(np.log(dist.low), np.log(dist.high), num_samples))
        elif isinstance(dist, Uniform):
            if not dist.low <= dist.high:
                raise ValueError(f"space[{name!r}]: Uniform needs low <= high, got {dist}")
            columns[name] = rng.uniform(dist.low, dist.high, num_samples)
        elif isinstance(dist, Sequence) and not isinstance(dist, str) and dist:
            columns[name] = np.asarray(dist, np.float64)[rng.integers(0, len(dist), num_samples)]
        else:
            raise ValueError(
                f"space[{name!r}] must be LogUniform, Uniform or a list of choices, got {dist!r}"
            )
    return [{k: float(v[i]) for k, v in columns.items()} for i in range(num_samples)]


def normalize_settings(
    config: PPOConfig, grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]]
) -> list[Setting]:
    """A list of settings from a grid dict (Cartesian product) or an explicit list; every
    setting is validated by building ``config.replace(**setting)``."""
    if isinstance(grid, Mapping):
        settings = grid_settings(grid)
    elif isinstance(grid, Sequence) and not isinstance(grid, str):
        settings = []
        for s in grid:
            if not isinstance(s, Mapping):
                raise TypeError(f"each explicit setting must be a dict, got {s!r}")
            for name in s:
                check_sweep_field(name)
            settings.append(dict(s))
    else:
        raise TypeError(
            f"grid must be a dict of field -> values or a list of settings, got {grid!r}"
        )
    if not settings:
        raise ValueError("the sweep has no settings")
    out = []
    for s in settings:
        checked = config.replace(**s)  # raises ValueError naming the field
        out.append({k: float(getattr(checked, k)) for k in s})
    return out


def settings_hyperparams(config: PPOConfig, settings: Sequence[Setting]) -> Hyperparams:
    """``Hyperparams`` with ``[len(settings)]`` float32 leaves (unswept fields from ``config``)."""
    base = config.hyperparams()._asdict()
    return Hyperparams(
        **{
            name: np.asarray([s.get(name, base[name]) for s in settings], np.float32)
            for name in TRACED_FIELDS
        }
    )


# --------------------------------------------------------------------------- memory planning
def estimate_run_bytes(config: PPOConfig, obs_size: int, num_actions: int) -> int:
    """Analytic upper estimate of the device memory one training run needs while it runs."""
    sizes = [obs_size, *config.hidden_sizes]
    params = sum(a * b + b for a, b in itertools.pairwise(sizes)) * 2
    params += (sizes[-1] + 1) * (num_actions + 1)
    state = params * 4  # params, Adam mu and nu, gradients
    transition = config.batch_size * (2 * obs_size + 10)
    batch = config.batch_size * (obs_size + 6) * 2  # flattened and shuffled copies
    widest = max(config.hidden_sizes)
    activations = config.minibatch_size * widest * len(config.hidden_sizes) * 2 * 4
    metrics = config.num_updates * len(Metrics._fields)
    floats = state + transition + batch + activations + metrics
    return int(MEMORY_SAFETY_FACTOR * BYTES_PER_FLOAT * floats)


def free_device_memory(device: Any) -> int:
    """Free memory of ``device`` in bytes: ``memory_stats`` on accelerators, MemAvailable
    (split over the host's devices) on CPU."""
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    total = int(line.split()[1]) * 1024
                    return total // max(1, jax.local_device_count())
    except OSError:
        pass
    return 8 * 1024**3


def plan_chunks(
    num_runs: int,
    num_devices: int,
    run_bytes: int,
    free_bytes: int,
    chunk_size: int | None = None,
) -> tuple[int, int]:
    """``(chunk_size, num_chunks)``: the largest chunk (a multiple of ``num_devices``) whose
    runs fit in ``MEMORY_BUDGET_FRACTION`` of each device's free memory, or the forced size."""
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
        if chunk_size % num_devices:
            raise ValueError(
                f"chunk_size={chunk_size} must be a multiple of the device count {num_devices}"
            )
        size = chunk_size
    else:
        per_device = max(1, int(MEMORY_BUDGET_FRACTION * free_bytes // max(run_bytes, 1)))
        needed_per_device = math.ceil(num_runs / num_devices)
        size = min(per_device, needed_per_device) * num_devices
    size = min(size, math.ceil(num_runs / num_devices) * num_devices)
    return size, math.ceil(num_runs / size)


# --------------------------------------------------------------------------- execution
def _mesh(devices: Sequence[Any] | None) -> Mesh:
    devs = list(jax.devices()) if devices is None else list(devices)
    if not devs:
        raise ValueError("devices must not be empty")
    return Mesh(np.asarray(devs), (RUNS_AXIS,))


def _global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A sharded global array from a host array every process holds in full."""
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def _to_host(tree: Any) -> Any:
    """Fetch a (possibly multi-host) sharded pytree to numpy on every process."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))
    return jax.tree.map(np.asarray, tree)


@functools.lru_cache(maxsize=16)
def _sweep_jit(config: PPOConfig, env: Any, mesh: Mesh, progress_every: int) -> Any:
    """``jit(shard_map(vmap(train_fn)))`` over the runs axis of ``mesh``; jit's own cache then
    keeps one executable per chunk size, so repeated sweeps and chunks compile once."""
    train_fn = make_train(config, env, progress_every)
    spec = PartitionSpec(RUNS_AXIS)

    def local(keys: jax.Array, hp: Hyperparams, env_params: Any) -> Any:
        return jax.vmap(train_fn, in_axes=(0, 0, None))(keys, hp, env_params)

    sharded = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(spec, spec, PartitionSpec()),
        out_specs=spec,
        check_vma=False,  # runs never communicate; the env carries start replicated
    )
    return xla.jit(sharded, out_shardings=NamedSharding(mesh, spec))


def compile_sweep_chunk(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    mesh: Mesh,
    chunk_size: int,
    progress_every: int = 0,
) -> Any:
    """Compile one chunk of ``chunk_size`` runs ahead of time (for timing compilation)."""
    runs = NamedSharding(mesh, PartitionSpec(RUNS_AXIS))
    keys = jax.ShapeDtypeStruct((chunk_size, 2), jnp.uint32, sharding=runs)
    hp = Hyperparams(
        *[jax.ShapeDtypeStruct((chunk_size,), jnp.float32, sharding=runs) for _ in TRACED_FIELDS]
    )
    return _sweep_jit(config, env, mesh, progress_every).lower(keys, hp, env_params).compile()


class SweepPlan(NamedTuple):
    """How :func:`run_sweep` will execute a sweep (from :func:`plan_sweep`)."""

    config: PPOConfig
    settings: list[Setting]
    seeds: list[int]
    mesh: Mesh
    chunk_size: int
    num_chunks: int
    run_bytes: int
    """Estimated device memory of one run."""
    free_bytes: int
    """Free memory per device the plan was made for."""
    env: Any
    env_params: Any

    @property
    def num_runs(self) -> int:
        return len(self.settings) * len(self.seeds)

    @property
    def num_devices(self) -> int:
        return int(self.mesh.devices.size)


def plan_sweep(
    config: PPOConfig,
    grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
    seeds: int | Sequence[int],
    *,
    chunk_size: int | None = None,
    devices: Sequence[Any] | None = None,
    memory_bytes: int | None = None,
    env: Any = None,
    env_params: Any = None,
) -> SweepPlan:
    """Validate a sweep and decide how to split it, before anything is compiled.

    See :func:`sweep` for the arguments.
    """
    config = _check_config(config)
    settings = normalize_settings(config, grid)
    seed_keys(seeds)  # validates
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    env_obj, params_env = _resolve_env(config, env, env_params)
    mesh = _mesh(devices)
    obs_shape, num_actions = env_spec(
        env_obj if env_obj is not None else make_env(config)[0], params_env
    )
    num_runs = len(settings) * len(seed_list)
    run_bytes = estimate_run_bytes(config, math.prod(obs_shape) or 1, num_actions)
    if memory_bytes is None:
        local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
        memory_bytes = min(free_device_memory(d) for d in local)
    size, num_chunks = plan_chunks(
        num_runs, int(mesh.devices.size), run_bytes, memory_bytes, chunk_size
    )
    return SweepPlan(
        config=config,
        settings=settings,
        seeds=seed_list,
        mesh=mesh,
        chunk_size=size,
        num_chunks=num_chunks,
        run_bytes=run_bytes,
        free_bytes=memory_bytes,
        env=env_obj,
        env_params=params_env,
    )


def run_sweep(plan: SweepPlan, *, progress_every: int = 0) -> SweepResult:
    """Execute ``plan``: one compiled function, called once per chunk."""
    config, settings, seed_list = plan.config, plan.settings, plan.seeds
    n_set, n_seed = len(settings), len(seed_list)
    num_runs, size, num_chunks = plan.num_runs, plan.chunk_size, plan.num_chunks
    hp_all = settings_hyperparams(config, settings)
    flat_keys = np.tile(np.asarray(seed_keys(seed_list)), (n_set, 1))  # run p = i * n_seed + j
    flat_hp = [np.repeat(np.asarray(v), n_seed) for v in hp_all]
    pad = size * num_chunks - num_runs
    if pad:  # padded runs repeat run 0 and are dropped afterwards
        flat_keys = np.concatenate([flat_keys, np.repeat(flat_keys[:1], pad, 0)])
        flat_hp = [np.concatenate([v, np.repeat(v[:1], pad)]) for v in flat_hp]

    compiled = _sweep_jit(config, plan.env, plan.mesh, progress_every)
    runs = NamedSharding(plan.mesh, PartitionSpec(RUNS_AXIS))
    pieces = []
    for c in range(num_chunks):
        sl = slice(c * size, (c + 1) * size)
        keys_c = _global_array(np.ascontiguousarray(flat_keys[sl]), runs)
        hp_c = Hyperparams(*[_global_array(np.ascontiguousarray(v[sl]), runs) for v in flat_hp])
        state, metrics = compiled(keys_c, hp_c, plan.env_params)
        pieces.append(_to_host((state, metrics)))
    state, metrics = jax.tree.map(lambda *xs: np.concatenate(xs)[:num_runs], *pieces)

    def unflat(x: np.ndarray) -> np.ndarray:
        return x.reshape(n_set, n_seed, *x.shape[1:])

    state = jax.tree.map(unflat, state)
    return SweepResult(
        settings=settings,
        seeds=seed_list,
        params=state.params,
        metrics={k: unflat(v) for k, v in metrics._asdict().items()},
        train_state=state,
        chunk_size=size,
        num_chunks=num_chunks,
        num_devices=plan.num_devices,
    )


def sweep(
    config: PPOConfig,
    grid: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
    seeds: int | Sequence[int],
    *,
    chunk_size: int | None = None,
    devices: Sequence[Any] | None = None,
    memory_bytes: int | None = None,
    env: Any = None,
    env_params: Any = None,
    progress_every: int = 0,
) -> SweepResult:
    """Train every setting of ``grid`` with every seed: one compiled program, sharded.

    Args:
      config: base settings; unswept hyperparameters come from it.
      grid: ``{field: [values]}`` (full Cartesian product) or a list of settings dicts (see
        also :func:`random_settings`). Only :data:`ppo_jax.config.TRACED_FIELDS` may be swept.
      seeds: an int count or a list of seeds; run (i, j) uses ``PRNGKey(seeds[j])``.
      chunk_size: force this many runs per compiled call (a multiple of the device count);
        default: as many as fit in memory.
      devices: devices to shard the runs over (default: all, across every process).
      memory_bytes: free memory per device to plan chunks for (default: measured).
      env, env_params: optional gymnax environment override.
      progress_every: report to :mod:`ppo_jax.progress` every that many updates (per run).

    Returns:
      :class:`SweepResult`; row ``i`` equals ``train_seeds(config.replace(**settings[i]),
      seeds)`` up to float tolerance.
    """
    plan = plan_sweep(
        config,
        grid,
        seeds,
        chunk_size=chunk_size,
        devices=devices,
        memory_bytes=memory_bytes,
        env=env,
        env_params=env_params,
    )
    return run_sweep(plan, progress_every=progress_every)
