"""The independent judge of learning tests: gymnasium's own implementation of an environment
plays the greedy policy exported from ppo_jax parameters."""

from __future__ import annotations

from typing import Any

import pytest

from ppo_jax import PPOConfig, export_policy


def gymnasium_returns(config: PPOConfig, params: Any, episodes: int, seed: int) -> list[float]:
    """Greedy returns of ``params`` in gymnasium's ``config.env_name`` (its own time limit);
    episode ``i`` is reset with ``seed + i``."""
    gym = pytest.importorskip("gymnasium")
    act = export_policy(config, params)
    env = gym.make(config.env_name)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns
