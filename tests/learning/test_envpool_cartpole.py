"""CartPole-v1 through EnvPool (``envpool:CartPole-v1``): solved on 4 of 4 seeds by the training
return, and judged again by an environment nobody here wrote: gymnasium's own CartPole-v1
plays each seed's exported greedy policy."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from gym_oracle import gymnasium_returns

from ppo_jax import get_config, train_seeds
from ppo_jax.io.stats import final_return
from ppo_jax.io.tuned import TARGETS

pytest.importorskip("envpool")


@pytest.mark.timeout(900)
def test_envpool_cartpole_is_solved_on_four_seeds_and_by_gymnasium():
    config = get_config("envpool:CartPole-v1")
    result = train_seeds(config, 4)
    finals = final_return({k: np.asarray(v) for k, v in result.metrics.items()})
    assert np.all(finals >= TARGETS["envpool:CartPole-v1"]), finals
    judge = config.replace(env_name="CartPole-v1")  # gymnasium's id; the same policy inputs
    for seed in range(4):
        params = jax.tree.map(lambda x, s=seed: x[s], result.params)
        returns = gymnasium_returns(judge, params, episodes=5, seed=500 + 10 * seed)
        assert np.mean(returns) >= 475.0, (seed, returns)
