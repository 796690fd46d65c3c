"""Population-based training on CartPole: a population whose learning rates are drawn over
four and a half decades (most far too small or too large) is rescued by exploit/explore,
where the same population trained without PBT mostly fails."""

from __future__ import annotations

import numpy as np
import pytest

from ppo_jax import LogUniform, PPOConfig, pbt
from ppo_jax.io.stats import final_return

CONFIG = PPOConfig(total_timesteps=160 * 2048)  # 160 updates of the default config
SPACE = {"learning_rate": LogUniform(1e-6, 3e-2)}


@pytest.mark.timeout(900)
def test_pbt_rescues_a_population_of_bad_learning_rates():
    with_pbt = pbt(CONFIG, SPACE, 8, seed=1, interval=10)
    without = pbt(CONFIG, SPACE, 8, seed=1, interval=10, fraction=0.0)  # same draws, no PBT
    assert with_pbt.initial_settings == without.initial_settings
    solved_pbt = final_return(with_pbt.metrics) >= 475
    solved_alone = final_return(without.metrics) >= 475
    assert solved_pbt.sum() >= 6, final_return(with_pbt.metrics)
    assert solved_alone.sum() <= 4, final_return(without.metrics)
    assert (without.lineage == np.arange(8)[:, None]).all()  # fraction 0: nobody copied
    assert (with_pbt.lineage != np.arange(8)[:, None]).any()
    lr = with_pbt.hyperparams["learning_rate"]
    assert (lr >= np.float32(1e-6)).all() and (lr <= np.float32(3e-2)).all()
