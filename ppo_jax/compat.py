"""Old spellings that keep working, all listed in one place (and nowhere else).

Three kinds:

* **Moved modules** (:data:`OLD_MODULES`): ``import ppo_jax.summary`` and friends give the
  module that now holds those names (a superset of what the old path exported).
* **Split modules** (:data:`MOVED_MODULES`): modules that no longer exist because their
  contents moved to several new homes (0.4.0: ``ppo_jax.run.drivers`` became ``run.plan`` and
  ``run.programs``; the ``run.session*`` modules became ``run.experiment``, the one pipeline;
  ``run.folders`` became ``io.runload`` and ``io.plotting``; ``run.population`` merged into
  ``run.pbt``; ``core.evaluate`` and ``core.pbt`` were renamed ``core.episodes`` and
  ``core.exploit``; ``run.summary``'s statistics moved to ``io.stats``). Importing the old
  path gives a module whose names are looked up in the new homes, in order.
* **Moved names** (:data:`OLD_NAMES`): names that left a module that still exists; the old
  module gets them as attributes (``from ppo_jax.run.sweep import LogUniform`` still works).

Version compatibility lives here too: ``tomllib`` (Python 3.11+) or its backport ``tomli``.

:func:`install` registers all of them; ``import ppo_jax`` calls it, so the old paths work
wherever ``ppo_jax`` is importable. ``tests/unit/test_compat.py`` checks every entry. New code
should use the public names of :mod:`ppo_jax` or the new homes.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from ppo_jax.core.envs import EnvDraws, step_envs
from ppo_jax.io import stats, tuned
from ppo_jax.run import backend, parallel

if sys.version_info >= (3, 11):
    import tomllib as tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport
    import tomli as tomllib  # noqa: F401 (re-exported: ppo_jax.io.configfile reads TOML with it)

OLD_MODULES: dict[str, ModuleType] = {
    "ppo_jax.configs": tuned,
    "ppo_jax.summary": stats,
    "ppo_jax.distributed": parallel,
    "ppo_jax.xla": backend,
}
"""Old module path -> the module that holds its names now (moved before 0.3.0; the summary
statistics live in ``ppo_jax.io.stats`` since 0.4.0)."""

MOVED_MODULES: dict[str, tuple[str, ...]] = {
    "ppo_jax.run.drivers": ("ppo_jax.run.plan", "ppo_jax.run.programs", "ppo_jax.compat"),
    "ppo_jax.run.session": ("ppo_jax.run.experiment", "ppo_jax.io.runload", "ppo_jax.io.plotting"),
    "ppo_jax.run.session_loop": ("ppo_jax.run.experiment",),
    "ppo_jax.run.session_outputs": ("ppo_jax.run.experiment",),
    "ppo_jax.run.session_setup": ("ppo_jax.run.experiment", "ppo_jax.run.plan"),
    "ppo_jax.run.folders": (
        "ppo_jax.io.runload",
        "ppo_jax.io.plotting",
        "ppo_jax.io.rundir",
        "ppo_jax.core.exploit",
    ),
    "ppo_jax.run.population": ("ppo_jax.run.pbt", "ppo_jax.core.exploit"),
    "ppo_jax.core.evaluate": ("ppo_jax.core.episodes",),
    "ppo_jax.core.pbt": ("ppo_jax.core.exploit",),
    "ppo_jax.run.summary": ("ppo_jax.io.stats",),
}
"""Old module path -> the modules its names live in now (0.4.0), searched in order."""

OLD_NAMES: dict[str, str] = {
    **{
        f"ppo_jax.run.sweep.{name}": f"ppo_jax.core.search.{name}"
        for name in [
            "LogUniform",
            "Uniform",
            "Space",
            "Setting",
            "check_sweep_field",
            "check_space",
            "grid_settings",
            "random_settings",
            "normalize_settings",
            "settings_hyperparams",
            "setting_label",
        ]
    },
    "ppo_jax.run.sweep.MAX_PLOTTED": "ppo_jax.io.plotting.MAX_PLOTTED",
    "ppo_jax.run.sweep.free_device_memory": "ppo_jax.run.plan.free_device_memory",
    "ppo_jax.run.pbt.load_pbt": "ppo_jax.io.runload.load_pbt",
    "ppo_jax.run.pbt.saved_settings": "ppo_jax.io.runload.saved_settings",
    "ppo_jax.run.pbt.space_from_json": "ppo_jax.io.runload.space_from_json",
    "ppo_jax.run.pbt.space_to_json": "ppo_jax.io.rundir.space_to_json",
    "ppo_jax.run.pbt.write_pbt_plots": "ppo_jax.io.plotting.write_pbt_plots",
    "ppo_jax.run.pbt.HYPERPARAMETERS_PLOT": "ppo_jax.io.rundir.HYPERPARAMETERS_PLOT",
    "ppo_jax.run.pbt.PBT_FILE_KEY": "ppo_jax.io.rundir.PBT_FILE_KEY",
    "ppo_jax.run.pbt.PBT_METRICS": "ppo_jax.io.rundir.PBT_METRICS",
    "ppo_jax.io.rundir.read_run_config": "ppo_jax.io.runload.read_run_config",
    "ppo_jax.io.rundir.read_json": "ppo_jax.io.runload.read_json",
    "ppo_jax.io.rundir.read_metrics_csv": "ppo_jax.io.runload.read_metrics_csv",
    "ppo_jax.core.rollout.step_envs_with_keys": "ppo_jax.compat.step_envs_with_keys",
}
"""Old dotted name (in a module that still exists) -> its home since 0.4.0."""


def step_envs_with_keys(env: Any, env_params: Any, keys: Any, carry: Any, action: Any) -> Any:
    """Before 0.4.0 ``ppo_jax.core.rollout.step_envs_with_keys``: ``step_envs`` with one given
    key per environment, now ``step_envs(env, params, None, carry, action, EnvDraws(None,
    keys))``."""
    return step_envs(env, env_params, None, carry, action, EnvDraws(key=None, env_keys=keys))


def resolve_env(config: Any, env: Any = None, env_params: Any = None) -> tuple[Any, Any]:
    """Before 0.4.0 ``ppo_jax.run.drivers.resolve_env``: ``(env, env_params)`` of a config
    and an optional environment object, now ``ppo_jax.run.plan.resolve_problem``."""
    from ppo_jax.core.spec import Problem, make_spec
    from ppo_jax.run.plan import check_config, resolve_problem

    problem = resolve_problem(check_config(config), Problem(env=env, env_params=env_params))
    if env is not None:
        make_spec(config, problem)  # checks the environment, as the old function did
    return problem.env, problem.env_params


def _resolve(dotted: str) -> Any:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _moved_module(old: str, homes: tuple[str, ...]) -> ModuleType:
    """A module object for ``old`` whose attributes are looked up in ``homes``."""
    shim = ModuleType(old, f"Old path of names now in {', '.join(homes)} (ppo_jax.compat).")

    def lookup(name: str) -> Any:
        for home in homes:
            module = importlib.import_module(home)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {old!r} (now {', '.join(homes)}) has no attribute {name!r}")

    shim.__getattr__ = lookup  # type: ignore[method-assign]
    return shim


def install() -> None:
    """Register :data:`OLD_MODULES`, :data:`MOVED_MODULES` and :data:`OLD_NAMES`, so that
    ``import ppo_jax.summary``, ``from ppo_jax.run.drivers import train_seeds`` and ``from
    ppo_jax.run.sweep import LogUniform`` give the objects of their new homes."""
    package = sys.modules["ppo_jax"]
    for old, module in OLD_MODULES.items():
        sys.modules.setdefault(old, module)
        setattr(package, old.rsplit(".", 1)[1], module)
    for old, homes in MOVED_MODULES.items():
        shim = sys.modules.setdefault(old, _moved_module(old, homes))
        parent, _, name = old.rpartition(".")
        setattr(importlib.import_module(parent), name, shim)
    for old, new in OLD_NAMES.items():
        home, _, name = old.rpartition(".")
        setattr(importlib.import_module(home), name, _resolve(new))
