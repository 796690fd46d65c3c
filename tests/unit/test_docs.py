"""The documentation's cheap checks, in the quick tier: every Python block of the README and
docs/ parses (the learning tier runs them: tests/learning/test_docs_examples.py), every public
name has its API reference entry, every page is in the site's navigation, and the README stays
a short first visit whose links resolve. ``mkdocs build --strict`` (CI, .ci/run) checks links,
anchors and references in the rendered site."""

from __future__ import annotations

import re

import pytest
from docs_blocks import DOCS, ROOT, cli_commands, code_blocks, python_blocks

import ppo_jax

BLOCKS = python_blocks()
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_every_python_block_parses(block):
    compile(block.code, str(block.path), "exec")


COMMANDS = cli_commands()


@pytest.mark.parametrize(
    "argv", [c[1] for c in COMMANDS], ids=[" ".join(c[1])[:60] for c in COMMANDS]
)
def test_every_cli_command_of_the_docs_parses(argv):
    """The shell blocks are not run (they train for minutes or need several machines), but
    every ``ppo-jax`` command in them must parse with the CLI's own parser."""
    from ppo_jax.cli.main import build_parser

    build_parser().parse_args(argv)


def test_the_docs_show_cli_commands_and_a_toml_file_that_parse():
    assert len(COMMANDS) >= 20
    assert {argv[0] for _, argv in COMMANDS} >= {"train", "sweep", "pbt", "eval", "plot", "compare"}
    from ppo_jax.io.configfile import tomllib

    for block in code_blocks("toml"):
        tomllib.loads(block.code)


def test_every_public_name_has_an_api_entry():
    entries = {
        m for page in (DOCS / "api").glob("*.md") for m in re.findall(r"^::: ppo_jax\.(\w+)$",
                                                                     page.read_text(), re.M)
    }  # fmt: skip
    public = {name for name in ppo_jax.__all__ if not name.startswith("__")}
    assert public - entries == set()


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    missing = {p for p in pages if f": {p}\n" not in nav}
    assert missing == set()


def test_the_readme_is_short_and_its_links_resolve():
    assert len(README.splitlines()) < 250
    for target in re.findall(r"\]\((?!https?://|#)([^)#]+)", README):
        assert (ROOT / target).exists(), target
    assert "docs/" in README
    for command in (
        "pip install -e . && ppo-jax train --seeds 8",
        'pip install -e ".[dev]" && python -m pytest',
    ):
        assert command in README, command


def _docs_tool(name: str):
    """A module of docs/hooks (the docs' own tools), imported from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_config_reference_is_generated_from_ppoconfig():
    """docs/reference/config.md's table is what docs/hooks/config_reference.py generates from
    PPOConfig: every field, default and documentation (torso="nature" among them)."""
    tool = _docs_tool("config_reference")
    page = tool.PAGE.read_text()
    assert tool.render(page) == page, "run: python docs/hooks/config_reference.py"
    import dataclasses

    for spec in dataclasses.fields(ppo_jax.PPOConfig):
        assert f"| `{spec.name}` |" in page, spec.name
    assert '`"nature"` is the Nature DQN CNN' in page


def test_sphinx_roles_render_as_cross_references(caplog):
    """The griffe extension of mkdocs.yml turns the docstrings' Sphinx roles into autorefs
    links (documented targets) or code, and warns about targets that do not exist (which fails
    ``mkdocs build --strict``). Needs the docs extra (``pip install -e ".[docs]"``, as CI
    installs it), which brings griffe."""
    griffe = pytest.importorskip("griffe", reason="the docs extra is not installed")
    tool = _docs_tool("sphinx_roles")
    pkg = griffe.load(
        "ppo_jax", search_paths=[str(ROOT)], extensions=griffe.load_extensions(tool.SphinxRoles)
    )
    text = pkg["run_experiment"].final_target.docstring.value
    assert ":func:" not in text and ":class:" not in text
    run_sweep = "[`ppo_jax.run.sweep.run_sweep_experiment`][ppo_jax.run.sweep.run_sweep_experiment]"
    assert run_sweep in pkg["run.experiment"].docstring.value
    every = [o.docstring.value for o in tool.walk(pkg) if o.docstring is not None]
    assert not any(tool.ROLE.search(value) for value in every)
    match = tool.ROLE.search(":func:`ppo_jax.no_such_thing`")
    assert (
        tool.replace_role(match, pkg["run.progress.report"], pkg, set())
        == "`ppo_jax.no_such_thing`"
    )
    assert "the role target 'ppo_jax.no_such_thing' does not exist" in caplog.text
