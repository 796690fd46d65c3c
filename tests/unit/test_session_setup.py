"""ppo_jax.run.session_setup: the checks a session makes before anything is written (counts,
the identity a resume must match, a resumed config). Whole sessions: test_session.py."""

from __future__ import annotations

import numpy as np
import pytest

from ppo_jax import PPOConfig
from ppo_jax.core.config import INT32_MAX
from ppo_jax.run.session_setup import check_config_equal, check_count, describe, run_identity


def test_check_count_takes_ints_in_range_and_names_the_argument():
    assert check_count("stop_after", 3, 1) == 3
    assert check_count("stop_after", np.int64(3), 1) == 3
    assert check_count("stop_after", None, 1) is None
    for bad in (0, True, 2.0, INT32_MAX + 1, "3"):
        with pytest.raises(ValueError, match="stop_after must be an int in"):
            check_count("stop_after", bad, 1)
    with pytest.raises(ValueError, match="checkpoint_every"):
        check_count("checkpoint_every", None, 0, none_ok=False)


def test_the_identity_names_environment_and_extension_objects():
    identity = run_identity(
        PPOConfig(), [0, 1], {"learning_rate": 1e-3}, None, network=None, lr_schedule=None,
        metrics_fn=describe,
    )  # fmt: skip
    assert identity["kind"] == "train" and identity["seeds"] == [0, 1]
    assert identity["env"] == "CartPole-v1" and identity["network"] is None
    assert identity["metrics_fn"] == "ppo_jax.run.session_setup.describe"
    assert describe(None) is None and describe(3) == "3"


def test_a_resumed_config_must_equal_the_saved_one():
    saved = PPOConfig()
    assert check_config_equal(PPOConfig(), saved) == []
    assert check_config_equal(PPOConfig(num_envs=16), saved) == ["num_envs=16 (saved 32)"]
