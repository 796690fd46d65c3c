"""Metric writers ("sinks"): TensorBoard event files, Weights & Biases, JSON lines.

Every writer has the same two methods, so the CLI can hold a list of them::

    writer.add_scalars(step, {"episode_return": 12.5, "loss/value": 0.3})
    writer.close()

and each is a context manager that closes itself. Non-finite values (NaN, inf) are never
logged as numbers: the TensorBoard and W&B writers skip them and the JSON-lines writer writes
``null``.

:class:`TensorBoardWriter` needs no TensorFlow nor tensorboardX: it encodes the few protobuf
messages it needs by hand and frames them as TFRecords; :func:`read_scalars` reads such a
file back. :func:`metrics_rows` turns the ``[seeds, updates]`` metric arrays of a training
run into one ``(env_steps, values)`` row per update, ready for ``add_scalars``.
"""

from __future__ import annotations

import importlib
import json
import math
import socket
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

import numpy as np

__all__ = [
    "JsonlWriter",
    "TensorBoardWriter",
    "WandbWriter",
    "crc32c",
    "masked_crc32c",
    "metrics_rows",
    "read_scalars",
]


# --------------------------------------------------------------------------- CRC-32C
def _make_crc32c_table() -> tuple[int, ...]:
    """The 256-entry table of the reflected Castagnoli polynomial 0x82F63B78."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def crc32c(data: bytes) -> int:
    """The CRC-32C (Castagnoli) checksum of ``data``, as used by TFRecord files."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord framing stores: rotate right by 15, add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------------------- protobuf
_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LEN, _WIRE_FIXED32 = 0, 1, 2, 5


def _varint(value: int) -> bytes:
    """Base-128 varint of ``value``; negative values as 64-bit two's complement."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    """A field's tag: its number and wire type."""
    return _varint((field << 3) | wire_type)


def _len_field(field: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes or embedded message)."""
    return _key(field, _WIRE_LEN) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int = 0, file_version: str = "", summary: bytes = b"") -> bytes:
    """An ``Event`` message: wall_time = 1 (double), step = 2 (int64), file_version = 3
    (string), summary = 5 (``Summary`` message)."""
    out = _key(1, _WIRE_FIXED64) + struct.pack("<d", wall_time)
    if step:
        out += _key(2, _WIRE_VARINT) + _varint(step)
    if file_version:
        out += _len_field(3, file_version.encode("utf-8"))
    if summary:
        out += _len_field(5, summary)
    return out


def _scalar_value(tag: str, value: float) -> bytes:
    """A ``Summary.Value`` message: tag = 1 (string), simple_value = 2 (float)."""
    return _len_field(1, tag.encode("utf-8")) + _key(2, _WIRE_FIXED32) + struct.pack("<f", value)


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """Decode a protobuf message into ``(field, wire_type, value)`` triples: ints for varints,
    raw ``bytes`` for the fixed-width and length-delimited kinds. Raises ``ValueError`` on
    malformed input."""
    pos, end = 0, len(data)

    def varint() -> int:
        nonlocal pos
        result, shift = 0, 0
        while True:
            if pos >= end or shift > 63:
                raise ValueError("malformed protobuf varint")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while pos < end:
        key = varint()
        field, wire_type = key >> 3, key & 7
        if wire_type == _WIRE_VARINT:
            yield field, wire_type, varint()
            continue
        if wire_type == _WIRE_LEN:
            size = varint()
        elif wire_type == _WIRE_FIXED64:
            size = 8
        elif wire_type == _WIRE_FIXED32:
            size = 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        if pos + size > end:
            raise ValueError("truncated protobuf field")
        yield field, wire_type, data[pos : pos + size]
        pos += size


def _decode_value(data: bytes) -> tuple[str, float] | None:
    """``(tag, simple_value)`` of a ``Summary.Value``, or ``None`` if it holds no simple_value."""
    tag, value = "", None
    for field, wire_type, raw in _fields(data):
        if field == 1 and wire_type == _WIRE_LEN:
            tag = raw.decode("utf-8")
        elif field == 2 and wire_type == _WIRE_FIXED32:
            value = struct.unpack("<f", raw)[0]
    return None if value is None else (tag, value)


def _decode_event_scalars(data: bytes) -> list[tuple[int, str, float]]:
    """The ``(step, tag, simple_value)`` triples of one ``Event`` message."""
    step, summaries = 0, []
    for field, wire_type, raw in _fields(data):
        if field == 2 and wire_type == _WIRE_VARINT:
            step = raw - (1 << 64) if raw >= 1 << 63 else raw
        elif field == 5 and wire_type == _WIRE_LEN:
            summaries.append(raw)
    out = []
    for summary in summaries:
        for field, wire_type, raw in _fields(summary):
            if field == 1 and wire_type == _WIRE_LEN:
                decoded = _decode_value(raw)
                if decoded is not None:
                    out.append((step, decoded[0], decoded[1]))
    return out


# --------------------------------------------------------------------------- TFRecord
def _record(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def _read_records(blob: bytes) -> Iterator[bytes]:
    """The data of each TFRecord in ``blob``, both CRCs checked (``ValueError`` if wrong)."""
    pos = 0
    while pos < len(blob):
        if pos + 12 > len(blob):
            raise ValueError(f"truncated record header at byte {pos}")
        header = blob[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", blob[pos + 8 : pos + 12])
        if header_crc != masked_crc32c(header):
            raise ValueError(f"record length CRC mismatch at byte {pos}")
        start = pos + 12
        if start + length + 4 > len(blob):
            raise ValueError(f"truncated record at byte {pos}")
        data = blob[start : start + length]
        (data_crc,) = struct.unpack("<I", blob[start + length : start + length + 4])
        if data_crc != masked_crc32c(data):
            raise ValueError(f"record data CRC mismatch at byte {pos}")
        yield data
        pos = start + length + 4


def read_scalars(path: str | Path) -> list[tuple[int, str, float]]:
    """Read the scalars of a TensorBoard event file as ``(step, tag, value)`` triples, in file
    order. Values are float32 (as stored), widened to Python floats. Both CRCs of every record
    are checked: a corrupt or truncated file raises ``ValueError``."""
    blob = Path(path).read_bytes()
    out: list[tuple[int, str, float]] = []
    for data in _read_records(blob):
        out.extend(_decode_event_scalars(data))
    return out


# --------------------------------------------------------------------------- writers
_W = TypeVar("_W", bound="_Writer")


class _Writer:
    """Context-manager support shared by the writers: ``with`` closes the writer."""

    def close(self) -> None:
        """Release the writer's resources."""
        raise NotImplementedError

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _finite(values: Mapping[str, float]) -> dict[str, float]:
    """The finite entries of ``values``, as Python floats."""
    out = {}
    for tag, value in values.items():
        number = float(value)
        if math.isfinite(number):
            out[tag] = number
    return out


class TensorBoardWriter(_Writer):
    """Write scalars to a TensorBoard event file, with no TensorFlow dependency.

    The file is ``{logdir}/events.out.tfevents.{time}.{host}.ppo_jax`` (a ``.N`` suffix is
    added should that name already exist); ``path`` names it. Point ``tensorboard --logdir``
    at ``logdir`` (or a folder above it) to see the curves.
    """

    def __init__(self, logdir: str | Path) -> None:
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        base = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.ppo_jax"
        self.path = self.logdir / base
        suffix = 0
        while True:
            try:
                self._file: IO[bytes] = open(self.path, "xb")  # noqa: SIM115 (closed in close)
                break
            except FileExistsError:
                suffix += 1
                self.path = self.logdir / f"{base}.{suffix}"
        self._closed = False
        self._file.write(_record(_event(time.time(), file_version="brain.Event:2")))
        self._file.flush()

    def add_scalars(
        self, step: int, values: Mapping[str, float], wall_time: float | None = None
    ) -> None:
        """Write one Event at ``step`` holding one simple_value (float32) per finite entry of
        ``values``; non-finite entries, and those beyond the float32 range, are skipped, and
        nothing is written if no entry is left."""
        finite = {tag: v for tag, v in _finite(values).items() if abs(v) <= _FLOAT32_MAX}
        if not finite:
            return
        summary = b"".join(_len_field(1, _scalar_value(tag, v)) for tag, v in finite.items())
        when = time.time() if wall_time is None else float(wall_time)
        self._file.write(_record(_event(when, step=int(step), summary=summary)))

    def flush(self) -> None:
        """Push buffered events to disk."""
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._file.close()


class WandbWriter(_Writer):
    """Log scalars to a Weights & Biases run (``wandb`` is imported only here, lazily).

    ``mode="offline"`` (or the ``WANDB_MODE=offline`` environment variable) writes the run under
    ``run_dir`` with no network; ``wandb sync`` uploads it later.
    """

    def __init__(
        self,
        project: str,
        run_dir: str | Path,
        config: dict[str, Any],
        name: str | None = None,
        mode: str | None = None,
    ) -> None:
        try:
            wandb: Any = importlib.import_module("wandb")
        except ImportError as err:
            raise ImportError("WandbWriter needs the wandb package: pip install wandb") from err
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        self.run: Any = wandb.init(
            project=project, dir=str(run_dir), config=config, name=name, mode=mode
        )
        self._closed = False

    def add_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Log the finite entries of ``values`` at ``step`` (nothing if none is finite)."""
        finite = _finite(values)
        if finite:
            self.run.log(finite, step=int(step))

    def close(self) -> None:
        """Finish the run; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self.run.finish()


class JsonlWriter(_Writer):
    """Append one JSON object per ``add_scalars`` call to a text file: ``{"step": ..., **values}``
    with non-finite values written as ``null``. Each line is flushed as it is written. The file
    is opened for appending (its folder is created): existing lines are kept."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._closed = False

    def add_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Write the line ``{"step": step, **values}`` (NaN and inf as ``null``)."""
        if "step" in values:
            raise ValueError('"step" is reserved for the step number; rename that metric')
        row: dict[str, Any] = {"step": int(step)}
        for tag, value in values.items():
            number = float(value)
            row[tag] = number if math.isfinite(number) else None
        self._file.write(json.dumps(row, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            self._file.close()


# --------------------------------------------------------------------------- rows
def _mean_ignoring_nan(arr: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN where a column is all NaN (and no warning)."""
    valid = ~np.isnan(arr)
    count = valid.sum(axis=0)
    total = np.where(valid, arr, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def metrics_rows(
    metrics: Mapping[str, np.ndarray], seeds: Sequence[int]
) -> Iterator[tuple[int, dict[str, float]]]:
    """One ``(env_steps, values)`` row per update of a training run, for ``add_scalars``.

    ``metrics`` maps names to arrays shaped ``[seeds, updates]`` (a 1-D ``[updates]`` array
    counts as one seed) and must hold ``env_steps``, which gives each row's step (from the
    first seed: it is the same for all). ``values`` holds, for every other metric, its mean
    over seeds ignoring NaN, and for ``episode_return`` also ``episode_return/seed_{s}`` for
    each seed ``s`` of ``seeds``. Means (and per-seed returns) that are NaN are left out;
    updates with nothing left are not yielded.
    """
    if "env_steps" not in metrics:
        raise ValueError("metrics must include 'env_steps'")
    steps = np.atleast_2d(np.asarray(metrics["env_steps"]))[0]
    arrays: dict[str, np.ndarray] = {}
    for name, value in metrics.items():
        if name == "env_steps":
            continue
        arr = np.atleast_2d(np.asarray(value, dtype=np.float64))
        if arr.ndim != 2 or arr.shape != (len(seeds), len(steps)):
            raise ValueError(
                f"metric {name!r} has shape {np.shape(value)}, expected "
                f"[{len(seeds)} seeds, {len(steps)} updates]"
            )
        arrays[name] = arr
    means = {name: _mean_ignoring_nan(arr) for name, arr in arrays.items()}
    for u, step in enumerate(steps):
        row: dict[str, float] = {}
        for name, arr in arrays.items():
            mean = float(means[name][u])
            if not math.isnan(mean):
                row[name] = mean
            if name == "episode_return":
                for i, seed in enumerate(seeds):
                    ret = float(arr[i, u])
                    if not math.isnan(ret):
                        row[f"episode_return/seed_{seed}"] = ret
        if row:
            yield int(step), row
