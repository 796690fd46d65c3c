"""ppo_jax.compat: every old spelling still gives the object of its new home."""

from __future__ import annotations

import importlib
from pathlib import Path

import ppo_jax
from ppo_jax.compat import OLD_MODULES, OLD_NAMES


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
        module, name = old.rsplit(".", 1)
        assert name in importlib.import_module(module).__all__, old


def test_the_public_names_resolve():
    for name in ppo_jax.__all__:
        assert getattr(ppo_jax, name) is not None, name
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'\nversion = "{ppo_jax.__version__}"\n' in pyproject  # one version number
