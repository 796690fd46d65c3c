"""The import graph of ``ppo_jax``: no circle, and no private name crossing modules.

Read with ``ast`` from the source files (nothing is imported), so a circle is found even where
Python would tolerate it at run time. The same check on the command line:
``python -m tests.unit.test_import_graph`` (prints the circles and private imports, exit 1 if
any).

What counts as an edge ``A -> B``:

* every ``import ppo_jax.x`` / ``from ppo_jax.x import y`` in ``A``, at module level **and**
  inside functions (a function-level import only defers a circle, it does not remove it);
* ``from ppo_jax.x import y`` where ``ppo_jax.x.y`` is itself a module is an edge to that module;
* imports under ``if TYPE_CHECKING:`` count too (there are none today; a circle that exists
  only for the type checker is still a circle a reader has to untangle);
* the implicit import of a parent package (``ppo_jax.run`` runs ``ppo_jax/run/__init__.py``
  before ``ppo_jax.run.session``) is NOT an edge: the package ``__init__`` files re-export the
  public names, and counting them would make every module "import" the whole package.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "ppo_jax"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """``dotted module name -> file`` for every module of the package."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    is_package = module_files().get(module, Path()).name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str, path: Path, modules: set[str]) -> list[tuple[str, str, int]]:
    """``(imported module, imported name or "", line)`` for every import of ``ppo_jax`` code in
    the file (all levels: module, function, ``TYPE_CHECKING``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found.append((alias.name, "", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            if source.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    found.append((sub, "", node.lineno))
                else:
                    found.append((source, alias.name, node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    """``module -> modules it imports`` (see the module docstring for what counts)."""
    files = module_files()
    names = set(files)
    graph: dict[str, set[str]] = {m: set() for m in names}
    for module, path in files.items():
        for target, _, _ in imports_of(module, path, names):
            while target not in names and "." in target:  # `import ppo_jax.a.b` of a name
                target = target.rsplit(".", 1)[0]
            if target != module:
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted, and
    every module that imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _bound_modules(tree: ast.AST, modules: set[str], module: str) -> dict[str, str]:
    """Local names bound to package modules by imports (``from ppo_jax.run import session``,
    ``import ppo_jax.run.session as s``)."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules and alias.asname:
                    bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    bound[alias.asname or alias.name] = sub
    return bound


def private_crossings() -> list[str]:
    """``file:line: name`` for every private name (``_x``, not dunder) of one package module
    used by another: ``from ppo_jax.x import _y`` and ``x._y`` where ``x`` is a package module
    bound by an import."""
    files = module_files()
    names = set(files)
    found = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(ROOT.parent)
        for source, name, line in imports_of(module, path, names):
            if name.startswith("_") and not name.startswith("__") and source != module:
                found.append(f"{rel}:{line}: from {source} import {name}")
        bound = _bound_modules(tree, names, module)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and bound[node.value.id] != module
            ):
                found.append(f"{rel}:{node.lineno}: {bound[node.value.id]}.{node.attr}")
    return found


def test_the_package_has_modules():
    graph = import_graph()
    assert {"ppo_jax", "ppo_jax.run.experiment", "ppo_jax.core.train"} <= set(graph)
    assert "ppo_jax.run.programs" in graph["ppo_jax.run.experiment"]


def test_train_sweep_and_pbt_share_one_pipeline():
    """Every experiment kind runs through ``ppo_jax.run.experiment`` (its ``run``), and the
    run folder is written by one module and read by one module: nothing but
    ``ppo_jax.io.rundir`` writes a file name of the folder's schema, nothing but
    ``ppo_jax.io.runload`` parses ``config.json``."""
    graph = import_graph()
    for kind in ("ppo_jax.run.sweep", "ppo_jax.run.pbt"):
        assert "ppo_jax.run.experiment" in graph[kind], kind
        assert "pipeline.run(" in module_files()[kind].read_text(), kind
    files = module_files()
    for module, path in files.items():
        text = path.read_text()
        if module not in ("ppo_jax.io.runload", "ppo_jax.compat"):
            assert "def read_run_config" not in text, module
        if module != "ppo_jax.io.rundir":
            assert "def write_run_config" not in text, module
            assert "RUN_FORMAT =" not in text, module


def test_no_function_takes_more_than_15_parameters():
    """A ``**keywords`` parameter counts as one: the public drivers take the problem's parts
    and the session's options as typed keywords (``ProblemKeywords``, ``SessionKeywords``)."""
    too_many = []
    for module, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
                count += (a.vararg is not None) + (a.kwarg is not None)
                if count > 15:
                    too_many.append(f"{module}.{node.name}: {count}")
    assert too_many == []


def test_module_names_are_unique():
    """A search for a module's name finds one file (``evaluate`` and ``pbt`` once each)."""
    names = [m.rsplit(".", 1)[-1] for m, p in module_files().items() if p.name != "__init__.py"]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_the_import_graph_has_no_circle():
    assert cycles(import_graph()) == []


def test_no_private_name_crosses_modules():
    assert private_crossings() == []


def test_no_module_of_the_package_imports_the_benchmarks():
    """``benchmarks/`` (a source checkout's scripts) calls ``ppo_jax.benchmark``; the installed
    package never imports it."""
    found = []
    for module, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            found += [f"{module}: {n}" for n in names if n.split(".")[0] == "benchmarks"]
    assert found == []


def test_the_checker_finds_a_circle_and_a_private_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("from ppo_jax.run import plan\nplan._inputs(1)\n")
    assert _bound_modules(tree, {"ppo_jax.run.plan"}, "x") == {"plan": "ppo_jax.run.plan"}


def main() -> int:
    """Print the circles and private crossings; 1 when there is any."""
    problems = [" -> ".join(c) for c in cycles(import_graph())] + private_crossings()
    for line in problems:
        print(line)
    print(f"{len(problems)} problem(s) in the import graph of {PACKAGE}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
