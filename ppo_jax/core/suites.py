"""Adapters of other JAX environment suites to the gymnax >= 1.0 contract (``suite:id`` names).

Each suite is an optional extra, imported only when its prefix is used.
"""

from __future__ import annotations

from typing import Any

from ppo_jax.core.config import SUITE_PREFIXES


def make_suite_env(name: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(env, env_params)`` for ``suite:id``; ``ValueError`` naming the pip extra when the
    suite is not installed."""
    prefix = name.partition(":")[0]
    if prefix not in SUITE_PREFIXES:
        raise ValueError(f"PPOConfig.env_name {name!r}: unknown suite {prefix!r}")
    raise ValueError(
        f"PPOConfig.env_name {name!r}: the {prefix} adapter is not available yet "
        f'(pip install "ppo-jax[{prefix}]")'
    )
