"""Hyperparameter search spaces and settings, pure (numpy and the config; no devices, no I/O).

A *setting* is ``{traced field: value}``; a sweep trains a list of them (a grid's Cartesian
product, :func:`grid_settings`, or draws of a *space*, :func:`random_settings`), PBT draws its
members' first hyperparameters from a space (:func:`~ppo_jax.core.exploit.initial_settings`).
A space maps each searched field to :class:`LogUniform`, :class:`Uniform` or a list of
choices. Only :data:`~ppo_jax.core.config.TRACED_FIELDS` may be searched: they are arguments of
the compiled program, so every setting shares one executable.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from ppo_jax.core.config import TRACED_FIELDS, Hyperparams, PPOConfig, config_field_names

MAX_SETTINGS = 2**20
"""Most settings a sweep or a random search takes."""


def key_data(key: Any) -> np.ndarray:
    """A key as ``uint32[2]`` numpy data (a ``jax.random.PRNGKey`` or a typed key);
    ``ValueError`` for anything else."""
    key = key if isinstance(key, jax.Array) else np.asarray(key)
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    data = np.asarray(key)
    if data.shape != (2,) or data.dtype != np.uint32:
        raise ValueError(
            "key must be a jax.random.PRNGKey (uint32[2]) or a typed key, got "
            f"{data.dtype}{list(data.shape)}"
        )
    return data


Setting = dict[str, float]


def check_sweep_field(name: Any) -> None:
    """Raise ``ValueError`` unless ``name`` is a sweepable (traced) config field."""
    if name in TRACED_FIELDS:
        return
    if name in config_field_names():
        raise ValueError(
            f"PPOConfig.{name} cannot be swept: it sets an array shape, a loop length or the "
            f"environment, so it is static. Sweepable fields: {', '.join(TRACED_FIELDS)}"
        )
    raise ValueError(
        f"unknown sweep field {str(name)[:100]!r}; sweepable fields: {', '.join(TRACED_FIELDS)}"
    )


def grid_settings(grid: Mapping[str, Sequence[float]]) -> list[Setting]:
    """Full Cartesian product of ``grid`` (field -> list of values), first field slowest."""
    if not grid:
        raise ValueError("the sweep grid is empty: give at least one field and its values")
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


Space = Mapping[str, LogUniform | Uniform | Sequence[float]]


def check_space(space: Any) -> None:
    """``ValueError`` unless every entry of ``space`` is a sweepable field with a valid
    distribution or a non-empty list of choices."""
    if not isinstance(space, Mapping) or not space:
        raise ValueError("the search space must be a non-empty dict of field -> distribution")
    for name, dist in space.items():
        check_sweep_field(name)
        if isinstance(dist, LogUniform):
            if not 0 < dist.low <= dist.high:
                raise ValueError(f"space[{name!r}]: LogUniform needs 0 < low <= high, got {dist}")
        elif isinstance(dist, Uniform):
            if not dist.low <= dist.high:
                raise ValueError(f"space[{name!r}]: Uniform needs low <= high, got {dist}")
        elif not (isinstance(dist, Sequence) and not isinstance(dist, str) and dist):
            raise ValueError(
                f"space[{name!r}] must be LogUniform, Uniform or a list of choices, got {dist!r}"
            )


def random_settings(space: Space, num_samples: int, key: Any) -> list[Setting]:
    """``num_samples`` settings drawn independently from ``space`` with ``key``.

    Each field maps to :class:`LogUniform`, :class:`Uniform` or a list of choices.
    """
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, int)
        or not 1 <= num_samples <= MAX_SETTINGS
    ):
        raise ValueError(f"num_samples must be an int in [1, {MAX_SETTINGS}], got {num_samples!r}")
    check_space(space)
    rng = np.random.default_rng(key_data(key))
    columns: dict[str, np.ndarray] = {}
    for name, dist in space.items():
        if isinstance(dist, LogUniform):
            columns[name] = np.exp(rng.uniform(np.log(dist.low), np.log(dist.high), num_samples))
        elif isinstance(dist, Uniform):
            columns[name] = rng.uniform(dist.low, dist.high, num_samples)
        else:
            columns[name] = np.asarray(dist, np.float64)[rng.integers(0, len(dist), num_samples)]
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
    if len(settings) > MAX_SETTINGS:
        raise ValueError(f"the sweep has {len(settings)} settings; at most {MAX_SETTINGS}")
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


def setting_label(setting: Mapping[str, float]) -> str:
    """``"learning_rate=0.001 clip_eps=0.2"``: a setting spelled out."""
    return " ".join(f"{k}={v:g}" for k, v in setting.items())
