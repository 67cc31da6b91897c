"""A set of edits keyed by the original nodes, applied in one pass that keeps everything else intact.

Edits compose: a node's ``transform`` callbacks receive the node with its children already edited;
``substitute`` replaces the node where it stands, after its transforms; statement callbacks build
new statements from ``lookup(node)``, a node as it is after its transforms but before its own
substitution (so a call can be hoisted with its new arguments while its old place gets a name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence, Union

import libcst as cst

Lookup = Callable[[cst.CSTNode], cst.CSTNode]
Transform = Callable[[cst.CSTNode], cst.CSTNode]
StatementsFactory = Callable[[Lookup], Sequence[cst.BaseStatement]]
Replacement = Callable[[cst.CSTNode, Lookup], Sequence[cst.BaseStatement]]
COMMENT_PREFIX = "# jax-purity-lint: "


@dataclass
class Edits:
    _transforms: dict[int, list[Transform]] = field(default_factory=dict)
    _substitutes: dict[int, Transform] = field(default_factory=dict)
    _before: dict[int, list[StatementsFactory]] = field(default_factory=dict)
    _after: dict[int, list[StatementsFactory]] = field(default_factory=dict)
    _replacements: dict[int, Replacement] = field(default_factory=dict)
    _removed: set[int] = field(default_factory=set)
    _comments: dict[int, list[str]] = field(default_factory=dict)
    _separated: dict[int, int] = field(default_factory=dict)  # statement -> blank lines kept above it
    _pinned: list[cst.CSTNode] = field(default_factory=list)  # keeps ids valid

    def _pin(self, node: cst.CSTNode) -> int:
        self._pinned.append(node)
        return id(node)

    # -- expressions (and any node) ------------------------------------------------------------------

    def transform(self, node: cst.CSTNode, change: Transform) -> None:
        self._transforms.setdefault(self._pin(node), []).append(change)

    def substitute(self, node: cst.CSTNode, make: Union[cst.CSTNode, Transform]) -> None:
        self._substitutes[self._pin(node)] = make if callable(make) else (lambda _old, new=make: new)

    # -- statements ---------------------------------------------------------------------------------

    def insert_before(
        self,
        statement: cst.CSTNode,
        make: Union[Sequence[cst.BaseStatement], StatementsFactory],
        blank_lines: int = 0,
    ) -> None:
        """``blank_lines``: how many blank lines the statement keeps above it (a def after new code)."""
        key = self._pin(statement)
        self._before.setdefault(key, []).append(_factory(make))
        if blank_lines:
            self._separated[key] = blank_lines

    def insert_after(self, statement: cst.CSTNode, make: Union[Sequence[cst.BaseStatement], StatementsFactory]) -> None:
        self._after.setdefault(self._pin(statement), []).append(_factory(make))

    def replace_statement(self, statement: cst.CSTNode, make: Replacement) -> None:
        self._replacements[self._pin(statement)] = make

    def remove(self, statement: cst.CSTNode) -> None:
        self._removed.add(self._pin(statement))

    def comment_above(self, statement: cst.CSTNode, text: str) -> None:
        self._comments.setdefault(self._pin(statement), []).append(text)

    @property
    def empty(self) -> bool:
        return not (
            self._transforms or self._substitutes or self._before or self._after
            or self._replacements or self._removed or self._comments
        )

    def apply(self, module: cst.Module) -> cst.Module:
        return module.visit(_Applier(self))


def _factory(make):
    if callable(make):
        return make
    statements = list(make)
    return lambda _lookup: statements


class _Applier(cst.CSTTransformer):
    def __init__(self, edits: Edits) -> None:
        super().__init__()
        self.edits = edits
        self.updated: dict[int, cst.CSTNode] = {}

    def lookup(self, original: cst.CSTNode) -> cst.CSTNode:
        return self.updated.get(id(original), original)

    def on_leave(self, original_node, updated_node):
        edits = self.edits
        key = id(original_node)
        for change in edits._transforms.get(key, ()):
            updated_node = change(updated_node)
        self.updated[key] = updated_node
        if key in edits._substitutes:
            updated_node = edits._substitutes[key](updated_node)
        if isinstance(updated_node, cst.IndentedBlock) and not updated_node.body:
            updated_node = updated_node.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        if key in edits._removed:
            return cst.RemovalSentinel.REMOVE
        if not isinstance(original_node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            return updated_node
        return self._statement(key, updated_node)

    def _statement(self, key: int, updated: cst.BaseStatement):
        edits = self.edits
        statements: list[cst.BaseStatement] = (
            list(edits._replacements[key](updated, self.lookup)) if key in edits._replacements else [updated]
        )
        before = [s for make in edits._before.get(key, ()) for s in make(self.lookup)]
        after = [s for make in edits._after.get(key, ()) for s in make(self.lookup)]
        combined = [*before, *statements, *after]
        if not combined:
            return cst.RemovalSentinel.REMOVE
        if before:
            combined = _leading_lines_first(updated, combined)
            if key in edits._separated:
                position = len(before)
                blank = [cst.EmptyLine(indent=False) for _ in range(edits._separated[key])]
                combined[position] = combined[position].with_changes(leading_lines=blank)
        if key in edits._comments:
            # The explanation stays right above the statement it is about, below the moved lines.
            position = len(before)
            combined[position] = _with_comments(combined[position], edits._comments[key])
        return combined[0] if len(combined) == 1 else cst.FlattenSentinel(combined)


def _with_comments(statement: cst.BaseStatement, texts: list[str]) -> cst.BaseStatement:
    existing = {line.comment.value for line in statement.leading_lines if line.comment is not None}
    lines = list(statement.leading_lines)
    for text in texts:
        for piece in text.splitlines():
            comment = (COMMENT_PREFIX + piece) if not piece.startswith("#") else piece
            if comment not in existing:
                lines.append(cst.EmptyLine(comment=cst.Comment(comment)))
                existing.add(comment)
    return statement.with_changes(leading_lines=lines)


def _leading_lines_first(original: cst.BaseStatement, combined: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """Blank lines and comments that stood above the original statement stay above the group."""
    leading = original.leading_lines
    if not leading or combined[0] is original:
        return combined
    first = combined[0]
    moved = first.with_changes(leading_lines=[*leading, *first.leading_lines])
    rest = [s.with_changes(leading_lines=[]) if s is original else s for s in combined[1:]]
    return [moved, *rest]


# -- small node builders shared by the rewrites ---------------------------------------------------------


def name(value: str) -> cst.Name:
    return cst.Name(value)


def expression(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def statement(code: str) -> cst.BaseStatement:
    return cst.parse_statement(code)


def keyword_arg(keyword: str, value: cst.BaseExpression) -> cst.Arg:
    """`keyword=value`, without spaces around `=`."""
    no_space = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
    return cst.Arg(value, keyword=cst.Name(keyword), equal=no_space)


def tuple_of(items: Sequence[cst.BaseExpression], parenthesized: bool = False) -> cst.Tuple:
    elements = [cst.Element(_parenthesize_tuple(item)) for item in items]
    if parenthesized:
        return cst.Tuple(elements)
    return cst.Tuple(elements, lpar=[], rpar=[])


def _parenthesize_tuple(item: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(item, cst.Tuple) and not item.lpar:
        return item.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return item


def assign(targets: Sequence[cst.BaseAssignTargetExpression], value: cst.BaseExpression) -> cst.SimpleStatementLine:
    target = targets[0] if len(targets) == 1 else tuple_of(targets)
    return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(target)], value)])
