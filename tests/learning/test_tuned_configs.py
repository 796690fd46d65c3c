"""Short learning tests of the tuned MinAtar configs (``ppo_jax.get_config``) on a CPU. Every
CPU-sized tuned config is trained over 10-16 seeds and judged by an implementation nobody here
wrote in tests/learning/test_results_table.py (``-m full``) and on the results page."""

from __future__ import annotations

import numpy as np
import pytest

from ppo_jax import get_config, train_seeds
from ppo_jax.io.stats import final_return


def _learning_gain(env_name: str, total_timesteps: int) -> tuple[float, float]:
    config = get_config(env_name, total_timesteps=total_timesteps)
    result = train_seeds(config, 1)
    metrics = {k: np.asarray(v)[0] for k, v in result.metrics.items()}
    returns = metrics["episode_return"]
    first = float(np.nanmean(returns[: max(1, len(returns) // 10)]))
    final = float(final_return(metrics))
    return first, final


@pytest.mark.timeout(600)
def test_minatar_breakout_learns_on_cpu():
    """A short CPU run of the tuned MinAtar config (CNN torso): the return must rise well above
    the untrained policy's (about 1 per episode)."""
    first, final = _learning_gain("Breakout-MinAtar", 65_536)
    assert final >= 3.0 and final >= 2.0 * first, (first, final)


@pytest.mark.full
@pytest.mark.timeout(900)
@pytest.mark.parametrize("env_name", ["Asterix-MinAtar", "SpaceInvaders-MinAtar"])
def test_other_minatar_configs_learn_on_cpu(env_name):
    first, final = _learning_gain(env_name, 262_144)
    assert final >= 1.5 * first, (first, final)
