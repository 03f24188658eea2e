"""A stage's code dependencies, derived: the transitive closure of the modules its stage module imports inside
`tasks/` (read from the source with `ast`, never by importing it), plus its paper's params file.

`paperflow dvc-yaml` writes these as the stage's `deps`, so an edit to any file a stage's code path imports
re-runs that stage and nothing hand-kept can go stale. Imports under `if TYPE_CHECKING:` are skipped (annotations
only). A package's `__init__.py` counts only when something is imported from the package itself
(`from . import PAPER`), not when a submodule is (`from .model import X`).
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT_PKG = "tasks"


def _module_file(root: Path, module: str) -> Path | None:
    base = root / Path(*module.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _package_of(root: Path, path: Path) -> str:
    return ".".join(path.relative_to(root).parts[:-1])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes anywhere in the module (function-level included), except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def direct(root: Path, path: Path) -> set[Path]:
    """Files under `root/tasks` that the module at `path` imports directly."""
    tree = ast.parse(path.read_text(), filename=str(path))
    pkg = _package_of(root, path)
    out: set[Path] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
            for t in targets:
                if t.split(".")[0] == ROOT_PKG:
                    f = _module_file(root, t)
                    if f:
                        out.add(f)
            continue
        if node.level:
            base = pkg.split(".")
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            mod = ".".join([*base, node.module] if node.module else base)
        else:
            mod = node.module or ""
        if mod.split(".")[0] != ROOT_PKG:
            continue
        for alias in node.names:  # a submodule, else a name defined in the package / module itself
            f = (_module_file(root, f"{mod}.{alias.name}") if alias.name != "*" else None) or _module_file(root, mod)
            if f:
                out.add(f)
    return out


@functools.cache
def _closure(root: Path, start: Path) -> frozenset[Path]:
    seen, todo = {start}, [start]
    while todo:
        for f in direct(root, todo.pop()):
            if f not in seen:
                seen.add(f)
                todo.append(f)
    return frozenset(seen)


def code_deps(root: Path, module: str, params_module: str) -> list[str]:
    """Sorted repo-relative paths of the stage module's import closure inside tasks/ plus the params file."""
    start = _module_file(root, module)
    if start is None:
        raise FileNotFoundError(f"stage module {module} not found under {root}")
    files = set(_closure(root, start))
    pf = _module_file(root, params_module)
    if pf is not None:
        files |= _closure(root, pf)
    return sorted(f.relative_to(root).as_posix() for f in files)
