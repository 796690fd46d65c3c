"""The documentation's cheap checks, in the quick tier: every Python block of the README and
docs/ parses (the learning tier runs them: tests/learning/test_docs_examples.py), every public
name has its API reference entry, and every page is in the site's navigation.
``mkdocs build --strict`` (CI, .ci/run)
checks links, anchors and references in the rendered site."""

from __future__ import annotations

import re

import pytest
from docs_blocks import DOCS, ROOT, python_blocks

import ppo_jax

BLOCKS = python_blocks()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_every_python_block_parses(block):
    compile(block.code, str(block.path), "exec")


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
