"""Checkpoints of the full training state, in a safe format (msgpack, no pickle).

File layout (format version 3)::

    MAGIC (8 bytes) | version (uint32 LE) | payload length (uint64 LE) | SHA-256 of payload (32)
    | payload

The payload is a msgpack document (``flax.serialization.msgpack_serialize``) holding the config,
the identity of the run (seeds, hyperparameters, environment), the number of updates done, the
metrics so far and every array of the :class:`~ppo_jax.core.types.RunnerState` stored under its
path name (``.train_state.params['network']['actor']['Dense_0']['kernel']``, ...), so a reader
matches arrays by name, not by position.

Files are written to a temporary name, flushed, fsynced and renamed, so a crash never leaves a
half-written checkpoint under the real name. Reading checks the fixed-size header first (magic,
version, the declared length against the file's size and a caller's bound), and only then reads
the payload, checks its hash, decodes it and checks its structure; every refusal is a
``ValueError`` naming the file and what is wrong.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import struct
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import serialization

from ppo_jax.core.types import RunningStats

MAGIC = b"PPOJAXCK"
FORMAT_VERSION = 3
_HEADER = struct.Struct("<8sIQ32s")
HEADER_BYTES = _HEADER.size
CHECKPOINT_GLOB = "ckpt-*.msgpack"
KEEP_CHECKPOINTS = 2
"""Checkpoints kept in a run folder (older ones are deleted after a new one is written)."""
MAX_READ_BYTES = 2**32
"""Largest checkpoint payload read without a bound from the run it belongs to (reading a
folder: ``ppo_jax.load_run``); resuming bounds it by the size the run's state implies."""
MAX_NAME = 4096
"""Longest array or metric name in a checkpoint."""
MAX_DEPTH = 64
"""Deepest nesting of a parameter dict rebuilt from names (:func:`stored_dict`)."""
NUMERIC_KINDS = "biuf"
"""numpy dtype kinds a checkpoint may hold (bool, int, uint, float)."""


class Checkpoint(NamedTuple):
    """What a checkpoint holds."""

    config: dict[str, Any]
    identity: dict[str, Any]
    """What makes a run itself beyond its config: seeds, hyperparameters, environment."""
    update: int
    """Updates completed."""
    state: dict[str, np.ndarray]
    """Every array of the runner state, by path name."""
    metrics: dict[str, np.ndarray]
    """Metrics of the updates completed, each ``[runs, update]``."""

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.identity.get("seeds", [])]


def checkpoint_path(run_dir: Path, update: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"ckpt-{update:08d}.msgpack"


def state_arrays(tree: Any) -> dict[str, np.ndarray]:
    """``path name -> numpy array`` of every leaf of ``tree``."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def encode(ckpt: Checkpoint) -> bytes:
    """Serialise a checkpoint to bytes (header + msgpack payload)."""
    payload = serialization.msgpack_serialize(
        {
            "format": "ppo_jax-checkpoint",
            "version": FORMAT_VERSION,
            "config": ckpt.config,
            "identity": ckpt.identity,
            "update": int(ckpt.update),
            "state": {k: np.asarray(v) for k, v in ckpt.state.items()},
            "metrics": {k: np.asarray(v) for k, v in ckpt.metrics.items()},
        }
    )
    digest = hashlib.sha256(payload).digest()
    return _HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), digest) + payload


def _check_header(head: bytes, size: int, source: str, max_bytes: int | None) -> tuple[int, bytes]:
    """``(payload length, digest)`` from a header; ``ValueError`` for anything else."""
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC):
        raise ValueError(f"{source} is not a ppo_jax checkpoint (bad magic bytes)")
    _, version, length, digest = _HEADER.unpack(head[:HEADER_BYTES])
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{source} has format version {version}; this ppo_jax reads version "
            f"{FORMAT_VERSION} (checkpoints of older versions cannot be resumed)"
        )
    if length != size - HEADER_BYTES:
        raise ValueError(
            f"{source} is corrupt or truncated: its header declares {length} payload bytes, "
            f"the file holds {size - HEADER_BYTES}"
        )
    if max_bytes is not None and length > max_bytes:
        raise ValueError(
            f"{source} declares {length} payload bytes, more than the {max_bytes} this run's "
            "state and metrics can take: it belongs to another run"
        )
    return length, digest


def decode(data: bytes, source: str = "checkpoint", max_bytes: int | None = None) -> Checkpoint:
    """Parse bytes written by :func:`encode`; ``ValueError`` for anything else."""
    _, digest = _check_header(data[:HEADER_BYTES], len(data), source, max_bytes)
    payload = data[HEADER_BYTES:]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"{source} is corrupt or truncated (checksum mismatch)")
    try:
        doc = serialization.msgpack_restore(payload)
    except Exception as err:  # the hash matched, so this is a foreign writer's file
        raise ValueError(f"{source} could not be decoded: {type(err).__name__}") from None
    return _from_document(doc, source)


def _from_document(doc: Any, source: str) -> Checkpoint:
    if not isinstance(doc, dict) or doc.get("format") != "ppo_jax-checkpoint":
        raise ValueError(f"{source} is not a ppo_jax checkpoint (format field)")
    if doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"{source} has format version {doc.get('version')!r} in its payload")
    for name, kind in (("config", dict), ("identity", dict), ("state", dict), ("metrics", dict)):
        if not isinstance(doc.get(name), kind):
            raise ValueError(f"{source}: section {name!r} is missing or not a {kind.__name__}")
    update = doc.get("update")
    if isinstance(update, bool) or not isinstance(update, int) or update < 0:
        raise ValueError(f"{source}: 'update' must be an int >= 0, got {update!r}")
    for section in ("state", "metrics"):
        for key, value in doc[section].items():
            if not isinstance(key, str) or len(key) > MAX_NAME:
                raise ValueError(
                    f"{source}: {section} names must be strings of at most {MAX_NAME} "
                    f"characters, got {str(key)[:80]!r}"
                )
            if not isinstance(value, np.ndarray) or value.dtype.kind not in NUMERIC_KINDS:
                raise ValueError(f"{source}: {section} entry {key!r} is not a numeric array")
    metrics = doc["metrics"]
    return Checkpoint(
        config=doc["config"],
        identity=doc["identity"],
        update=update,
        state=dict(doc["state"]),
        metrics={k: metrics[k] for k in metric_order(metrics)},
    )


def metric_order(names: Any) -> list[str]:
    """Metric names with the built-in ones first, in their order (msgpack sorts map keys)."""
    from ppo_jax.core.types import EVAL_METRIC_NAMES, METRIC_NAMES

    order = (*METRIC_NAMES, *EVAL_METRIC_NAMES)
    known = [n for n in order if n in names]
    return known + sorted(n for n in names if n not in order)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a fsynced temporary file and an atomic rename; on any
    error the temporary file is removed and the final name is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(run_dir: Path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` into ``run_dir/checkpoints`` and prune all but the newest few."""
    path = checkpoint_path(run_dir, ckpt.update)
    atomic_write(path, encode(ckpt))
    for old in sorted(path.parent.glob(CHECKPOINT_GLOB))[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return path


def latest(run_dir: Path) -> Path:
    """The newest checkpoint file of ``run_dir``; ``ValueError`` if there is none."""
    found = sorted((Path(run_dir) / "checkpoints").glob(CHECKPOINT_GLOB))
    if not found:
        raise ValueError(f"{str(run_dir)!r} has no checkpoint (checkpoints/{CHECKPOINT_GLOB})")
    return found[-1]


def load(path: Path, max_bytes: int | None = MAX_READ_BYTES) -> Checkpoint:
    """Read and verify a checkpoint file, reading its header before anything else (a file
    whose declared size exceeds ``max_bytes`` is refused without reading its payload)."""
    source = f"checkpoint {str(path)!r}"
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(HEADER_BYTES)
            length, _ = _check_header(head, size, source, max_bytes)
            data = head + fh.read(length)
    except OSError as err:
        raise ValueError(f"cannot read {source}: {err.strerror or err}") from None
    return decode(data, source, max_bytes)


def _under(name: str, prefix: str) -> bool:
    """Whether the path name ``name`` lies under ``prefix`` (``""``: everything)."""
    return name.startswith(prefix) and name[len(prefix) : len(prefix) + 1] in ("", ".", "[")


def stored_dict(ckpt: Checkpoint, prefix: str, source: str = "checkpoint") -> dict[str, Any]:
    """The arrays stored under ``prefix`` (e.g. ``".train_state.params"``) as the nested
    ``dict`` their path names spell (``['network']['Dense_0']['kernel']``), leaves
    ``jax.ShapeDtypeStruct``: the shapes of a parameter tree read from the checkpoint alone,
    whatever network wrote it. ``ValueError`` when there is none, or when a name below
    ``prefix`` is not a chain of string keys."""
    out: dict[str, Any] = {}
    for name, value in ckpt.state.items():
        if not _under(name, prefix):
            continue
        parts = _name_parts(name, len(prefix), source)
        if parts is None or any(kind != "key" for kind, _ in parts):
            raise ValueError(f"{source}: array {name[:200]!r} is not a dict entry")
        if not parts:
            raise ValueError(f"{source}: {prefix} is one array, not a dict of arrays")
        _insert(out, [key for _, key in parts], name, value, source)
    if not out:
        raise ValueError(f"{source} holds no arrays under {prefix}")
    return out


_NAME_PART = re.compile(
    r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d{1,6})\]|\.([A-Za-z_][A-Za-z0-9_]{0,63})"
)


def _name_parts(name: str, pos: int, source: str) -> list[tuple[str, Any]] | None:
    """The parts of a path name from ``pos``: ``("key", str)`` for ``['key']``, ``("index",
    int)`` for ``[i]``, ``("field", str)`` for ``.field``; ``None`` when a part is none of these
    or the name has more than ``MAX_DEPTH`` parts. ``ValueError`` for a quoted key that is not
    a string literal."""
    parts: list[tuple[str, Any]] = []
    while pos < len(name):
        match = _NAME_PART.match(name, pos)
        if match is None or len(parts) >= MAX_DEPTH:
            return None
        index, field = match.group(1), match.group(2)
        if field is not None:
            parts.append(("field", field))
        elif index[0] in "'\"":
            try:
                parts.append(("key", ast.literal_eval(index)))  # a quoted string literal only
            except (ValueError, SyntaxError):
                raise ValueError(f"{source}: array name {name[:200]!r} is malformed") from None
        else:
            parts.append(("index", int(index)))
        pos = match.end()
    return parts


def _insert(root: dict[Any, Any], keys: list[Any], name: str, value: Any, source: str) -> None:
    """Put ``value``'s shape at the path ``keys`` of the nested dict ``root``."""
    node = root
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"{source}: array {name[:200]!r} lies inside another array")
    if keys[-1] in node:
        raise ValueError(f"{source}: array {name[:200]!r} holds arrays below it")
    node[keys[-1]] = jax.ShapeDtypeStruct(value.shape, value.dtype)


def stored_tree(ckpt: Checkpoint, prefix: str, source: str = "checkpoint") -> Any:
    """The arrays stored under ``prefix`` as the tree their path names spell, leaves
    ``jax.ShapeDtypeStruct``: ``['key']`` parts become dict entries, ``[i]`` parts tuple
    entries (indices ``0 .. n-1``), ``.field`` parts the fields of a
    :class:`~ppo_jax.core.types.RunningStats` (``mean``, ``var``, ``samples``). ``None`` when
    nothing is stored there; ``ValueError`` when a name is malformed, too deep, or the parts
    do not form such a tree."""
    root: dict[Any, Any] = {}
    found = False
    for name, value in ckpt.state.items():
        if not _under(name, prefix) or name == prefix:
            continue
        found = True
        keys = _name_parts(name, len(prefix), source)
        if keys is None:
            raise ValueError(f"{source}: array name {name[:200]!r} is malformed")
        _insert(root, keys, name, value, source)
    if not found:
        return None
    return _as_tree(root, source)


def _as_tree(node: Any, source: str) -> Any:
    """Nested ``{(kind, key): ...}`` as dicts, tuples and RunningStats (see stored_tree)."""
    if not isinstance(node, dict):
        return node
    kinds = {kind for kind, _ in node}
    if len(kinds) != 1:
        raise ValueError(f"{source}: stored names mix entries, indices and fields")
    kind = kinds.pop()
    children = {key: _as_tree(child, source) for (_, key), child in node.items()}
    if kind == "key":
        return children
    if kind == "index":
        if sorted(children) != list(range(len(children))):
            raise ValueError(f"{source}: stored tuple indices {sorted(children)} have gaps")
        return tuple(children[i] for i in range(len(children)))
    if set(children) != set(RunningStats._fields):
        raise ValueError(f"{source}: stored fields {sorted(children)} are not running statistics")
    return RunningStats(**children)


def restore(ckpt: Checkpoint, template: Any, source: str = "checkpoint", prefix: str = "") -> Any:
    """Rebuild a pytree shaped like ``template`` (e.g. ``jax.eval_shape`` of a fresh state)
    from ``ckpt.state``, matching arrays by path name; every array must be present with the
    template's shape and dtype, and nothing else may be there. With ``prefix`` the template
    is the part of the stored state under that path name (e.g. ``".train_state"``) and the
    other arrays are left alone."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    names = [prefix + jax.tree_util.keystr(path) for path, _ in leaves]
    extra = sorted({n for n in ckpt.state if _under(n, prefix)} - set(names))
    missing = [n for n in names if n not in ckpt.state]
    if missing or extra:
        what = f"lacks {missing[:3]}" if missing else f"holds unknown arrays {extra[:3]}"
        raise ValueError(
            f"{source} {what}: it was written for another config, network or environment"
        )
    out = []
    for name, (_, want) in zip(names, leaves, strict=True):
        got = ckpt.state[name]
        if tuple(want.shape) != tuple(got.shape) or np.dtype(want.dtype) != got.dtype:
            raise ValueError(
                f"{source}: {name} is {got.dtype}{list(got.shape)}, this run needs "
                f"{np.dtype(want.dtype)}{list(want.shape)}"
            )
        out.append(jax.numpy.asarray(got))
    return jax.tree.unflatten(treedef, out)


def payload_bound(state_bytes: int, num_runs: int, num_updates: int, num_metrics: int) -> int:
    """The most payload bytes a checkpoint of such a run can hold (its arrays, its metrics, and
    generous room for the config and names)."""
    return 2 * state_bytes + 8 * num_runs * num_updates * num_metrics + 2**20
