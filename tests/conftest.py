"""Shared fixtures. Tests run JAX on the CPU; every test has a timeout (pyproject: 300 s)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Hermetic tests: the CLI's persistent compilation cache stays off unless a test turns it on.
os.environ["PPO_JAX_COMPILE_CACHE"] = "off"
# Two host devices, so that sharded sweeps are tested on more than one device.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()
sys.path.insert(0, os.path.dirname(__file__))

import jax
import pytest

from ppo_jax import PPOConfig


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core, at most 4 (each worker holds a JAX runtime)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


@pytest.fixture
def tiny_config() -> PPOConfig:
    """A config that compiles and runs in seconds: 4 envs x 8 steps, 3 updates."""
    return PPOConfig(
        num_envs=4,
        num_steps=8,
        total_timesteps=4 * 8 * 3,
        update_epochs=2,
        num_minibatches=2,
        hidden_sizes=(16, 16),
    )


@pytest.fixture
def key() -> jax.Array:
    return jax.random.PRNGKey(0)
