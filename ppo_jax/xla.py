"""Moved to :mod:`ppo_jax.run.backend`; this path keeps working."""

from ppo_jax.run.backend import CPU_OPTIMIZATION_LEVEL, compiler_options, jit

__all__ = ["CPU_OPTIMIZATION_LEVEL", "compiler_options", "jit"]
