"""The Python code blocks of the README and of every page of the documentation site (docs/),
for the tests that check and run them (tests/unit/test_docs.py, the learning tier's
tests/learning/test_docs_examples.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
"""Every Markdown file whose code blocks are tested."""


class Block(NamedTuple):
    path: Path
    index: int
    """Position among the file's Python blocks."""
    code: str

    @property
    def name(self) -> str:
        """A test id: file, index and the block's first line that is not an import."""
        skip = ("import", "from")
        lines = [ln for ln in self.code.splitlines() if ln.strip() and not ln.startswith(skip)]
        first = lines[0][:50] if lines else "imports"
        return f"{self.path.relative_to(ROOT)}:{self.index}-{first}"


def code_blocks(language: str, pages: list[Path] = PAGES) -> list[Block]:
    """Every fenced block of ``language`` (```python, ```bash, ```toml) of ``pages``, each block
    once (a README example repeated on a docs page runs once, from its first file)."""
    seen: set[str] = set()
    blocks = []
    fence = rf"^```{language}\n(.*?)^```"
    for path in pages:
        for i, code in enumerate(re.findall(fence, path.read_text(), flags=re.S | re.M)):
            if code not in seen:
                seen.add(code)
                blocks.append(Block(path, i, code))
    return blocks


def python_blocks(pages: list[Path] = PAGES) -> list[Block]:
    """Every ```python block of ``pages``, each once."""
    return code_blocks("python", pages)


def cli_commands(pages: list[Path] = PAGES) -> list[tuple[str, list[str]]]:
    """``(where, argv)`` of every ``ppo-jax`` command line in the ```bash blocks of ``pages``
    (after ``&&``, with comments, ``&`` and continuation lines handled); lines that use shell
    variables (``$SLURM_PROCID``) are left out."""
    import shlex

    found = []
    for block in code_blocks("bash", pages):
        text = block.code.replace("\\\n", " ")
        for line in text.splitlines():
            if "$" in line:
                continue
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[-1] == "&":
                    words = words[:-1]
                if words[:1] == ["ppo-jax"]:
                    found.append((block.name, words[1:]))
    return found
