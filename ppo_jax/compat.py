"""Old spellings that keep working, all listed in one place.

Two kinds:

* **Moved modules** (:data:`OLD_MODULES`): ``import ppo_jax.summary`` and friends give the
  module that now holds those names (a superset of what the old path exported).
  :func:`install` registers them; ``import ppo_jax`` calls it, so the old paths work wherever
  ``ppo_jax`` is importable.
* **Moved names** (:data:`OLD_NAMES`): names that lived in ``ppo_jax.run.session``,
  ``ppo_jax.run.pbt`` or ``ppo_jax.run.summary`` before 0.3.0 split those modules. The old
  module re-exports each of them from its new home (see its ``__all__``), except
  ``compare_runs``, which ``ppo_jax.run.summary`` cannot import without reading run folders
  (the circle 0.3.0 removed): it is ``ppo_jax.compare_runs`` (``ppo_jax.run.compare``).
  The statistics of ``ppo_jax.run.summary`` live in ``ppo_jax.io.stats``.
  ``tests/unit/test_compat.py`` checks every entry.

New code should use the public names of :mod:`ppo_jax` or the new homes.
"""

from __future__ import annotations

import sys
from types import ModuleType

from ppo_jax.io import tuned
from ppo_jax.run import backend, parallel, summary

OLD_MODULES: dict[str, ModuleType] = {
    "ppo_jax.configs": tuned,
    "ppo_jax.summary": summary,
    "ppo_jax.distributed": parallel,
    "ppo_jax.xla": backend,
}
"""Old module path -> the module that holds its names now (moved before 0.3.0)."""

OLD_NAMES: dict[str, str] = {
    **{
        f"ppo_jax.run.session.{name}": f"ppo_jax.run.{home}.{name}"
        for name, home in [
            ("load_run", "folders"),
            ("replot", "folders"),
            ("resume_command", "session_loop"),
            ("first_nonfinite", "session_loop"),
            ("NONFINITE_METRICS", "session_loop"),
            ("EARLY_FINISH", "session_outputs"),
        ]
    },
    **{
        f"ppo_jax.run.pbt.{name}": f"ppo_jax.run.population.{name}"
        for name in [
            "PBTCarry",
            "PBTPlan",
            "PBTResult",
            "carry_template",
            "check_perturb",
            "check_rank_by",
            "compile_pbt",
            "compile_pbt_segments",
            "init_carry",
            "initial_settings",
            "pbt",
            "pbt_result",
            "plan_pbt",
            "run_pbt",
            "segment_metrics",
        ]
    },
    **{
        f"ppo_jax.run.pbt.{name}": f"ppo_jax.run.folders.{name}"
        for name in [
            "HYPERPARAMETERS_PLOT",
            "PBT_FILE_KEY",
            "PBT_METRICS",
            "load_pbt",
            "saved_settings",
            "space_from_json",
            "space_to_json",
            "write_pbt_plots",
        ]
    },
    **{
        f"ppo_jax.run.summary.{name}": f"ppo_jax.io.stats.{name}"
        for name in [
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
    },
}
"""Old dotted name -> its home since 0.3.0 (the statistics of ``ppo_jax.run.summary`` are in
``ppo_jax.io.stats``); both spellings give the same object."""


def install() -> None:
    """Register :data:`OLD_MODULES` so that ``import ppo_jax.summary`` (and ``from ppo_jax
    import summary``) give the module that holds the names now."""
    package = sys.modules["ppo_jax"]
    for old, module in OLD_MODULES.items():
        sys.modules.setdefault(old, module)
        setattr(package, old.rsplit(".", 1)[1], module)
