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


def python_blocks(pages: list[Path] = PAGES) -> list[Block]:
    """Every fenced ```python block of ``pages``, each block once (a README example repeated on
    a docs page runs once, from its first file)."""
    seen: set[str] = set()
    blocks = []
    for path in pages:
        text = path.read_text()
        for i, code in enumerate(re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)):
            if code not in seen:
                seen.add(code)
                blocks.append(Block(path, i, code))
    return blocks
