"""Moved to :mod:`ppo_jax.io.tuned`; this path keeps working."""

from ppo_jax.io.tuned import MINATAR_ENVS, TARGETS, get_config, tuned_configs, tuned_env_names

__all__ = ["MINATAR_ENVS", "TARGETS", "get_config", "tuned_configs", "tuned_env_names"]
