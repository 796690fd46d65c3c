"""ppo_jax.io.checkpoint: the file format (header first, hash, named arrays), refusals of
damaged, crafted and foreign files before their payload is read, atomic writes, pruning."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

from ppo_jax.io import checkpoint
from ppo_jax.io.checkpoint import Checkpoint


def tree():
    return {"a": {"w": jnp.arange(6.0).reshape(2, 3)}, "b": (jnp.int32(3), jnp.ones(2, bool))}


def sample(update: int = 4) -> Checkpoint:
    return Checkpoint(
        config={"num_envs": 4},
        identity={"seeds": [0, 7], "hp": {"learning_rate": 1e-3}},
        update=update,
        state=checkpoint.state_arrays(tree()),
        metrics={
            "value_loss": np.ones((2, update), np.float32),
            "episode_return": np.zeros((2, update)),
        },
    )


def test_round_trip_by_name(tmp_path: Path) -> None:
    path = checkpoint.save(tmp_path, sample())
    assert path.name == "ckpt-00000004.msgpack"
    loaded = checkpoint.load(path)
    assert loaded.seeds == [0, 7] and loaded.update == 4
    assert list(loaded.metrics) == ["episode_return", "value_loss"]  # built-in order first
    restored = checkpoint.restore(loaded, jax.eval_shape(tree))
    for x, y in zip(jax.tree.leaves(restored), jax.tree.leaves(tree()), strict=True):
        np.testing.assert_array_equal(x, y)
    assert set(loaded.state) == {"['a']['w']", "['b'][0]", "['b'][1]"}


def test_arrays_are_matched_by_name_not_position(tmp_path: Path) -> None:
    loaded = checkpoint.load(checkpoint.save(tmp_path, sample()))
    renamed = loaded._replace(
        state={k.replace("['w']", "['v']"): v for k, v in loaded.state.items()}
    )
    with pytest.raises(ValueError, match=r"lacks \[\"\['a'\]\['w'\]\"\]"):
        checkpoint.restore(renamed, jax.eval_shape(tree))
    extra = loaded._replace(state={**loaded.state, "['c']": np.zeros(1)})
    with pytest.raises(ValueError, match="unknown arrays"):
        checkpoint.restore(extra, jax.eval_shape(tree))
    wrong = loaded._replace(state={**loaded.state, "['a']['w']": np.zeros((3, 2), np.float32)})
    with pytest.raises(
        ValueError, match=r"\['a'\]\['w'\] is float32\[3, 2\], this run needs float32\[2, 3\]"
    ):
        checkpoint.restore(wrong, jax.eval_shape(tree))


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda b: b[: len(b) // 2], "corrupt or truncated"),
        (lambda b: b[:100] + bytes([b[100] ^ 0xFF]) + b[101:], "corrupt or truncated"),
        (lambda b: b"PK\x03\x04 a zip file, not ours" * 10, "not a ppo_jax checkpoint"),
        (lambda b: b"", "not a ppo_jax checkpoint"),
        (lambda b: b[:8] + struct.pack("<I", 2) + b[12:], "format version 2"),
    ],
    ids=["truncated", "flipped", "foreign", "empty", "old-version"],
)
def test_damaged_files_are_refused(tmp_path: Path, damage, needle) -> None:
    path = checkpoint.save(tmp_path, sample())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=needle) as info:
        checkpoint.load(path)
    assert str(path) in str(info.value)


def test_the_header_is_read_first_and_bounds_the_payload(tmp_path: Path) -> None:
    """A huge (sparse) file is refused from its 52-byte header, without reading the rest."""
    path = tmp_path / "huge.msgpack"
    size = 40 * 2**30
    header = struct.pack("<8sIQ32s", checkpoint.MAGIC, checkpoint.FORMAT_VERSION, size, bytes(32))
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(checkpoint.HEADER_BYTES + size)  # sparse: no disk used
    with pytest.raises(ValueError, match="more than the 1000000 this run"):
        checkpoint.load(path, max_bytes=1_000_000)
    path.unlink()


def _crafted(doc: object) -> bytes:
    import hashlib

    payload = serialization.msgpack_serialize(doc)
    digest = hashlib.sha256(payload).digest()
    head = struct.pack(
        "<8sIQ32s", checkpoint.MAGIC, checkpoint.FORMAT_VERSION, len(payload), digest
    )
    return head + payload


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([1, 2, 3], "format field"),
        ({"format": "ppo_jax-checkpoint", "version": 3}, "section 'config'"),
        (
            {
                "format": "ppo_jax-checkpoint",
                "version": 3,
                "config": {},
                "identity": {},
                "state": {},
                "metrics": {},
                "update": -5,
            },
            "'update' must be an int >= 0",
        ),
        (
            {
                "format": "ppo_jax-checkpoint",
                "version": 3,
                "config": {},
                "identity": {},
                "state": {"x": "text"},
                "metrics": {},
                "update": 1,
            },
            "not a numeric array",
        ),
        (
            {
                "format": "ppo_jax-checkpoint",
                "version": 3,
                "config": {},
                "identity": {},
                "state": {"x": np.zeros(2, "datetime64[s]")},
                "metrics": {},
                "update": 1,
            },
            "not a numeric array",
        ),
        (
            {
                "format": "ppo_jax-checkpoint",
                "version": 3,
                "config": {},
                "identity": {},
                "state": {5: np.zeros(2)},
                "metrics": {},
                "update": 1,
            },
            "names must be strings",
        ),
    ],
)
def test_hash_valid_but_malformed_documents_are_refused(tmp_path: Path, doc, needle) -> None:
    path = tmp_path / "ckpt.msgpack"
    path.write_bytes(_crafted(doc))
    with pytest.raises(ValueError, match=needle):
        checkpoint.load(path)


def test_writes_are_atomic_and_old_checkpoints_pruned(tmp_path: Path, monkeypatch) -> None:
    for update in (1, 2, 3):
        checkpoint.save(tmp_path, sample(update))
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["ckpt-00000002.msgpack", "ckpt-00000003.msgpack"]
    assert checkpoint.latest(tmp_path).name == "ckpt-00000003.msgpack"

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        checkpoint.save(tmp_path, sample(4))
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["ckpt-00000002.msgpack", "ckpt-00000003.msgpack"]  # no partial file left
    with pytest.raises(ValueError, match="no checkpoint"):
        checkpoint.latest(tmp_path / "empty")
    with pytest.raises(ValueError, match="cannot read"):
        checkpoint.load(tmp_path / "missing.msgpack")


def test_a_parameter_dict_is_read_from_the_names_alone(tmp_path: Path) -> None:
    """``stored_dict`` rebuilds the nested dict a checkpoint's names spell (any network), and
    ``restore(..., prefix=)`` restores that part alone."""
    params = {"net": {"Dense_0": {"kernel": np.ones((3, 2), np.float32)}}, "log_std": np.zeros(2)}
    state = {"params": params, "step": np.int32(4)}
    ckpt = sample()._replace(
        state=checkpoint.state_arrays({"learner": state, "env": (np.ones(5),)})
    )
    shapes = checkpoint.stored_dict(ckpt, "['learner']['params']")
    assert jax.tree.map(lambda s: (s.shape, s.dtype), shapes) == jax.tree.map(
        lambda x: (x.shape, x.dtype), params
    )
    template = {"params": shapes, "step": jax.ShapeDtypeStruct((), np.int32)}
    restored = checkpoint.restore(ckpt, template, prefix="['learner']")
    np.testing.assert_array_equal(restored["params"]["net"]["Dense_0"]["kernel"], 1.0)
    with pytest.raises(ValueError, match="unknown arrays"):
        checkpoint.restore(ckpt, {"params": shapes}, prefix="['learner']")
    with pytest.raises(ValueError, match="no arrays under"):
        checkpoint.stored_dict(ckpt, ".nothing")
    with pytest.raises(ValueError, match="not a dict entry"):
        checkpoint.stored_dict(ckpt, "['env']")  # ['env'][0]: a tuple's item
