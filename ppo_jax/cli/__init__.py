"""The ``ppo-jax`` command: a thin face of ``ppo_jax.run`` and ``ppo_jax.io``."""

from ppo_jax.cli.main import main

__all__ = ["main"]
