"""Checkpoints of the full training state, in a safe format (msgpack, no pickle).

File layout: ``MAGIC`` (8 bytes) + SHA-256 of the payload (32 bytes) + payload, where the payload
is a msgpack document (``flax.serialization.msgpack_serialize``) holding the format version, the
config, the seeds, the number of updates done, the metrics so far and the leaves of the
:class:`~ppo_jax.types.RunnerState` (params, optimiser state, step, environment states,
observations, episode statistics and RNG keys). Files are written to a temporary name, flushed,
fsynced and renamed, so a crash never leaves a half-written checkpoint under the real name.
Reading checks the magic, the length, the hash, the version and every leaf's shape and dtype
against the state the config would create, and raises ``ValueError`` saying which.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import serialization

MAGIC = b"PPOJAXCK"
FORMAT_VERSION = 2
CHECKPOINT_GLOB = "ckpt-*.msgpack"
KEEP_CHECKPOINTS = 2
"""Checkpoints kept in a run folder (older ones are deleted after a new one is written)."""


class Checkpoint(NamedTuple):
    """What a checkpoint holds."""

    config: dict[str, Any]
    seeds: list[int]
    update: int
    """Updates completed."""
    runner_leaves: list[np.ndarray]
    metrics: dict[str, np.ndarray]
    """Metrics of the updates completed, each ``[seeds, update]``."""


def checkpoint_path(run_dir: Path, update: int) -> Path:
    return run_dir / "checkpoints" / f"ckpt-{update:08d}.msgpack"


def encode(ckpt: Checkpoint) -> bytes:
    """Serialise a checkpoint to bytes (magic + hash + msgpack payload)."""
    payload = serialization.msgpack_serialize(
        {
            "format": "ppo_jax-checkpoint",
            "version": FORMAT_VERSION,
            "config": ckpt.config,
            "seeds": list(ckpt.seeds),
            "update": int(ckpt.update),
            "runner": {str(i): np.asarray(x) for i, x in enumerate(ckpt.runner_leaves)},
            "metrics": {k: np.asarray(v) for k, v in ckpt.metrics.items()},
        }
    )
    return MAGIC + hashlib.sha256(payload).digest() + payload


def decode(data: bytes, source: str = "checkpoint") -> Checkpoint:
    """Parse bytes written by :func:`encode`; ``ValueError`` for anything else."""
    if len(data) < len(MAGIC) + 32 or not data.startswith(MAGIC):
        raise ValueError(f"{source} is not a ppo_jax checkpoint (bad magic bytes)")
    digest, payload = data[len(MAGIC) : len(MAGIC) + 32], data[len(MAGIC) + 32 :]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"{source} is corrupt or truncated (checksum mismatch)")
    try:
        doc = serialization.msgpack_restore(payload)
    except Exception as err:  # the hash matched, so this is a foreign writer's file
        raise ValueError(f"{source} could not be decoded: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != "ppo_jax-checkpoint":
        raise ValueError(f"{source} is not a ppo_jax checkpoint (format field)")
    if doc.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{source} has format version {doc.get('version')!r}; this ppo_jax reads "
            f"version {FORMAT_VERSION}"
        )
    runner = doc["runner"]
    leaves = [np.asarray(runner[str(i)]) for i in range(len(runner))]
    return Checkpoint(
        config=dict(doc["config"]),
        seeds=[int(s) for s in doc["seeds"]],
        update=int(doc["update"]),
        runner_leaves=leaves,
        metrics={k: np.asarray(doc["metrics"][k]) for k in _metric_order(doc["metrics"])},
    )


def _metric_order(names: Any) -> list[str]:
    """Metric names in :class:`~ppo_jax.types.Metrics` order (msgpack sorts map keys)."""
    from ppo_jax.types import Metrics

    known = [n for n in Metrics._fields if n in names]
    return known + sorted(n for n in names if n not in Metrics._fields)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a fsynced temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save(run_dir: Path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` into ``run_dir/checkpoints`` and prune all but the newest few."""
    path = checkpoint_path(run_dir, ckpt.update)
    atomic_write(path, encode(ckpt))
    for old in sorted(path.parent.glob(CHECKPOINT_GLOB))[:-KEEP_CHECKPOINTS]:
        old.unlink()
    return path


def latest(run_dir: Path) -> Path:
    """The newest checkpoint file of ``run_dir``; ``ValueError`` if there is none."""
    found = sorted((run_dir / "checkpoints").glob(CHECKPOINT_GLOB))
    if not found:
        raise ValueError(f"{str(run_dir)!r} has no checkpoint (checkpoints/{CHECKPOINT_GLOB})")
    return found[-1]


def load(path: Path) -> Checkpoint:
    """Read and verify a checkpoint file."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read checkpoint {str(path)!r}: {err}") from None
    return decode(data, source=f"checkpoint {str(path)!r}")


def restore_runner(ckpt: Checkpoint, template: Any, source: str = "checkpoint") -> Any:
    """Rebuild the runner pytree from ``ckpt`` using ``template`` (e.g. ``jax.eval_shape`` of a
    fresh state) for its structure; every leaf's shape and dtype must match."""
    leaves, treedef = jax.tree.flatten(template)
    if len(leaves) != len(ckpt.runner_leaves):
        raise ValueError(
            f"{source} holds {len(ckpt.runner_leaves)} state arrays, the config needs "
            f"{len(leaves)}: it was written for another config or environment"
        )
    for i, (want, got) in enumerate(zip(leaves, ckpt.runner_leaves, strict=True)):
        if tuple(want.shape) != tuple(got.shape) or np.dtype(want.dtype) != got.dtype:
            raise ValueError(
                f"{source}: state array {i} is {got.dtype}{list(got.shape)}, the config needs "
                f"{np.dtype(want.dtype)}{list(want.shape)}"
            )
    return jax.tree.unflatten(treedef, [jax.numpy.asarray(x) for x in ckpt.runner_leaves])
