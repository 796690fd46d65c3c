"""A griffe extension (mkdocs.yml, mkdocstrings' ``extensions``): the docstrings' Sphinx roles
(``:func:`~ppo_jax.train```, ``:class:`Hyperparams```, ...) become mkdocstrings
cross-references when the API reference documents their target, and code otherwise.

Every role is resolved as Python would see it from the docstring's object (relative names
through its scope and imports, aliases to their definitions). A target the reference renders
(a ``::: ppo_jax.NAME`` entry of ``docs/api/*.md``, or a public member of such a class)
becomes ``[name][canonical.path]``, which autorefs turns into a link and ``mkdocs build
--strict`` fails on if it does not resolve; another ``ppo_jax`` object becomes
``` `name` ```; a ``ppo_jax`` target that does not exist is a warning (and fails the strict
build). Roles naming other libraries (``jax.lax.scan``) become code. The source keeps its
roles, which editors and Sphinx-minded readers know; only the rendered pages change.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

PACKAGE = "ppo_jax"
API_PAGES = Path(__file__).resolve().parents[1] / "api"
ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|obj|exc|const):`(~?)([^`<>]+)`")
ENTRY = re.compile(r"^::: (ppo_jax(?:\.\w+)*)\s*$", re.M)

logger = griffe.get_logger("sphinx_roles")


def _lookup(pkg: Any, path: str) -> Any:
    """The object at the dotted ``path`` (``ppo_jax...``), aliases followed; ``None``."""
    if path == PACKAGE:
        return pkg
    if not path.startswith(PACKAGE + "."):
        return None
    try:
        obj = pkg[path[len(PACKAGE) + 1 :]]
        return obj.final_target if obj.is_alias else obj
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def documented_paths(pkg: Any) -> set[str]:
    """Canonical paths the API reference renders: its entries, and the public members of the
    classes among them."""
    found: set[str] = set()
    for page in sorted(API_PAGES.glob("*.md")):
        for path in ENTRY.findall(page.read_text()):
            obj = _lookup(pkg, path)
            if obj is None:
                continue
            found.add(obj.path)
            if obj.is_class:
                found.update(
                    f"{obj.path}.{name}" for name in obj.all_members if not name.startswith("_")
                )
    return found


def resolve(obj: Any, pkg: Any, target: str) -> str | None:
    """The canonical path ``target`` names from ``obj``'s docstring; ``None`` if unknown."""
    if target.startswith(PACKAGE + ".") or target == PACKAGE:
        found = _lookup(pkg, target)
        return None if found is None else found.path
    head, _, rest = target.partition(".")
    scope = obj
    while scope is not None:
        try:
            base = scope.resolve(head)
        except (griffe.NameResolutionError, griffe.AliasResolutionError):
            scope = scope.parent
            continue
        found = _lookup(pkg, f"{base}.{rest}" if rest else base)
        return None if found is None else found.path
    return None


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:
        if pkg.path != PACKAGE:
            return
        documented = documented_paths(pkg)
        for obj in walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(
                    lambda m, o=obj: replace_role(m, o, pkg, documented), obj.docstring.value
                )


def replace_role(match: re.Match[str], obj: Any, pkg: Any, documented: set[str]) -> str:
    short, target = match.group(1) == "~", match.group(2).strip()
    shown = target.rsplit(".", 1)[-1] if short else target
    path = resolve(obj, pkg, target)
    if path is None:
        if target.startswith(PACKAGE) or "." not in target:  # not another library's name
            logger.warning("%s: the role target %r does not exist", obj.path, target)
        return f"`{shown}`"
    return f"[`{shown}`][{path}]" if path in documented else f"`{shown}`"


def walk(obj: Any) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from walk(member)
