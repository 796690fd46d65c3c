"""ppo_jax.compat: every old spelling still gives the object of its new home."""

from __future__ import annotations

import importlib
from pathlib import Path

import ppo_jax
from ppo_jax.compat import MOVED_MODULES, OLD_MODULES, OLD_NAMES


def _resolve(dotted: str):
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def test_old_module_paths_import_their_new_modules():
    for old, module in OLD_MODULES.items():
        assert importlib.import_module(old) is module
        assert getattr(ppo_jax, old.rsplit(".", 1)[1]) is module
    from ppo_jax.configs import get_config
    from ppo_jax.distributed import initialize
    from ppo_jax.summary import final_return, solved_threshold, steps_to_solve
    from ppo_jax.xla import compiler_options, jit

    assert get_config is ppo_jax.get_config
    assert all((initialize, final_return, solved_threshold, steps_to_solve, compiler_options, jit))


def test_old_names_are_the_objects_of_their_homes():
    for old, new in OLD_NAMES.items():
        assert _resolve(old) is _resolve(new), old
    from ppo_jax.run.sweep import LogUniform

    assert LogUniform is ppo_jax.LogUniform


# Names that lived in the modules 0.4.0 split, with their homes since.
SPLIT = {
    "ppo_jax.run.drivers.train_seeds": "ppo_jax.run.programs.train_seeds",
    "ppo_jax.run.drivers.plan_seeds": "ppo_jax.run.plan.plan_seeds",
    "ppo_jax.run.drivers.seed_list": "ppo_jax.run.plan.seed_list",
    "ppo_jax.run.drivers.compile_segments": "ppo_jax.run.programs.compile_segments",
    "ppo_jax.run.drivers.estimate_run_bytes": "ppo_jax.run.plan.estimate_run_bytes",
    "ppo_jax.run.session.run_experiment": "ppo_jax.run.experiment.run_experiment",
    "ppo_jax.run.session.load_run": "ppo_jax.io.runload.load_run",
    "ppo_jax.run.session.replot": "ppo_jax.io.plotting.replot",
    "ppo_jax.run.session.resume_command": "ppo_jax.run.experiment.resume_command",
    "ppo_jax.run.session.first_nonfinite": "ppo_jax.run.experiment.first_nonfinite",
    "ppo_jax.run.session.NONFINITE_METRICS": "ppo_jax.run.experiment.NONFINITE_METRICS",
    "ppo_jax.run.session.EARLY_FINISH": "ppo_jax.run.experiment.EARLY_FINISH",
    "ppo_jax.run.session_setup.check_memory": "ppo_jax.run.plan.check_memory",
    "ppo_jax.run.session_loop.StopRequests": "ppo_jax.run.experiment.StopRequests",
    "ppo_jax.run.session_outputs.absolute_metric": "ppo_jax.run.experiment.absolute_metric",
    "ppo_jax.run.folders.load_run": "ppo_jax.io.runload.load_run",
    "ppo_jax.run.folders.read_best": "ppo_jax.io.runload.read_best",
    "ppo_jax.run.population.pbt": "ppo_jax.run.pbt.pbt",
    "ppo_jax.run.population.initial_settings": "ppo_jax.core.exploit.initial_settings",
    "ppo_jax.core.evaluate.run_episodes": "ppo_jax.core.episodes.run_episodes",
    "ppo_jax.core.pbt.exploit_explore": "ppo_jax.core.exploit.exploit_explore",
}


def test_split_modules_give_the_names_of_their_new_homes():
    for old, new in SPLIT.items():
        assert old.rsplit(".", 1)[0] in MOVED_MODULES, old
        assert _resolve(old) is _resolve(new), old
    from ppo_jax.run.drivers import train_seeds
    from ppo_jax.run.session import run_experiment

    assert train_seeds is ppo_jax.train_seeds and run_experiment is ppo_jax.run_experiment
    import ppo_jax.run.folders as folders

    assert folders.load_run is ppo_jax.load_run


def test_the_public_names_resolve():
    for name in ppo_jax.__all__:
        assert getattr(ppo_jax, name) is not None, name
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'\nversion = "{ppo_jax.__version__}"\n' in pyproject  # one version number
