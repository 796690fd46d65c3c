"""ppo_jax.run.session_loop: the pieces of the loop that train and PBT sessions share, on
their own (whole sessions: test_session.py, tests/integration/test_sessions.py)."""

from __future__ import annotations

import numpy as np

from ppo_jax import PPOConfig
from ppo_jax.run.session_loop import NONFINITE_METRICS, first_nonfinite, resume_command


def _metrics(value: float = 0.0) -> dict[str, np.ndarray]:
    return {name: np.full((2, 3), value) for name in NONFINITE_METRICS}


def test_first_nonfinite_names_the_metric_update_and_row():
    assert first_nonfinite(_metrics(), {"w": np.zeros(2)}, 0) is None
    bad = _metrics()
    bad["entropy"][1, 2] = np.nan
    assert first_nonfinite(bad, {"w": np.zeros(2)}, 10) == (
        "non-finite entropy at update 13 (seed index 1)"
    )
    # Updates skipped after stop_at_return log 0 env steps and NaN losses: not a problem.
    skipped = {**_metrics(np.nan), "env_steps": np.zeros((2, 3))}
    assert first_nonfinite(skipped, {"w": np.zeros(2)}, 0) is None


def test_resume_command_adds_trust_only_for_module_environments():
    assert resume_command("train", "runs/a", PPOConfig()) == "ppo-jax train --resume runs/a"
    config = PPOConfig(env_name="examples.corridor:Corridor")
    assert resume_command("pbt", "runs/b", config).endswith("--resume runs/b --trust-env-module")
