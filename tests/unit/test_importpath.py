"""ppo_jax.importpath: the working directory reaches ``sys.path`` only for a
``module:attribute`` environment found nowhere else, and then last; under ``python -m
ppo_jax`` the entry Python put first is taken out. The same through the installed script and
``python -m`` in a folder of shadowing modules: tests/integration/test_untrusted_folders.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ppo_jax.importpath import (
    allow_env_module_from_cwd,
    drop_cwd_of_python_m,
    importable_without_cwd,
    main_module_of,
)


def test_the_module_python_m_runs_is_read_from_the_interpreter_arguments():
    assert main_module_of(["python", "-m", "ppo_jax", "plot", "."]) == "ppo_jax"
    assert main_module_of(["python", "-P", "-X", "dev", "-mppo_jax", "eval"]) == "ppo_jax"
    assert main_module_of(["python", "-W", "ignore", "-m", "pytest", "-m", "ppo_jax"]) == "pytest"
    assert main_module_of(["python", "script.py", "-m", "ppo_jax"]) is None
    assert main_module_of(["python", "-c", "import ppo_jax", "-m", "ppo_jax"]) is None
    assert main_module_of(["ppo-jax"]) is None


@pytest.fixture
def isolated_path(monkeypatch, tmp_path):
    """``sys.path`` and the working directory restored after the test; cwd is ``tmp_path``."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_python_m_ppo_jax_loses_the_working_directory(isolated_path, monkeypatch):
    cwd = str(isolated_path)
    monkeypatch.setattr(sys, "argv", ["-m"])
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "ppo_jax", "plot", "."])
    sys.path.insert(0, cwd)
    assert drop_cwd_of_python_m() and cwd not in sys.path
    sys.path.insert(0, cwd)
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "my_tool"])  # another program
    assert not drop_cwd_of_python_m() and sys.path[0] == cwd
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "ppo_jax"])
    monkeypatch.setattr(sys, "argv", ["/x/ppo_jax/__main__.py"])  # after the import: no
    assert not drop_cwd_of_python_m() and sys.path[0] == cwd


def test_a_users_module_in_the_working_directory_is_appended_last(isolated_path):
    (isolated_path / "my_envs_for_importpath.py").write_text("X = 1\n")
    before = list(sys.path)
    assert not importable_without_cwd("my_envs_for_importpath")
    assert allow_env_module_from_cwd("my_envs_for_importpath:X")
    assert sys.path[:-1] == before and sys.path[-1] == str(isolated_path)
    assert not allow_env_module_from_cwd("my_envs_for_importpath:X")  # once is enough


@pytest.mark.parametrize(
    "env_name",
    ["CartPole-v1", "brax:ant", "envpool:Pong-v5", "json:loads", "numpy.random:default_rng"],
)
def test_nothing_else_puts_the_working_directory_on_the_path(isolated_path, env_name):
    """Gymnax ids, suite ids and modules found among the installed packages (even with a file
    of that name in the working directory) leave ``sys.path`` alone."""
    for shadow in ("json", "numpy", "gymnax", "brax", "envpool"):
        (isolated_path / f"{shadow}.py").write_text("raise SystemExit('imported')\n")
    before = list(sys.path)
    assert not allow_env_module_from_cwd(env_name)
    assert sys.path == before
    assert not allow_env_module_from_cwd(None) and not allow_env_module_from_cwd("nope:")


def test_the_cli_names_the_environment_it_will_import(tmp_path: Path):
    from ppo_jax.cli.main import build_parser, env_to_import

    parse = build_parser().parse_args
    assert env_to_import(parse(["train", "--env", "my_envs:make"])) == "my_envs:make"
    assert env_to_import(parse(["train"])) is None
    toml = tmp_path / "c.toml"
    toml.write_text('env_name = "my_envs:make"\n')
    assert env_to_import(parse(["sweep", "--config", str(toml)])) == "my_envs:make"
    for argv in (["plot", "x"], ["compare", "x", "y"], ["eval", "x"], ["train", "--resume", "x"]):
        assert env_to_import(parse(argv)) is None  # reading a folder: nothing of its naming
