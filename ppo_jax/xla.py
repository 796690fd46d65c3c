"""How ppo_jax compiles its programs: ``jax.jit`` plus XLA compiler options per backend.

On the CPU, XLA's LLVM back end by default optimises generated code at level 2. For these
programs the time goes to library matmuls and small fused loops, and level 1 compiles the
default CartPole training program 20-35% faster with unchanged run time (the harness measured
13.0 s -> 10.3 s for one seed, 17.4-18.3 s -> 11.1-12.4 s for 8; see the README). Each operation
agrees to float32 rounding (LLVM may order a reduction differently); over a long run such
last-bit differences can grow into a different trajectory, as with any XLA version change (3 of 8
default CartPole seeds diverged, all solved; ``tests/test_xla.py`` checks a short run). Other
backends keep XLA's defaults.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax

CPU_OPTIMIZATION_LEVEL = 1
"""``xla_backend_optimization_level`` for programs compiled for the CPU."""

OPT_LEVEL_FLAG = "xla_backend_optimization_level"


def compiler_options(platform: str | None = None) -> dict[str, Any]:
    """XLA compiler options for a program compiled for ``platform`` (default: JAX's default
    backend): ``{"xla_backend_optimization_level": 1}`` on the CPU, nothing elsewhere, and
    nothing when ``XLA_FLAGS`` already sets that level (the user's choice wins)."""
    if OPT_LEVEL_FLAG in os.environ.get("XLA_FLAGS", ""):
        return {}
    if (platform or jax.default_backend()) != "cpu":
        return {}
    return {OPT_LEVEL_FLAG: CPU_OPTIMIZATION_LEVEL}


def jit(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """``jax.jit(fn, **kwargs)`` with :func:`compiler_options` for the default backend."""
    return jax.jit(fn, compiler_options=compiler_options(), **kwargs)
