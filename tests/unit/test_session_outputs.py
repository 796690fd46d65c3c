"""ppo_jax.run.session_outputs: what a session keeps of its evaluations (the best parameters,
the absolute metric). The files it writes are checked through whole sessions in
test_session.py (evaluation, best/, results.json)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ppo_jax.run.session_outputs import all_stopped, evaluation_of


def test_without_evaluation_nothing_is_stopped():
    assert evaluation_of(SimpleNamespace()) is None
    assert not all_stopped(SimpleNamespace())


def test_every_run_must_have_stopped():
    carry = SimpleNamespace(runner=SimpleNamespace(evaluation=SimpleNamespace(stopped=None)))
    carry.runner.evaluation.stopped = np.array([True, False])
    assert evaluation_of(carry) is carry.runner.evaluation and not all_stopped(carry)
    carry.runner.evaluation.stopped = np.array([True, True])
    assert all_stopped(carry)
