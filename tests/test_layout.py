"""gerhard's import structure, read with `ast` (nothing under gerhard/ is imported), wherever its modules live.
Edges are runtime imports: function-local ones count, those under `if TYPE_CHECKING:` do not, nor those in the root
package's PEP 562 `__getattr__`: that lazy facade over everything runs on attribute access, never while `gerhard` is
imported (as an edge, one `from gerhard import __version__` would fold the facade's whole closure into one cycle)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent / "gerhard"

_HEAVY = {  # third-party modules a function may import lazily, with the reason
    "matplotlib numpy torch transformers lightning": "slow to import; figures, tensors and models only",
    "jinja2 markupsafe": "templates only (markupsafe is jinja2's, imported next to it)",
    "jsonschema referencing": "slow to import; validation only (referencing is jsonschema's schema registry)",
    "ruamel yaml": "YAML (PyYAML for yaml): `gerhard --help` must not load it",
    "fsspec s3fs gcsfs tqdm": "gerhard sync only; s3fs and gcsfs are optional extras",
    "filelock": "registry locking only",
    "IPython google nbformat nbclient": "notebooks only (google: google.colab)",
}
HEAVY = {name: reason for names, reason in _HEAVY.items() for name in names.split()}
_KIND = {ast.FunctionDef: "def", ast.AsyncFunctionDef: "def", ast.ClassDef: "class"}
_Found = Iterator[tuple[ast.Import | ast.ImportFrom, tuple[str, ...]]]  # with the enclosing "def f"s and "class C"s


class Import(NamedTuple):
    module: str  # the importing module
    line: str  # gerhard/x.py:12: from gerhard import y
    targets: frozenset[str]  # the package's own modules it imports
    external: frozenset[str]  # top-level names of the other modules it imports
    in_function: bool  # at any depth
    facade: bool  # in the root package's module-level __getattr__


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file for every .py under root; root's own name is the package's."""
    names = {path: (root.name, *path.relative_to(root).with_suffix("").parts) for path in sorted(root.rglob("*.py"))}
    return {".".join(parts[:-1] if parts[-1] == "__init__" else parts): path for path, parts in names.items()}


def _resolve(node: ast.Import | ast.ImportFrom, module: str, mods: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(own modules imported, top-level names of other modules imported)"""

    def known(name: str) -> str | None:  # the longest prefix that is a module
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in mods else None

    pkg, tops = module.split(".")[0], {a.name.split(".")[0] for a in node.names}
    if isinstance(node, ast.Import):
        return {t for a in node.names if (t := known(a.name)) and t != module}, tops - {pkg}
    base = node.module or ""
    if node.level:  # relative: in a package's __init__, level 1 is the package itself
        parts = module.split(".")[: None if mods[module].name == "__init__.py" else -1]
        if len(parts) < node.level:
            return set(), set()
        base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
    elif base.split(".")[0] != pkg:
        return set(), {base.split(".")[0]}
    own = {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else known(base) for a in node.names}
    return {t for t in own if t and t != module}, set()


def _walk(nodes: Iterable[ast.AST], scope: tuple[str, ...]) -> _Found:
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, scope
        elif isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            yield from _walk(node.orelse, scope)  # the body does not run
        elif kind := _KIND.get(type(node)):
            yield from _walk(ast.iter_child_nodes(node), (*scope, f"{kind} {getattr(node, 'name', '')}"))
        else:
            yield from _walk(ast.iter_child_nodes(node), scope)


def imports(root: Path) -> list[Import]:
    mods, found = modules(root), []
    for module, path in mods.items():
        for node, scope in _walk([ast.parse(path.read_text(encoding="utf-8"), filename=str(path))], ()):
            own, ext = _resolve(node, module, mods)
            local, facade = any(s.startswith("def ") for s in scope), scope[:1] == ("def __getattr__",)
            line = f"{path.relative_to(root.parent).as_posix()}:{node.lineno}: {ast.unparse(node)}"
            found.append(Import(module, line, frozenset(own), frozenset(ext), local, facade and "." not in module))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules(root)}
    for imp in imports(root):
        graph[imp.module] |= set() if imp.facade else imp.targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
            if w in stack:  # low[w] for index[w] on a back edge: still finds the same components
                low[v] = min(low[v], low[w])
        if low[v] == index[v]:
            component = [stack.pop()]
            while component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def package_cycles(root: Path) -> list[list[str]]:
    """Cycles between sub-packages (dirs with __init__.py right under root; top-level modules are nodes of their own)
    that involve a sub-package: a cycle of top-level modules alone is a module cycle, test_no_import_cycles's."""
    subs = {f"{root.name}.{d.name}" for d in root.iterdir() if (d / "__init__.py").is_file()}
    node = {m: next((s for s in subs if m == s or m.startswith(s + ".")), m) for m in modules(root)}
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph(root).items():
        graph.setdefault(node[module], set()).update(node[t] for t in targets if node[t] != node[module])
    return [c for c in cycles(graph) if subs.intersection(c)]


def local_own_imports(root: Path) -> list[Import]:
    """Function-local imports of the package's own modules, but in the CLI dispatch and the root's `__getattr__`."""
    cli = [root.name, "cli"]
    return [i for i in imports(root) if i.in_function and i.targets and not i.facade and i.module.split(".")[:2] != cli]


def local_third_party_imports(root: Path) -> list[Import]:
    return [i for i in imports(root) if i.in_function and i.external - set(sys.stdlib_module_names) - set(HEAVY)]


def _listing(found: Iterable[object]) -> str:
    return "".join(f"\n  {getattr(x, 'line', x)}" for x in found)


def test_no_import_cycles() -> None:
    assert not (found := cycles(import_graph(ROOT))), "import cycles (function-local imports count):" + _listing(found)


def test_no_function_local_imports_of_own_modules() -> None:
    assert not (found := local_own_imports(ROOT)), f"{len(found)} function-local own imports:" + _listing(found)


def test_lazy_third_party_imports_are_marked() -> None:
    found = local_third_party_imports(ROOT)
    hint = "import it at the top of the module, or add it to HEAVY in tests/test_layout.py with the reason"
    assert not found, f"function-local imports of light third-party modules ({hint}):" + _listing(found)


def test_imports_point_down_between_packages() -> None:
    assert not (found := package_cycles(ROOT)), "cycles between gerhard's sub-packages:" + _listing(found)


# Fake packages named pkg: files ("path: source"), then the module cycles, package cycles, function-local imports
# of own modules and function-local imports of light third-party modules that the analysis must find.
SYNTHETIC = {
    "function-local 2-cycle": (
        ["__init__.py: from . import a, c", "a.py: from pkg import b", "c.py: from pkg import a",
         "b.py: def f():\n    class C:\n        from pkg import a\n    import requests, numpy, json"],
        [["pkg.a", "pkg.b"]], [], ["pkg/b.py:3: from pkg import a"], ["pkg/b.py:4: import requests, numpy, json"]),
    "relative cycle": (
        ["sub/__init__.py: from . import a", "sub/a.py: from . import b\nfrom ..core import y",
         "sub/b.py: from .a import x", "core/__init__.py: def f():\n    import numpy", "core/y.py: from .. import sub"],
        [["pkg.core.y", "pkg.sub", "pkg.sub.a", "pkg.sub.b"]], [["pkg.core", "pkg.sub"]], [], []),
    "TYPE_CHECKING only": (
        ["a.py: import pkg.b", "b.py: import typing, pkg.c\nif typing.TYPE_CHECKING:\n    from pkg import a",
         "c.py: from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A"], [], [], [], []),
    "package cycle, exempt lazy imports": (
        ["__init__.py: def __getattr__(name):\n    from pkg.x import m", "cli.py: def main():\n    from pkg.y import n",
         "x/__init__.py: ", "x/m.py: from pkg import y", "y/__init__.py: ", "y/o.py: from pkg.x import *"],
        [], [["pkg.x", "pkg.y"]], [], []),
}  # fmt: skip


@pytest.mark.parametrize("case", SYNTHETIC)
def test_detector_on_synthetic_trees(case: str, tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    for name, text in [("__init__.py", ""), *(f.split(": ", 1) for f in SYNTHETIC[case][0])]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    own, third_party = ([i.line for i in f(root)] for f in (local_own_imports, local_third_party_imports))
    assert (cycles(import_graph(root)), package_cycles(root), own, third_party) == SYNTHETIC[case][1:]
