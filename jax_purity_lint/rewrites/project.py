"""Which names other files import from a module: a rewrite cannot update calls it does not see, so a
signature change to one of those names is never safe.

This looks only at the files `fix` was given (folders walked): `from pkg.mod import f` and `mod.f` after
`import pkg.mod` or `from pkg import mod`, matched on the module's last name component.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable


def imported_elsewhere(paths: Iterable[Path]) -> dict[Path, frozenset[str]]:
    paths = list(paths)
    uses: list[tuple[Path, str, str]] = []  # (importing file, module's last component, name)
    for path in paths:
        uses.extend((path, module, name) for module, name in _imports(path))
    result = {}
    for path in paths:
        result[path] = frozenset(name for importer, module, name in uses if importer != path and module == path.stem)
    return result


def _imports(path: Path):
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return
    modules: dict[str, str] = {}  # local alias -> module's last component
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            last = (node.module or "").split(".")[-1]
            for alias in node.names:
                yield last, alias.name
                modules[alias.asname or alias.name] = alias.name  # `from pkg import mod` may be a module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name
                modules[local] = alias.name.split(".")[-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node.value)
            if dotted is not None and dotted in modules:
                yield modules[dotted], node.attr
            elif dotted is not None and dotted.split(".")[0] in modules:
                yield dotted.split(".")[-1], node.attr


def _dotted(node: ast.AST):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner is not None else None
    return None
