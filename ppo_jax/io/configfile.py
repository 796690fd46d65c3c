"""Config files: TOML documents of :class:`~ppo_jax.core.config.PPOConfig` fields (plus
``seeds``), read with every failure turned into one ``ValueError`` naming the file and the key.

.. code-block:: toml

    num_envs = 32
    total_timesteps = 262144
    hidden_sizes = [64, 64]
    seeds = [0, 1, 2]        # or a count (8), or "0:8", or "0,5,9"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ppo_jax.compat import tomllib
from ppo_jax.core.config import config_field_names

MAX_CONFIG_BYTES = 2**20
"""Largest config file read."""
SEED_LIMIT = 2**32
MAX_SEEDS = 2**20


def _seed_values(value: Any, what: str) -> list[int]:
    """The seeds a value names, unchecked (``ValueError`` with an empty message when the value
    is not a count, a list or a range)."""
    if isinstance(value, bool) or not isinstance(value, int | list | str):
        raise ValueError
    if isinstance(value, int):
        if not 1 <= value <= MAX_SEEDS:
            raise ValueError(f"{what}: a count must be in [1, {MAX_SEEDS}], got {value}")
        return list(range(value))
    if isinstance(value, list):
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
            raise ValueError
        return value
    text = value.strip()
    if ":" in text:
        lo, hi = (int(x) for x in text.split(":"))
        if hi - lo > MAX_SEEDS:
            raise ValueError(f"{what}: at most {MAX_SEEDS} seeds, got {hi - lo}")
        return list(range(lo, hi))
    if "," in text:
        return [int(s) for s in text.split(",") if s.strip()]
    return _seed_values(int(text), what)


def parse_seeds(value: Any, what: str = "--seeds") -> list[int]:
    """Seeds from a count (``8`` or ``"8"`` -> 0..7), a list (``[0, 5, 9]`` or ``"0,5,9"``)
    or a range (``"3:7"`` -> 3..6); every seed in ``[0, 2**32)``, no duplicates, at most
    ``MAX_SEEDS``. ``ValueError`` naming ``what`` otherwise."""
    usage = f"{what} takes a count (8), a list (0,5,9) or a range (3:7) of seeds in [0, 2**32)"
    try:
        seeds = _seed_values(value, what)
    except ValueError as err:
        if str(err) and not str(err).startswith("invalid literal"):
            raise
        raise ValueError(f"{usage}, got {str(value)[:80]!r}") from None
    if not seeds:
        raise ValueError(f"{what} names no seed ({str(value)[:80]!r})")
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"{what}: at most {MAX_SEEDS} seeds, got {len(seeds)}")
    bad = [s for s in seeds if not 0 <= s < SEED_LIMIT]
    if bad:
        raise ValueError(f"{what}: seeds must be in [0, 2**32), got {bad[0]}")
    if len(set(seeds)) != len(seeds):
        dupes = sorted({s for s in seeds if seeds.count(s) > 1})
        raise ValueError(f"{what} names seed(s) {dupes[:5]} more than once")
    return seeds


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Fields from a TOML file: top-level keys are ``PPOConfig`` fields, plus ``seeds``
    (returned parsed, as a list of ints). ``ValueError`` naming the file for an unreadable,
    oversized, non-UTF-8 or invalid document, and for unknown keys."""
    where = f"--config {str(path)!r}"
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ValueError(f"{where}: cannot read: {err.strerror or err}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ValueError(f"{where}: larger than {MAX_CONFIG_BYTES} bytes; not a config file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: not UTF-8 text (byte {err.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{where}: invalid TOML: {str(err)[:200]}") from None
    except RecursionError:
        raise ValueError(f"{where}: invalid TOML: nested too deeply") from None
    allowed = {*config_field_names(), "seeds"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        shown = ", ".join(repr(k[:40] + ("..." if len(k) > 40 else "")) for k in unknown[:5])
        raise ValueError(f"{where}: unknown key(s) {shown}; allowed: {sorted(allowed)}")
    if "seeds" in data:
        data["seeds"] = parse_seeds(data["seeds"], f"{where}: seeds")
    return data
