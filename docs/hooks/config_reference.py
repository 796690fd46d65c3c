"""The table of every ``PPOConfig`` field in docs/reference/config.md, generated from the
dataclass itself (defaults, and the documentation the command line's ``--help`` shows), so the
reference cannot drift from the code.

    python docs/hooks/config_reference.py           # rewrite the table in the page
    python docs/hooks/config_reference.py --check   # exit 1 if the page is out of date

``tests/unit/test_docs.py`` checks that the committed page equals the generated one.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parents[1] / "reference" / "config.md"
BEGIN = "<!-- generated from PPOConfig by docs/hooks/config_reference.py: do not edit by hand -->"
END = "<!-- end of the generated table -->"


def _markdown(doc: str) -> str:
    """reStructuredText literals and roles as Markdown code; pipes escaped for the table."""
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", doc)
    return doc.replace("``", "`").replace("|", "\\|")


def _default(value: Any) -> str:
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return f"`{value!r}`" if not isinstance(value, bool | int | float) else str(value)


def table() -> str:
    """The Markdown table: field, default, traced or static, documentation."""
    from ppo_jax.core.config import TRACED_FIELDS, PPOConfig

    rows = ["| field | default | kind | meaning |", "|---|---|---|---|"]
    for spec in dataclasses.fields(PPOConfig):
        kind = "traced (`hp=`, sweepable)" if spec.name in TRACED_FIELDS else "static"
        doc = _markdown(spec.metadata.get("doc", ""))
        rows.append(f"| `{spec.name}` | {_default(spec.default)} | {kind} | {doc} |")
    return "\n".join(rows)


def render(page: str) -> str:
    """``page`` with the text between the markers replaced by the generated table."""
    start, end = page.index(BEGIN) + len(BEGIN), page.index(END)
    return page[:start] + "\n" + table() + "\n" + page[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    page = PAGE.read_text()
    fresh = render(page)
    if args.check:
        if fresh != page:
            print(f"{PAGE} is out of date: run python docs/hooks/config_reference.py")
            return 1
        return 0
    PAGE.write_text(fresh)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
