"""Cheap checks before libcst parses a file: text that would make it crash, hang or mislead.

libcst's native parser recurses on the C stack: a few thousand nested brackets or chained operators
crash the whole process (SIGSEGV), which no `except` can catch, and long chains take minutes before
that. CPython's own parser has guards (at most 200 nested brackets, a bounded parse stack), so what
it accepts is nearly always safe to hand to libcst. The exceptions are what CPython keeps flat and
libcst nests: `a and b and ...` and dotted import names, which crash libcst near 10,000 terms; those
are measured on CPython's tree. A file CPython rejects may still be newer syntax than the running
Python (libcst knows 3.12-3.14 syntax on any interpreter): it gets a token-level estimate of the
nesting instead.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from dataclasses import dataclass
from typing import Iterator, Optional

from .lines import line_of

# CPython's tokenizer refuses deeper bracket nesting (MAXLEVEL); libcst crashes near 1,300.
MAX_BRACKET_DEPTH = 200
# Estimated expression depth past which libcst's parser risks the C stack: chains crash it between
# 5,000 and 10,000 links, and CPython's own parser gives up near 3,000, so hardly any real code is
# turned away (the analysis handles what CPython accepts, on a deep stack: see deep_stack.py).
MAX_EXPRESSION_DEPTH = 2500

_OPENING, _CLOSING = "([{", ")]}"
_SEPARATORS = frozenset({",", ";", "="})
# Keywords that chain one expression into the next (`not not x`, `a if b else c if ...`, `lambda: ...`).
_CHAINING_KEYWORDS = frozenset({"not", "and", "or", "if", "else", "lambda", "await", "in", "is", "yield"})
# Gates for the walks of CPython's tree (flat_chain_problem), cheap (C speed) and generous: a chain
# that could crash libcst needs thousands of `and`/`or` in the file, or thousands of dots.
_BOOLEAN_OPERATORS_WORTH_COUNTING = 2000
_DOTS_WORTH_COUNTING = 2000


@dataclass(frozen=True)
class Problem:
    """Why a file is not analysed, and the line to report it at."""

    reason: str
    line: int = 1


def text_problem(source: str) -> Optional[Problem]:
    """Why this text cannot be Python source at all, or None."""
    null = source.find("\x00")
    if null >= 0:
        return Problem("it contains a null byte", line_of(source, null))
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as error:  # lone surrogates: a str no file decodes to
        return Problem(
            f"it is not valid Unicode text (a lone surrogate, {source[error.start]!r})", line_of(source, error.start)
        )
    return None


@dataclass(frozen=True)
class PythonVerdict:
    """What CPython's own parser says: fine, a syntax error (with its line), or nested too deeply."""

    syntax_error: Optional[SyntaxError] = None
    too_deep: Optional[Problem] = None
    tree: Optional[ast.Module] = None  # CPython's tree, when it accepted the source


def python_verdict(source: str, tree: Optional[ast.AST] = None) -> PythonVerdict:
    """Parse with CPython (C, fast, guarded); where it rejects the syntax, estimate nesting from tokens.
    `tree` is CPython's tree of `source` when the caller has one already (flake8 hands it to plugins)."""
    if isinstance(tree, ast.Module):
        return PythonVerdict(too_deep=flat_chain_problem(source, tree), tree=tree)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like are not our business
            tree = ast.parse(source)
    except (RecursionError, MemoryError) as error:  # CPython's parse-stack guard
        return PythonVerdict(
            too_deep=Problem(f"it is nested too deeply for Python's own parser ({type(error).__name__})")
        )
    except SyntaxError as error:
        if _is_nesting_message(str(error.msg)):
            return PythonVerdict(error, Problem(f"it is nested too deeply: {error.msg}", error.lineno or 1))
        # Maybe syntax newer than this Python, which libcst may know: count tokens instead.
        return PythonVerdict(error, token_nesting_problem(source))
    except Exception:  # ValueError, OverflowError, ...: libcst gives its own verdict
        return PythonVerdict(too_deep=token_nesting_problem(source))
    return PythonVerdict(too_deep=flat_chain_problem(source, tree), tree=tree)


def flat_chain_problem(source: str, tree: ast.Module) -> Optional[Problem]:
    """For source CPython accepted (its `tree`): a chain CPython keeps flat but libcst nests one level
    per link, longer than MAX_EXPRESSION_DEPTH: `a and b and ...` or a dotted import name. The text
    gates (substring counts, which bound the counts of words from above) spare the walks for
    nearly every file."""
    if source.count("and") + source.count("or") >= _BOOLEAN_OPERATORS_WORTH_COUNTING:
        for node in ast.walk(tree):
            if isinstance(node, ast.BoolOp) and _boolean_chain_length(node) > MAX_EXPRESSION_DEPTH:
                return Problem(f"an expression is nested more than {MAX_EXPRESSION_DEPTH} deep", node.lineno)
    if source.count(".") >= _DOTS_WORTH_COUNTING:
        for statement in _statements(tree):
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in statement.names] + [getattr(statement, "module", None) or ""]
                parts = max(name.count(".") for name in names) + 1
                if parts > MAX_EXPRESSION_DEPTH:
                    return Problem(
                        f"an imported name is nested too deeply ({parts} parts, more than {MAX_EXPRESSION_DEPTH})",
                        statement.lineno,
                    )
    return None


def _boolean_chain_length(node: ast.BoolOp) -> int:
    """The links libcst nests for `node`: its operands, plus the longest chain among them
    (`a and b or c and d` is an `or` of two `and`s)."""
    inner = [_boolean_chain_length(value) for value in node.values if isinstance(value, ast.BoolOp)]
    return len(node.values) + max(inner, default=0)


def _statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Every statement, at any depth, without visiting expressions."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.stmt):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                pending.extend(child for child in children if isinstance(child, ast.AST))


def token_nesting_problem(source: str) -> Optional[Problem]:
    """Estimate nesting from tokens: bracket depth, plus operators chained within one element.

    An element is the text between separators (`,` `;` `=` or a new statement) at one bracket level;
    `- - - x`, `a + b + ...` or `a.b.c...` deepen the tree inside one element, `[-1, -2, ...]` does not.
    """
    chained = [0]  # per open bracket: chaining tokens in the current element
    estimate = 0  # sum(chained) + open brackets: an upper bound on the tree depth so far
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            text = token.string
            if token.type == tokenize.OP and text in _OPENING:
                chained[-1] += 1
                chained.append(0)
                estimate += 2
                if len(chained) - 1 > MAX_BRACKET_DEPTH:
                    return Problem(f"brackets are nested more than {MAX_BRACKET_DEPTH} deep", token.start[0])
            elif token.type == tokenize.OP and text in _CLOSING:
                if len(chained) > 1:
                    estimate -= chained.pop() + 1
            elif token.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (
                token.type == tokenize.OP and text in _SEPARATORS
            ):
                estimate -= chained[-1]
                chained[-1] = 0
            elif token.type == tokenize.OP or (token.type == tokenize.NAME and text in _CHAINING_KEYWORDS):
                chained[-1] += 1
                estimate += 1
            if estimate > MAX_EXPRESSION_DEPTH:
                return Problem(f"an expression is nested more than {MAX_EXPRESSION_DEPTH} deep", token.start[0])
    except (tokenize.TokenError, SyntaxError, ValueError) as error:
        # Tokenizers that enforce Python's own limit (3.12+) say so; other errors are libcst's to report.
        if _is_nesting_message(str(error)):
            return Problem(f"it is nested too deeply: {error}", getattr(error, "lineno", None) or 1)
    return None


def _is_nesting_message(message: str) -> bool:
    return "too many nested" in message or "too deeply nested" in message
