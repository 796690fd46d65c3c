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
    # Updates skipped after stop_at_return log NaN losses and the env steps the run had
    # taken (earlier versions logged 0): not a problem; an update counts where steps grew.
    skipped = {**_metrics(np.nan), "env_steps": np.zeros((2, 3))}
    assert first_nonfinite(skipped, {"w": np.zeros(2)}, 0) is None
    kept = {**_metrics(), "env_steps": np.array([[24, 24, 24], [32, 40, 48]])}
    kept["value_loss"][0] = np.nan  # row 0 had stopped at 24 steps, before these updates
    assert first_nonfinite(kept, {"w": np.zeros(2)}, 3, np.array([24, 24])) is None
    kept["value_loss"][1, 0] = np.nan  # row 1 trained update 4 (24 -> 32 steps)
    assert first_nonfinite(kept, {"w": np.zeros(2)}, 3, np.array([24, 24])) == (
        "non-finite value_loss at update 4 (seed index 1)"
    )


def test_resume_command_adds_trust_only_for_module_environments():
    assert resume_command("train", "runs/a", PPOConfig()) == "ppo-jax train --resume runs/a"
    config = PPOConfig(env_name="examples.corridor:Corridor")
    assert resume_command("pbt", "runs/b", config).endswith("--resume runs/b --trust-env-module")
