"""Every Python code block of the README runs as written, each on its own (a fresh namespace,
in a scratch folder): the examples a user copies must work."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def _first_line(code: str) -> str:
    lines = [ln for ln in code.splitlines() if ln.strip() and not ln.startswith(("import", "from"))]
    return lines[0][:60] if lines else "imports"


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "code", BLOCKS, ids=[f"{i}-{_first_line(b)}" for i, b in enumerate(BLOCKS)]
)
def test_readme_block_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))  # `from examples.corridor import ...`
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # and the CLI's module:attribute
    module = types.ModuleType("readme_block")  # a real module, as a script or notebook has
    monkeypatch.setitem(sys.modules, "readme_block", module)
    exec(compile(code, "README.md", "exec"), module.__dict__)


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 8
    joined = "\n".join(BLOCKS)
    for needle in ("run_experiment", "load_run", "to_dataframe", "network=", "lr_schedule=",
                   "metrics_fn=", "ppo_jax.sweep(", "examples.corridor"):  # fmt: skip
        assert needle in joined, needle
    assert sys.version_info >= (3, 10)
