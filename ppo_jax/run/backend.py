"""Backend-specific choices, in one place: what ppo_jax does differently per XLA backend.

======================  ==========================================  ==========================
choice                  CPU                                         GPU / TPU
======================  ==========================================  ==========================
LLVM optimisation       level 1 (``compiler_options``)              XLA's default
CNN convolution         im2col: one matmul over the patches         ``nn.Conv`` (cuDNN / TPU
                        (``PatchConv``)                             convolution)
orthogonal init         Newton-Schulz polar iteration (no LAPACK)   the same
======================  ==========================================  ==========================

Why, measured with the benchmarks harness on this project's 2-core CPU (see the README):

* LLVM level 1 compiles the CartPole program 20-35% faster than XLA's default level 2 with the
  same run time; each operation agrees to float32 rounding. An ``--xla_backend_optimization_level``
  in ``XLA_FLAGS`` wins over it.
* XLA:CPU's convolution (and its gradient) is far slower than a matmul over im2col patches for
  MinAtar-sized images; accelerators have fast convolutions, so they keep them. Both give the
  same parameters (``kernel [k, k, C, F]``) and the same outputs up to rounding.
* The matmul-only initialisation is kept on every backend so that a seed draws the same initial
  parameters everywhere, and because batched LAPACK QR under ``vmap`` can deadlock XLA:CPU's
  thread pool (KNOWN_PITFALLS).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax

CPU_OPTIMIZATION_LEVEL = 1
"""``xla_backend_optimization_level`` for programs compiled for the CPU."""

OPT_LEVEL_FLAG = "xla_backend_optimization_level"


def platform() -> str:
    """The default backend's platform: ``"cpu"``, ``"gpu"`` or ``"tpu"``."""
    return jax.default_backend()


def compiler_options(platform_name: str | None = None) -> dict[str, Any]:
    """XLA compiler options for a program compiled for ``platform_name`` (default: JAX's
    default backend): ``{"xla_backend_optimization_level": 1}`` on the CPU, nothing elsewhere,
    and nothing when ``XLA_FLAGS`` already sets that level (the user's choice wins)."""
    if OPT_LEVEL_FLAG in os.environ.get("XLA_FLAGS", ""):
        return {}
    if (platform_name or platform()) != "cpu":
        return {}
    return {OPT_LEVEL_FLAG: CPU_OPTIMIZATION_LEVEL}


def conv_implementation(platform_name: str | None = None) -> str:
    """How the built-in CNN torso convolves: ``"im2col"`` on the CPU, ``"native"`` elsewhere."""
    return "im2col" if (platform_name or platform()) == "cpu" else "native"


def jit(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """``jax.jit(fn, **kwargs)`` with :func:`compiler_options` for the default backend."""
    return jax.jit(fn, compiler_options=compiler_options(), **kwargs)
