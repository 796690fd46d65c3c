"""Config files: TOML documents of :class:`~ppo_jax.core.config.PPOConfig` fields (plus
``seeds``), read with every failure turned into one ``ValueError`` naming the file and the key.

.. code-block:: toml

    num_envs = 32
    total_timesteps = 262144
    hidden_sizes = [64, 64]
    seeds = [0, 1, 2]        # or a count (8), or "0:8", or "0,5,9"
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ppo_jax.compat import tomllib
from ppo_jax.core.config import config_field_names
from ppo_jax.core.seeds import MAX_SEEDS, check_seed_values
from ppo_jax.core.seeds import SEED_LIMIT as SEED_LIMIT  # its home up to 0.3.0

MAX_CONFIG_BYTES = 2**20
"""Largest config file read."""


SEED_COUNT = re.compile(r"\s*(\d+)\s*")
SEED_LIST = re.compile(r"\s*-?\d+\s*(,\s*-?\d+\s*)*,?\s*")
SEED_RANGE = re.compile(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*")
MAX_DIGITS = 20
"""Longest number a seed spec may spell (a seed has at most 10 digits)."""


class _NotASeedSpecError(Exception):
    """The value is not a count, a list or a range (the caller says what is)."""


def _number(text: str) -> int:
    text = text.strip()
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _NotASeedSpecError  # no seed is that long (and int() of 4300 digits raises)
    return int(text)


def _seed_values(value: Any, what: str) -> list[int]:
    """The seeds a value names, their range unchecked; ``_NotASeedSpecError`` when the value is
    not a count, a list or a range, ``ValueError`` naming ``what`` for a count or a range of
    more than ``MAX_SEEDS`` seeds (refused before any list is built)."""
    if isinstance(value, bool) or not isinstance(value, int | list | str):
        raise _NotASeedSpecError
    if isinstance(value, str):
        if SEED_COUNT.fullmatch(value):
            value = _number(value)
        elif SEED_RANGE.fullmatch(value):
            lo, hi = (_number(x) for x in value.split(":"))
            if hi - lo > MAX_SEEDS:
                raise ValueError(f"{what}: at most {MAX_SEEDS} seeds, got {hi - lo}")
            return list(range(lo, hi))
        elif SEED_LIST.fullmatch(value):
            return [_number(s) for s in value.split(",") if s.strip()]
        else:
            raise _NotASeedSpecError
    if isinstance(value, int):
        if not 1 <= value <= MAX_SEEDS:
            raise ValueError(f"{what}: a count must be in [1, {MAX_SEEDS}], got {value}")
        return list(range(value))
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        raise _NotASeedSpecError
    return value


def seed_usage(what: str = "--seeds", toml: bool = False) -> str:
    """What a seed spec may be, in the words of the CLI flag or of a TOML file."""
    if toml:
        forms = (
            'a count (seeds = 8), a list (seeds = [0, 5, 9] or "0,5,9") or a range (seeds = "3:7")'
        )
    else:
        forms = "a count (8), a list (0,5,9) or a range (3:7)"
    return f"{what} takes {forms} of seeds in [0, 2**32)"


def parse_seeds(value: Any, what: str = "--seeds", toml: bool = False) -> list[int]:
    """Seeds from a count (``8`` or ``"8"`` -> 0..7), a list (``[0, 5, 9]`` or ``"0,5,9"``)
    or a range (``"3:7"`` -> 3..6); every seed in ``[0, 2**32)``, no duplicates, at most
    ``MAX_SEEDS``. Anything else (``"0:1:2"``, ``"1.5"``, ``[True]``) is a ``ValueError``
    naming ``what`` and the accepted forms (in TOML's words when ``toml``); a count or a
    range too large is refused before any list is built."""
    try:
        seeds = _seed_values(value, what)
    except _NotASeedSpecError:
        raise ValueError(f"{seed_usage(what, toml)}, got {str(value)[:80]!r}") from None
    if not seeds:
        raise ValueError(f"{what} names no seed ({str(value)[:80]!r})")
    return check_seed_values(seeds, what)


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
        data["seeds"] = parse_seeds(data["seeds"], f"{where}: seeds", toml=True)
    return data
