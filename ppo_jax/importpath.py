"""What the ``ppo-jax`` command lets Python import from the working directory: nothing, unless
the environment the user names is a ``module:attribute`` whose module is found nowhere else.

A run folder is often read where others' files lie (a shared folder, a crowded download
directory). A file there named ``numpy.py``, ``matplotlib.py`` or ``tensorboardX.py`` must not
replace the installed package of that name. So:

- The ``ppo-jax`` console script never puts the working directory on ``sys.path`` for a gymnax
  id, a suite id, or a command that reads a folder (``plot``, ``compare``, an untrusted
  ``eval``). For ``--env my_envs:MyEnv`` (or a ``--config`` file, or a trusted folder, naming
  one) whose top-level module is not importable from the installed path, the working
  directory is *appended* to ``sys.path``: the user's module is found, and every installed
  package still comes first.
- ``python -m ppo_jax`` is different: Python itself puts the working directory first, before
  any of our code runs. :func:`drop_cwd_of_python_m` (called at the top of
  ``ppo_jax/__init__.py``, before any third-party import) takes that entry out again when the
  module run is ``ppo_jax``; ``python -P -m ppo_jax`` (Python 3.11+) never adds it. Python's
  own start-up imports (the standard library modules it loads before ``ppo_jax``) are out of
  our reach: prefer the ``ppo-jax`` script, or ``-P``.

This module imports only the standard library at its top (it runs before anything else of
the package), which is why it sits beside ``ppo_jax/__init__.py`` and not in ``cli/``.
"""

from __future__ import annotations

import importlib.util
import os
import sys

MAIN_MODULES = ("ppo_jax", "ppo_jax.__main__")
"""The ``-m`` targets that are this command line."""


def main_module_of(orig_argv: list[str]) -> str | None:
    """The module ``python ... -m MODULE`` runs, from the interpreter's own arguments
    (``sys.orig_argv``), or ``None`` when it was not started with ``-m``."""
    args = iter(orig_argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, None)
        if arg.startswith("-m") and not arg.startswith("--"):
            return arg[2:]
        if arg in ("-c", "-") or not arg.startswith("-"):
            return None  # a script, -c or stdin: no -m
        if arg in ("-X", "-W", "--check-hash-based-pycs"):
            next(args, None)  # an option that takes a value
    return None


def drop_cwd_of_python_m() -> bool:
    """Under ``python -m ppo_jax``, remove the working directory Python put first on
    ``sys.path`` (what ``-P`` would have done); returns whether it did. Does nothing for any
    other way of starting Python, including ``python -m`` of another module that imports
    ``ppo_jax`` (its own imports from the working directory are that program's business)."""
    if sys.argv[:1] != ["-m"] or sys.flags.safe_path:
        return False  # argv[0] is "-m" only while ``python -m`` imports the package
    if main_module_of(list(getattr(sys, "orig_argv", []))) not in MAIN_MODULES:
        return False
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
        return True
    return False


def _is_cwd(entry: str, cwd: str) -> bool:
    return entry in ("", ".") or os.path.abspath(entry) == cwd


def importable_without_cwd(module: str) -> bool:
    """Whether the top-level package of ``module`` is found on ``sys.path`` without the
    working directory (nothing is imported: ``find_spec`` of a top-level name only looks)."""
    top = module.split(".")[0]
    if top in sys.modules:
        return True
    cwd = os.path.abspath(os.getcwd())
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if not _is_cwd(p, cwd)]
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path[:] = saved


def allow_env_module_from_cwd(env_name: str | None) -> bool:
    """Append the working directory to ``sys.path`` when ``env_name`` is a
    ``module:attribute`` whose module is not importable otherwise (``--env my_envs:MyEnv``
    beside ``./my_envs.py``); returns whether it did. Gymnax ids, suite ids and modules
    found elsewhere leave ``sys.path`` as it is."""
    from ppo_jax.core.config import env_name_kind

    if not isinstance(env_name, str):
        return False
    try:
        if env_name_kind(env_name) != "module":
            return False
    except ValueError:
        return False  # refused later, naming the field
    module = env_name.partition(":")[0]
    cwd = os.path.abspath(os.getcwd())
    if any(_is_cwd(p, cwd) for p in sys.path) or importable_without_cwd(module):
        return False
    sys.path.append(cwd)
    return True
