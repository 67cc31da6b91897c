"""libcst's parse of a module: in pieces of whole top-level statements when the module is large.

libcst's native parser costs more per line the longer the file: a 63k-line file takes 1.4 times as
long per line as a 1k-line one (its tree no longer fits in the CPU caches). Pieces of about
PIECE_LINES lines cost the same per line whatever the file's size, so a large file is cut where
CPython's tree says a top-level statement starts, each piece is parsed on its own, and their
statements are joined in one Module for the analysis. That Module is for analysis only: the
comments and blank lines between two pieces are not in it (the analysis reads neither), so its
`.code` is not the source. Positions are computed per piece and shifted by the piece's first line.

Anything unexpected (no CPython tree, a piece libcst rejects) parses the whole file as one piece,
so errors are reported exactly as before.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Iterator, Mapping, Optional, Sequence

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from .lines import LINE_BREAK

PIECE_LINES = 1_000  # measured: 250 to 1,000 lines per piece parse at the 1k-line file's rate


@dataclasses.dataclass(frozen=True)
class Piece:
    first_line: int  # 1-based line of the source where the piece starts (at column 0)
    module: cst.Module


@dataclasses.dataclass(frozen=True)
class ParsedModule:
    module: cst.Module  # every top-level statement of the source, in order
    pieces: tuple[Piece, ...]  # one piece, `module` itself, unless the source was parsed in pieces

    def positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        """Where each node is in the source: libcst's PositionProvider mapping."""
        if len(self.pieces) == 1:
            return node_positions(self.module)
        return _PiecewisePositions(self.module, [(piece, node_positions(piece.module)) for piece in self.pieces])


def parse(source: str, python_tree: Optional[ast.AST] = None) -> ParsedModule:
    """libcst's tree of `source`, which CPython parsed into `python_tree` (None if it could not).
    Raises what `cst.parse_module(source)` raises."""
    starts = piece_starts(source, python_tree, PIECE_LINES)
    if starts:
        try:
            return _joined(source, starts)
        except cst.ParserSyntaxError:  # libcst and CPython disagree: let the whole file speak
            pass
    module = cst.parse_module(source)
    return ParsedModule(module, (Piece(1, module),))


def piece_starts(source: str, python_tree: Optional[ast.AST], piece_lines: int) -> list[tuple[int, int]]:
    """(line, offset in `source`) of the start of each piece but the first: lines where a top-level
    statement (its first decorator, if any) starts, at least `piece_lines` apart. Empty when the
    source is too short to be worth cutting or CPython's tree does not fit it."""
    if not isinstance(python_tree, ast.Module) or source.count("\n") < 2 * piece_lines:
        return []
    line_offsets = [0, 0] + [match.end() for match in LINE_BREAK.finditer(source)]  # line n starts at [n]
    starts: list[tuple[int, int]] = []
    previous_start = 1
    for line in _statement_lines(python_tree):
        if line - previous_start < piece_lines:
            continue
        if line >= len(line_offsets) or not _starts_a_statement(source, line_offsets[line]):
            return []  # the tree is not of this text: do not cut it blindly
        starts.append((line, line_offsets[line]))
        previous_start = line
    return starts


def _statement_lines(tree: ast.Module) -> Iterator[int]:
    """Lines on which a top-level statement starts alone: not after a `;`, nor on the line where
    the statement before it ends."""
    previous_end = 0
    for statement in tree.body:
        decorators = getattr(statement, "decorator_list", ())
        first = min([statement.lineno, *(decorator.lineno for decorator in decorators)])
        if statement.col_offset == 0 and first > previous_end:
            yield first
        previous_end = max(previous_end, statement.end_lineno or statement.lineno)


def _starts_a_statement(source: str, offset: int) -> bool:
    character = source[offset : offset + 1]
    return bool(character) and not character.isspace() and character not in "#\\"


def _joined(source: str, starts: Sequence[tuple[int, int]]) -> ParsedModule:
    bounds = [(1, 0), *starts, (None, len(source))]
    pieces = tuple(
        Piece(line, cst.parse_module(source[offset:end]))
        for (line, offset), (_, end) in zip(bounds, bounds[1:])
    )
    first, last = pieces[0].module, pieces[-1].module
    module = first.with_changes(
        body=[statement for piece in pieces for statement in piece.module.body],
        footer=last.footer,
        has_trailing_newline=last.has_trailing_newline,
    )
    return ParsedModule(module, pieces)


def node_positions(module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """libcst's PositionProvider mapping, computed without `MetadataWrapper.resolve`: that also runs
    an empty batched visit of the whole tree (even when no batchable provider is asked for), which
    cost as much as the positions themselves. tests/test_robustness.py holds the two to be equal."""
    return PositionProvider()._gen(MetadataWrapper(module, unsafe_skip_copy=True))


class _PiecewisePositions(Mapping[cst.CSTNode, CodeRange]):
    """The positions of the pieces' nodes, each shifted by its piece's first line, looked up on
    demand: only the few nodes a finding names are ever asked for."""

    def __init__(self, module: cst.Module, pieces: list[tuple[Piece, Mapping[cst.CSTNode, CodeRange]]]) -> None:
        self._module = module
        self._pieces = pieces

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        if node is self._module:  # from the first piece's start to the last one's end
            last, positions = self._pieces[-1]
            return CodeRange(CodePosition(1, 0), _shifted(positions[last.module], last.first_line - 1).end)
        for piece, positions in self._pieces:
            found = positions.get(node)
            if found is not None and node is not piece.module:
                return _shifted(found, piece.first_line - 1)
        raise KeyError(node)

    def __iter__(self) -> Iterator[cst.CSTNode]:
        yield self._module
        for piece, positions in self._pieces:
            yield from (node for node in positions if node is not piece.module)

    def __len__(self) -> int:
        return 1 + sum(len(positions) - 1 for _, positions in self._pieces)


def _shifted(found: CodeRange, lines: int) -> CodeRange:
    return CodeRange(
        CodePosition(found.start.line + lines, found.start.column),
        CodePosition(found.end.line + lines, found.end.column),
    )
