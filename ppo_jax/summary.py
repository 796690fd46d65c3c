"""Moved to :mod:`ppo_jax.run.summary`; this path keeps working."""

from ppo_jax.run.summary import final_return, solved_threshold, steps_to_solve

__all__ = ["final_return", "solved_threshold", "steps_to_solve"]
