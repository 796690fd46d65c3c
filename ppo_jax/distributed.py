"""Moved to :mod:`ppo_jax.run.parallel`; this path keeps working."""

from ppo_jax.run.parallel import initialize

__all__ = ["initialize"]
