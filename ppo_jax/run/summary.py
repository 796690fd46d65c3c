"""Old home of the summary statistics; since 0.3.0 they live in :mod:`ppo_jax.io.stats` (pure
functions over arrays, with the interval methods chosen by measured coverage).

Every name that was here is still importable from this module (and from ``ppo_jax.summary``):
see :data:`~ppo_jax.compat.OLD_NAMES`. ``iqm_with_ci`` and ``probability_of_improvement``
keep their rliable percentile bootstrap and their 3-tuples; new code uses
:func:`~ppo_jax.io.stats.iqm_interval` and
:func:`~ppo_jax.io.stats.improvement_interval`.
"""

from __future__ import annotations

from ppo_jax.io.stats import (
    BOOTSTRAP_REPS,
    CONFIDENCE,
    FINAL_WINDOW_FRACTION,
    SOLVED_THRESHOLDS,
    final_return,
    iqm_with_ci,
    performance_profiles,
    probability_of_improvement,
    solved_threshold,
    steps_to_solve,
)

__all__ = [
    "BOOTSTRAP_REPS",
    "CONFIDENCE",
    "FINAL_WINDOW_FRACTION",
    "SOLVED_THRESHOLDS",
    "final_return",
    "iqm_with_ci",
    "performance_profiles",
    "probability_of_improvement",
    "solved_threshold",
    "steps_to_solve",
]
