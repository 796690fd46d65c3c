"""Reserved names of other JAX environment suites (``suite:id``, e.g. ``brax:ant``).

No suite adapter is written yet: such a name is refused with one line saying so and naming the
way that works today (a ``module:attribute`` factory returning a gymnax-compatible
environment).
"""

from __future__ import annotations

from typing import Any

from ppo_jax.core.config import SUITE_PREFIXES


def make_suite_env(name: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(env, env_params)`` for ``suite:id``: for now a ``ValueError`` saying the adapter is
    not written yet."""
    prefix = name.partition(":")[0]
    if prefix not in SUITE_PREFIXES:
        raise ValueError(f"PPOConfig.env_name {name!r}: unknown suite {prefix!r}")
    raise ValueError(
        f"PPOConfig.env_name {name!r}: no {prefix} adapter is written yet; wrap the environment "
        "in a module:attribute factory returning a gymnax-compatible environment instead"
    )
