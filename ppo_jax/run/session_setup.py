"""What a session needs, checked before anything is written.

A session (:func:`ppo_jax.run_experiment`, :func:`ppo_jax.run_pbt_experiment`) first turns its
arguments into a :class:`SessionSetup`: the plan of runs, the seeds (or members), the checkpoint
interval, the identity a resume must match, and the shapes and sizes of the state it carries.
The checks here (counts, device memory, disk space, a resumed config) raise ``ValueError``
naming the argument; :mod:`ppo_jax.run.session_loop` then runs the setup.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ppo_jax.core.config import INT32_MAX, PPOConfig
from ppo_jax.core.types import METRIC_NAMES
from ppo_jax.io import checkpoint
from ppo_jax.run import drivers
from ppo_jax.run.sweep import free_device_memory

CHECKPOINTS_PER_RUN = 10
"""Default number of checkpoints over a run (``checkpoint_every=None``)."""


TEXT_BYTES_PER_VALUE = 80
"""Disk bytes one metric value may take across metrics.csv, metrics.jsonl and results.json
(measured: about 65 with the per-seed returns of the JSON lines)."""
PLOT_BYTES = 2**20


def describe(obj: Any) -> str | None:
    """A stable name of an extension object (recorded so a resume can check it)."""
    if obj is None:
        return None
    if hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    return repr(obj)[:500]


def check_count(name: str, value: Any, low: int, none_ok: bool = True) -> int | None:
    """``value`` as an int in ``[low, INT32_MAX]`` (``None`` passes when ``none_ok``);
    ``ValueError`` naming ``name`` otherwise (numpy integers are accepted, bools are not)."""
    if value is None and none_ok:
        return None
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= INT32_MAX:
        raise ValueError(f"{name} must be an int in [{low}, {INT32_MAX}], got {value!r}")
    return value


class SessionSetup(NamedTuple):
    """Everything a session needs, checked before anything is written.

    Built by :func:`ppo_jax.run_experiment` (a train run: ``R`` seeds) and
    :func:`ppo_jax.run_pbt_experiment` (``R`` members, with ``init``, ``compile``, ``unit`` and
    ``row_label`` set), then run by :func:`ppo_jax.run.session_loop.run_session`.
    """

    config: PPOConfig
    """The config as given (traced fields included); ``plan.config`` is its static part."""
    plan: drivers.Plan
    """The ``[R]`` runs: keys, hyperparameters, device layout, compiled-program spec."""
    seeds: list[int]
    """One label per row ``[R]`` (seeds; PBT: member indices)."""
    checkpoint_every: int
    """Updates between checkpoints (0: none)."""
    stop_at: int
    """The update after which this session stops (``stop_after`` rounded up to a checkpoint)."""
    identity: dict[str, Any]
    """What a resume must match (:func:`run_identity`), saved in every checkpoint."""
    template: Any
    """Shapes of the state a segment carries (a ``RunnerState`` ``[R]``, or PBT's carry)."""
    state_bytes: int
    """Bytes of that state (the disk check counts them per checkpoint)."""
    max_checkpoint_bytes: int
    """The largest checkpoint payload a resume reads (``folders.checkpoint_size``)."""
    kind: str = "train"
    """``"train"`` or ``"pbt"``: the command that resumes the folder."""
    init: Callable[[], Any] | None = None
    """Fresh carried state (default: ``drivers.init_runs(plan)``)."""
    compile: Callable[[Any, int], drivers.SegmentFn] | None = None
    """``compile(state, length)``: the segment function (default: ``drivers.compile_segments``)."""
    unit: int = 1
    """Segments are whole multiples of this many updates (PBT: its interval)."""
    row_label: str = "seed"
    """What a row of the metrics is (``seed``; PBT: ``member``)."""
    extra: dict[str, Any] = {}  # noqa: RUF012 (never mutated)
    """Kind-specific entries of ``config.json``."""


def run_identity(
    config: PPOConfig,
    seeds: list[int],
    hp: dict[str, float],
    env: Any,
    *,
    network: Any,
    lr_schedule: Any,
    metrics_fn: Any,
) -> dict[str, Any]:
    """The identity of a run (kind, seeds, hyperparameters, environment and the extension
    objects by name): recorded in ``config.json`` and every checkpoint, so that a resume with
    anything else is refused naming the field."""
    return {
        "kind": "train",
        "seeds": list(seeds),
        "hp": hp,
        "env": config.env_name if env is None else "object " + str(describe(type(env))),
        "network": describe(type(network)) if network is not None else None,
        "lr_schedule": describe(lr_schedule),
        "metrics_fn": describe(metrics_fn),
    }


def check_disk(out: Path, setup: SessionSetup) -> None:
    """Refuse to start when the folder's disk cannot hold the checkpoints, metrics and plots."""
    config = setup.plan.config
    values = len(setup.seeds) * config.num_updates * (len(METRIC_NAMES) + 8)
    per_checkpoint = setup.state_bytes + 4 * values + 2**16
    saves = checkpoint.KEEP_CHECKPOINTS + 1 if setup.checkpoint_every else 0
    need = saves * per_checkpoint + TEXT_BYTES_PER_VALUE * values + 2 * PLOT_BYTES
    free = shutil.disk_usage(out).free
    if free < need:
        raise ValueError(
            f"{str(out)!r}: {free / 2**20:.1f} MiB free, the run needs about "
            f"{need / 2**20:.1f} MiB for checkpoints and metrics"
        )


def check_memory(plan: drivers.Plan) -> None:
    """Refuse runs whose estimated device memory exceeds what the devices have."""
    per_device = math.ceil(plan.num_runs / plan.layout.runs) * drivers.estimate_run_bytes(plan)
    per_device //= plan.layout.envs
    free = min(free_device_memory(d) for d in plan.layout.devices)
    if per_device > free:
        raise ValueError(
            f"the run needs about {per_device / 2**30:.1f} GiB per device, {free / 2**30:.1f} "
            "GiB are free: lower num_envs, num_steps, hidden_sizes or the number of seeds"
        )


def check_config_equal(given: Any, saved: PPOConfig) -> list[str]:
    """The fields in which ``given`` differs from ``saved`` (empty when equal)."""
    given = drivers.check_config(given)
    a, b = given.to_dict(), saved.to_dict()
    return [f"{k}={a[k]!r} (saved {b[k]!r})" for k in a if a[k] != b[k]]
