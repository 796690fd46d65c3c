"""Devices: the ONE mesh helper every multi-run program uses, CPU device setup, multi-process.

Every driver (seeds, split environments, sweeps, population-based training) runs ``R`` runs of
one per-run function. :class:`Layout` places them on a 2-D device mesh ``(runs, envs)``: the runs
axis splits the runs over devices (they never communicate); the envs axis splits each run's
environments and minibatches over devices (data parallelism within a run: gradients, statistics
and metrics are reduced with collectives over ``ENVS_AXIS``). :func:`over_runs` compiles
``jit(shard_map(vmap(fn)))`` over that mesh, or ``jit(vmap(fn))`` on one device. 1 or 2 host
devices, 8 GPUs or several hosts (``jax.distributed``) run the same code.

On a CPU, XLA exposes one device unless told otherwise, and a training program keeps about one
core busy. :func:`configure_cpu_devices` (run when ``ppo_jax`` is imported, before JAX starts its
backends) exposes one device per core, so Python callers get every core by default; set
``PPO_JAX_CPU_DEVICES=N`` (or ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, or
``jax_num_cpu_devices``) to choose.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax.core.types import RewardNormState, RunnerState
from ppo_jax.run import backend

RUNS_AXIS = "runs"
"""Mesh axis of independent runs (seeds, settings, population members)."""
ENVS_AXIS = "envs"
"""Mesh axis of each run's environments (split within a run)."""
CPU_DEVICES_VARIABLE = "PPO_JAX_CPU_DEVICES"


# --------------------------------------------------------------------------- CPU devices
def cpu_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def configure_cpu_devices(count: int | None = None) -> int:
    """Expose ``count`` (default: ``PPO_JAX_CPU_DEVICES``, else one per core) XLA CPU devices,
    if JAX has not started its backends and the user has not chosen a count in ``XLA_FLAGS``
    (``xla_force_host_platform_device_count``); without ``count``, an earlier
    ``jax_num_cpu_devices`` setting is kept too. Returns the count set, or 0 when nothing was
    changed. Accelerators are unaffected."""
    from jax._src import xla_bridge

    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return 0
    if xla_bridge.backends_are_initialized():
        return 0
    if count is None and xla_bridge.num_cpu_devices.value != -1:
        return 0
    if count is None:
        raw = os.environ.get(CPU_DEVICES_VARIABLE, "")
        if raw:
            try:
                count = int(raw)
            except ValueError:
                raise ValueError(
                    f"{CPU_DEVICES_VARIABLE}={raw!r} must be a positive integer"
                ) from None
        else:
            count = cpu_cores()
    if count < 1:
        raise ValueError(f"{CPU_DEVICES_VARIABLE} must be >= 1, got {count}")
    jax.config.update("jax_num_cpu_devices", count)
    return count


_hinted: set[str] = set()


def hint_single_cpu_device(what: str) -> None:
    """Warn once per process when a CPU run could use more cores than JAX has devices for
    (JAX started before ``ppo_jax`` could configure it), naming the remedy."""
    if jax.default_backend() != "cpu" or jax.local_device_count() > 1 or cpu_cores() < 2:
        return
    if what in _hinted:
        return
    _hinted.add(what)
    warnings.warn(
        f"ppo_jax: {what} on 1 CPU device of {cpu_cores()} cores (JAX started before "
        "ppo_jax could add devices); import ppo_jax before running any JAX computation, or "
        f"set XLA_FLAGS=--xla_force_host_platform_device_count={cpu_cores()} before starting "
        "Python",
        RuntimeWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------- layouts
class Layout(NamedTuple):
    """Where ``R`` runs go: a ``(runs, envs)`` grid of devices."""

    devices: tuple[Any, ...]
    """The mesh's devices, row-major over ``(runs, envs)``."""
    runs: int
    """Shards of the runs axis."""
    envs: int
    """Shards of each run's environments."""

    @property
    def size(self) -> int:
        return self.runs * self.envs

    @property
    def axis_name(self) -> str | None:
        """The collective axis of split environments, or ``None``."""
        return ENVS_AXIS if self.envs > 1 else None

    def mesh(self) -> Mesh:
        grid = np.empty((self.runs, self.envs), dtype=object)
        for i, device in enumerate(self.devices):
            grid[i // self.envs, i % self.envs] = device
        return Mesh(grid, (RUNS_AXIS, ENVS_AXIS))

    def describe(self) -> str:
        """``"1 device"``, ``"seeds over 2 devices"`` ..."""
        if self.size == 1:
            return "1 device"
        parts = []
        if self.runs > 1:
            parts.append(f"runs over {self.runs}")
        if self.envs > 1:
            parts.append(f"environments over {self.envs}")
        return " x ".join(parts) + " devices"


def env_split_problem(num_envs: int, num_steps: int, num_minibatches: int, shards: int) -> str:
    """Why ``num_envs`` environments cannot be split ``shards`` ways, or ``""``."""
    if num_envs % shards:
        return f"num_envs must be a multiple of {shards}"
    local_batch = num_envs // shards * num_steps
    if local_batch % num_minibatches:
        return (
            f"each device gets num_envs / {shards} * num_steps = {local_batch} transitions per "
            f"rollout, which PPOConfig.num_minibatches={num_minibatches} must divide"
        )
    return ""


def plan_layout(
    num_runs: int,
    *,
    num_envs: int,
    num_steps: int,
    num_minibatches: int,
    recurrent: bool = False,
    shard: bool | str = "auto",
    split_envs: bool = False,
    devices: Sequence[Any] | None = None,
) -> Layout:
    """The layout of ``num_runs`` runs on ``devices`` (default: this process's devices).

    ``shard``: ``True`` splits the runs over as many devices as divide them evenly, ``False``
    keeps them on one device, ``"auto"`` splits when more than one device divides them.
    ``split_envs``: split every run's environments over all devices (``num_envs`` must be a
    multiple of the device count). ``ValueError`` for a layout that cannot work; ``TypeError``
    for a wrong type. Nothing is compiled.
    """
    if not (isinstance(shard, bool) or shard == "auto"):
        raise TypeError(f"shard must be True, False or 'auto', got {shard!r}")
    if not isinstance(split_envs, bool):
        raise TypeError(f"split_envs must be a bool, got {split_envs!r}")
    if shard is True and split_envs:
        raise ValueError("shard=True (runs over devices) and split_envs=True are exclusive")
    devs = tuple(jax.local_devices() if devices is None else devices)
    if not devs:
        raise ValueError("devices must not be empty")
    if split_envs:
        if len(devs) == 1:
            _single_device("split_envs=True")
            return Layout(devs[:1], 1, 1)
        if recurrent:
            raise ValueError("split_envs=True is not supported for recurrent policies")
        problem = env_split_problem(num_envs, num_steps, num_minibatches, len(devs))
        if problem:
            raise ValueError(f"split_envs=True over {len(devs)} devices: {problem}")
        return Layout(devs, 1, len(devs))
    if shard is False:
        return Layout(devs[:1], 1, 1)
    shards = max(d for d in range(1, len(devs) + 1) if num_runs % d == 0)
    if shard is True and len(devs) == 1:
        _single_device("shard=True")
    return Layout(devs[:shards], shards, 1)


def _single_device(what: str) -> None:
    warnings.warn(
        f"ppo_jax: {what} has only 1 device to use, so everything runs on it"
        + (
            f"; this CPU has {cpu_cores()} cores: set XLA_FLAGS="
            f"--xla_force_host_platform_device_count={cpu_cores()} before JAX starts"
            if jax.default_backend() == "cpu" and cpu_cores() > 1
            else ""
        ),
        RuntimeWarning,
        stacklevel=4,
    )


def runner_specs() -> RunnerState:
    """Partition of an ``[R]``-batched :class:`RunnerState`: the environments (axis 1 of their
    leaves) over ``ENVS_AXIS``, everything over ``RUNS_AXIS``."""
    runs, split = PartitionSpec(RUNS_AXIS), PartitionSpec(RUNS_AXIS, ENVS_AXIS)
    return RunnerState(
        train_state=runs,  # type: ignore[arg-type]
        env=split,  # type: ignore[arg-type]
        key=runs,  # type: ignore[arg-type]
        reward_norm=RewardNormState(returns=split, stats=runs),  # type: ignore[arg-type]
        evaluation=runs,  # type: ignore[arg-type]
    )


def over_runs(
    fn: Callable[..., Any],
    layout: Layout,
    in_axes: Sequence[int | None],
    in_specs: Sequence[Any],
    out_specs: Any,
) -> Any:
    """Compile-ready ``jit`` of ``vmap(fn, in_axes)`` over the runs, placed by ``layout``.

    ``in_specs``/``out_specs``: partition specs (prefix trees) of the batched arguments and
    results over the ``(RUNS_AXIS, ENVS_AXIS)`` mesh; shared arguments (``in_axes`` None) get
    ``PartitionSpec()``. On one device this is ``jit(vmap(fn))``.
    """
    batched = over_runs_traceable(fn, layout, in_axes, in_specs, out_specs)
    if layout.size == 1:
        return backend.jit(batched)
    mesh = layout.mesh()
    out_shardings = jax.tree.map(
        lambda spec: NamedSharding(mesh, spec),
        out_specs,
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )
    return backend.jit(batched, out_shardings=out_shardings)


def over_runs_traceable(
    fn: Callable[..., Any],
    layout: Layout,
    in_axes: Sequence[int | None],
    in_specs: Sequence[Any],
    out_specs: Any,
) -> Callable[..., Any]:
    """:func:`over_runs` without the ``jit``: ``vmap`` (in a ``shard_map`` over ``layout``'s
    mesh when it has several devices), to call inside a larger compiled program."""
    batched = jax.vmap(fn, in_axes=tuple(in_axes))
    if layout.size == 1:
        return batched
    return jax.shard_map(
        batched,
        mesh=layout.mesh(),
        in_specs=tuple(in_specs),
        out_specs=out_specs,
        check_vma=False,  # runs never communicate; the env axis uses explicit collectives
    )


def run_sharding(layout: Layout) -> NamedSharding:
    """Sharding of an ``[R, ...]`` per-run input."""
    return NamedSharding(layout.mesh(), PartitionSpec(RUNS_AXIS))


def global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A sharded global array from a host array every process holds in full."""
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def to_host(tree: Any) -> Any:
    """Fetch a (possibly multi-host) sharded pytree to numpy on every process: arrays that span
    other processes' devices are gathered (a collective: every process must call this with the
    same tree), the others copied. Leaves that are already numpy pass through."""
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    from jax.experimental import multihost_utils

    def fetch(x: Any) -> np.ndarray:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(fetch, tree)


# --------------------------------------------------------------------------- processes
def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """Join a ``jax.distributed`` job (call before any other JAX work in the process).

    Every process runs the same program; sweeps then shard their runs over the devices of all
    processes and gather the results on each. On CPU this also selects the gloo collectives,
    which cross-process gathers need there.
    """
    if not isinstance(coordinator_address, str) or ":" not in coordinator_address:
        raise ValueError(f"coordinator_address must be 'HOST:PORT', got {coordinator_address!r}")
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes must be an int >= 1, got {num_processes!r}")
    if (
        isinstance(process_id, bool)
        or not isinstance(process_id, int)
        or not 0 <= process_id < num_processes
    ):
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
