"""Parsing a large module in pieces (jax_purity_lint/source/parsing.py) must change nothing but the time:
the same statements, every node at the same place, the same diagnostics as one whole parse.

The pieces are normally ~1,000 lines; here PIECE_LINES is set to 1, so that every top-level
statement that can start a piece does, and every fixture is cut at every possible place."""

from __future__ import annotations

import ast
import contextlib
import sysconfig
from collections import Counter
from pathlib import Path
from typing import Iterator

import libcst as cst
import pytest

from jax_purity_lint.source import parsing
from jax_purity_lint.engine import analyze_source, decode_source
from markers import fixture_files

# Trivia between statements: where a cut falls, blank lines and comments move from the next
# statement's leading lines to the previous piece's footer. Everything else must stay put.
TRIVIA = (cst.Module, cst.EmptyLine, cst.Comment, cst.Newline, cst.SimpleWhitespace)

STANDARD_LIBRARY = Path(sysconfig.get_paths()["stdlib"])
# Varied syntax: decorators, `;`, backslash continuations, form feeds, `if` at module level.
STANDARD_MODULES = ("functools.py", "dataclasses.py", "enum.py", "tarfile.py", "typing.py", "tokenize.py")


WHOLE = 10**9  # pieces this long: every file is parsed whole


@contextlib.contextmanager
def pieces_of(lines: int) -> Iterator[None]:
    """parsing.PIECE_LINES set to `lines` inside the block (1: a cut before every top-level
    statement that can start a piece). Also used by the fuzz tests, where fixtures cannot be."""
    saved, parsing.PIECE_LINES = parsing.PIECE_LINES, lines
    try:
        yield
    finally:
        parsing.PIECE_LINES = saved


@pytest.fixture
def every_statement_a_piece():
    with pieces_of(1):
        yield


def positions_by_kind(positions) -> Counter:
    return Counter(
        (type(node).__name__, (r.start.line, r.start.column, r.end.line, r.end.column))
        for node, r in positions.items()
        if not isinstance(node, TRIVIA)
    )


def assert_same_as_whole(source: str) -> parsing.ParsedModule:
    tree = ast.parse(source)
    whole = cst.parse_module(source)
    parsed = parsing.parse(source, tree)
    assert [type(s) for s in parsed.module.body] == [type(s) for s in whole.body]
    assert positions_by_kind(parsed.positions()) == positions_by_kind(parsing.node_positions(whole))
    return parsed


def test_fixtures_cut_everywhere_keep_every_node_in_place(every_statement_a_piece):
    cut = 0
    for path in fixture_files():
        parsed = assert_same_as_whole(path.read_text(encoding="utf-8"))
        cut += len(parsed.pieces) > 1
    assert cut > 0.9 * len(fixture_files())  # the cuts did happen


def test_windows_line_breaks_are_cut_at_the_same_places(every_statement_a_piece):
    for path in fixture_files()[::10]:
        source = path.read_text(encoding="utf-8").replace("\n", "\r\n")
        assert len(assert_same_as_whole(source).pieces) > 1, path.name


@pytest.mark.parametrize("name", STANDARD_MODULES)
def test_standard_library_cut_everywhere_keeps_every_node_in_place(name, every_statement_a_piece):
    path = STANDARD_LIBRARY / name
    if not path.exists():
        pytest.skip(f"{name} is not in this Python's standard library")
    source = parsing_source(path)
    try:
        ast.parse(source)
    except SyntaxError:
        pytest.skip(f"{name} is not valid Python {sysconfig.get_python_version()}")
    parsed = assert_same_as_whole(source)
    assert len(parsed.pieces) > 1


def parsing_source(path: Path) -> str:
    """Decoded as the engine decodes it, newlines kept (so `\\r\\n` files stay `\\r\\n`)."""
    return decode_source(path.read_bytes())


def test_fixture_diagnostics_do_not_depend_on_the_cuts():
    for path in fixture_files():
        source = path.read_text(encoding="utf-8")
        with pieces_of(WHOLE):
            whole = analyze_source(source, path.name)
        with pieces_of(1):
            pieces = analyze_source(source, path.name)
        assert pieces == whole, path.name


def test_a_large_file_of_many_fixtures_is_cut_and_reports_the_same():
    """All fixtures in one file (their `from __future__` lines dropped, which must come first), cut
    into pieces of 500 lines: the same diagnostics as the whole file, and some to compare."""
    sources = [path.read_text(encoding="utf-8") for path in fixture_files()]
    source = "\n\n".join(
        "".join(line for line in text.splitlines(keepends=True) if not line.startswith("from __future__"))
        for text in sources
    )
    with pieces_of(500):
        parsed = parsing.parse(source, ast.parse(source))
        pieces = analyze_source(source)
    assert len(parsed.pieces) >= source.count("\n") // 1000
    with pieces_of(WHOLE):
        whole = analyze_source(source)
    assert len(whole) > 20 and pieces == whole


# -- where the cuts fall ---------------------------------------------------------------------------


def starts(source: str, tree=None) -> list[int]:
    tree = ast.parse(source) if tree is None else tree
    return [line for line, _ in parsing.piece_starts(source, tree, 1)]


def test_cuts_fall_before_decorators_and_never_after_a_semicolon():
    source = "import jax\n@jax.jit\n@other\ndef f(x):\n    return x\nx = 1; y = 2\nz = 3\n"
    assert starts(source) == [2, 6, 7]


def test_cuts_skip_a_statement_that_starts_where_the_previous_one_ends():
    source = "if x:\n    pass\nelse:\n    y = 1\nz = 2\nclass A: pass\n"
    assert starts(source) == [5, 6]


def test_carriage_returns_count_as_line_breaks_and_form_feeds_do_not():
    assert starts("a = 1\rb = 2\r\nc = '\f'\nd = 4\n") == [2, 3, 4]
    parsed = parsing.parse("a = 1\r\nb = '\f'\r\nc = 3\r\n", None)
    assert len(parsed.pieces) == 1  # no CPython tree: one piece


def test_short_sources_are_not_cut():
    source = "a = 1\nb = 2\nc = 3\n"
    assert parsing.piece_starts(source, ast.parse(source), 2) == []
    assert parsing.piece_starts(source, ast.parse(source), 1) != []


def test_a_tree_of_other_text_is_not_trusted():
    # Line 2 starts with spaces (inside the string): no statement starts there, so nothing is cut.
    source = 'x = """\n  y = 1\n"""\nz = 2\n'
    assert starts(source, ast.parse("x = 1\ny = 1\nq = 1\nz = 2\n")) == []
    # A tree pointing past the end of the text is refused too.
    assert starts("a = 1\nb = 2\n", ast.parse("a = 1\nb = 2\nc = 3\nd = 4\n")) == []


def test_a_piece_libcst_rejects_falls_back_to_the_whole_file(every_statement_a_piece):
    source = 'x = """\ny = 1\nz = 2\n"""\nw = 3\n'
    lying = ast.parse("x = 1\ny = 1\nz = 2\nq = 1\nw = 3\n")  # a statement on every line
    assert starts(source, lying) == [2, 3, 4, 5]  # each line looks like a statement's start
    parsed = parsing.parse(source, lying)  # but the first piece, `x = """`, is not Python
    assert len(parsed.pieces) == 1 and parsed.module.deep_equals(cst.parse_module(source))


def test_the_joined_module_has_every_statement_and_a_position():
    source = "# header\nimport jax\n\n# between\ndef f(x):\n    return x\n\nx = 1  # end\n# footer\n"
    whole = cst.parse_module(source)
    cut = parsing.piece_starts(source, ast.parse(source), 1)
    assert [line for line, _ in cut] == [2, 5, 8]  # the first piece holds only the header comment
    joined = parsing._joined(source, cut)
    assert len(joined.pieces) == 4 and len(joined.module.body) == 3
    assert [line.comment.value for line in joined.module.header] == ["# header"]
    assert [line.comment.value for line in joined.module.footer] == ["# footer"]
    positions = joined.positions()
    assert positions[joined.module] == parsing.node_positions(whole)[whole]
    assert len(list(positions)) == len(positions)
    assert all(positions[node] for node in positions)
    with pytest.raises(KeyError):
        positions[cst.Name("elsewhere")]
