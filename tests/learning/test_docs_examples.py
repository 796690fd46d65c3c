"""Every Python code block of the README and of the documentation site (docs/**/*.md) runs as
written, each on its own (a fresh namespace, in a scratch folder): the examples a user copies
must work. Blocks that train for real (the README's and the guides' examples) take minutes in
all, so they run in the learning tier; the quick tier only checks that each block parses
(tests/unit/test_docs.py)."""

from __future__ import annotations

import sys
import types

import pytest
from docs_blocks import ROOT, python_blocks

BLOCKS = python_blocks()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_docs_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))  # `from examples.corridor import ...`
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # and the CLI's module:attribute
    module = types.ModuleType("docs_block")  # a real module, as a script or notebook has
    monkeypatch.setitem(sys.modules, "docs_block", module)
    exec(compile(block.code, str(block.path), "exec"), module.__dict__)


def test_the_docs_have_their_examples():
    assert len(BLOCKS) >= 8
    joined = "\n".join(b.code for b in BLOCKS)
    for needle in ("run_experiment", "load_run", "to_dataframe", "network=", "lr_schedule=",
                   "metrics_fn=", "ppo_jax.sweep(", "examples.corridor"):  # fmt: skip
        assert needle in joined, needle
    assert sys.version_info >= (3, 10)
