"""The names a rewrite needs (`jax`, `copy`, `functools.partial`, `typing.NamedTuple`): the module's own
import when it has one, else a new import placed after the module's last top-level import."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from ..analysis.tree import dotted_name
from .edits import Edits
from .view import ModuleView


class Imports:
    def __init__(self, view: ModuleView, edits: Edits) -> None:
        self.view = view
        self.edits = edits
        self._new: list[str] = []  # import statements to add, as code
        self._anchor_registered = False

    def module(self, dotted: str) -> str:
        """How to refer to module ``dotted`` (e.g. ``jax``): an existing `import x [as y]`, else a new one."""
        existing = self._imported_module(dotted)
        if existing is not None:
            return existing
        self._add(f"import {dotted}")
        return dotted

    def name(self, dotted_module: str, attribute: str) -> str:
        """How to refer to ``dotted_module.attribute``: `from m import a [as b]`, `m.a`, or a new from-import."""
        for statement in self._top_level_imports():
            if not isinstance(statement, cst.ImportFrom) or isinstance(statement.names, cst.ImportStar):
                continue
            for alias in statement.names:
                if dotted_name(statement.module) == dotted_module and alias.name.value == attribute:
                    return alias.asname.name.value if alias.asname else attribute
        existing = self._imported_module(dotted_module)
        if existing is not None:
            return f"{existing}.{attribute}"
        if self._name_is_taken(attribute):
            self._add(f"import {dotted_module}")
            return f"{dotted_module}.{attribute}"
        self._add(f"from {dotted_module} import {attribute}")
        return attribute

    # -- what is there --------------------------------------------------------------------------------

    def _top_level_imports(self):
        for statement in self.view.module.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, (cst.Import, cst.ImportFrom)):
                        yield small

    def _imported_module(self, dotted: str) -> Optional[str]:
        for statement in self._top_level_imports():
            if isinstance(statement, cst.Import):
                for alias in statement.names:
                    if dotted_name(alias.name) == dotted:
                        return alias.asname.name.value if alias.asname else dotted
        if f"import {dotted}" in self._new:
            return dotted
        return None

    def _name_is_taken(self, name: str) -> bool:
        return any(isinstance(node, cst.Name) and node.value == name for node in self.view.positions)

    # -- adding ---------------------------------------------------------------------------------------

    def _add(self, code: str) -> None:
        if code in self._new:
            return
        self._new.append(code)
        if self._anchor_registered:
            return
        self._anchor_registered = True
        anchor, before = self._anchor()
        make = lambda _lookup: [cst.parse_statement(line + "\n") for line in _merged(self._new)]  # noqa: E731
        if anchor is None:
            return
        if before:
            self.edits.insert_before(anchor, make)
        else:
            self.edits.insert_after(anchor, make)

    def _anchor(self):
        """After the last top-level import; else after the docstring and `from __future__`; else first."""
        body = self.view.module.body
        last_import = None
        for statement in body:
            if isinstance(statement, cst.SimpleStatementLine) and any(
                isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body
            ):
                last_import = statement
        if last_import is not None:
            return last_import, False
        for index, statement in enumerate(body):
            if not _is_docstring(statement, index):
                return statement, True
        return (body[-1], False) if body else (None, False)


def _merged(lines: list[str]) -> list[str]:
    """`from typing import NamedTuple` and `from typing import Any` -> `from typing import Any, NamedTuple`."""
    merged: list[str] = []
    names_by_module: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("from "):
            module, name = line[len("from "):].split(" import ")
            if module not in names_by_module:
                names_by_module[module] = []
                merged.append(f"from {module} import ")
            names_by_module[module].append(name)
        else:
            merged.append(line)

    def complete(line: str) -> str:
        if not line.endswith(" import "):
            return line
        return line + ", ".join(sorted(names_by_module[line[len("from "):-len(" import ")]]))

    return [complete(line) for line in merged]


def _is_docstring(statement: cst.BaseStatement, index: int) -> bool:
    return (
        index == 0
        and isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )
