"""Shared fixtures. Tests run JAX on the CPU; every test has a timeout (pyproject: 300 s).

Tiers: ``tests/unit`` (one file per module of ``ppo_jax.core``, ``ppo_jax.run`` and
``ppo_jax.io``) and ``tests/integration`` (the CLI, sessions, several processes, the README) form
the quick tier, the README's test command, except the tests marked ``heavy`` (crashes, races,
several processes: ``python -m pytest -m heavy``). ``tests/learning`` (trained policies judged
by environments nobody here wrote) is the learning tier: ``python -m pytest -m learning``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Hermetic tests: the CLI's persistent compilation cache stays off unless a test turns it on.
os.environ["PPO_JAX_COMPILE_CACHE"] = "off"
# Two host devices, so that sharded runs are tested on more than one device.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()
sys.path.insert(0, os.path.dirname(__file__))

import jax
import pytest

from ppo_jax import PPOConfig

LEARNING_DIR = Path(__file__).parent / "learning"


def pytest_configure(config: pytest.Config) -> None:
    """The quick tier compiles many small programs and runs each briefly: it compiles at LLVM
    level 0 (about a third less compile time; slower code does not matter for such short
    runs). The learning tier keeps the library's CPU default (level 1), which runs ~3x faster."""
    markexpr = config.getoption("markexpr", "") or ""
    wants_learning = any(
        word in markexpr.replace("not learning", "").replace("not full", "")
        for word in ("learning", "full")
    )
    flags = os.environ.get("XLA_FLAGS", "")
    if not wants_learning and "xla_backend_optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_backend_optimization_level=0").strip()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under ``tests/learning`` is the learning tier (marker ``learning``)."""
    for item in items:
        if LEARNING_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.learning)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core, at most 4 (each worker holds a JAX runtime)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


TINY = {
    "num_envs": 4,
    "num_steps": 8,
    "total_timesteps": 4 * 8 * 3,
    "update_epochs": 2,
    "num_minibatches": 2,
    "hidden_sizes": (16, 16),
}
"""A config that compiles and runs in seconds: 4 envs x 8 steps, 3 updates."""


@pytest.fixture
def tiny_config() -> PPOConfig:
    return PPOConfig(**TINY)


@pytest.fixture
def key() -> jax.Array:
    return jax.random.PRNGKey(0)
