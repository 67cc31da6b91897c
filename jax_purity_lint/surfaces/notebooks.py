"""Jupyter notebooks: code cells joined so cross-cell globals are understood; magics and shell lines
replaced by `pass` (line numbers kept); findings mapped back to `cell N:line L`."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Optional

from ..diagnostics import Diagnostic, TraceSite
from ..source.lines import python_lines
from .check import filter_diagnostics
from .config import Config

# `files = !ls`, `t = %timeit -o f()`: IPython assignments from a shell command or a magic.
SHELL_ASSIGNMENT = re.compile(r"^\s*[\w.,\s()\[\]]+=\s*[!%]")
# The rules name other places as "at line N" (rules/base.py); in a notebook that line is in a cell.


@dataclasses.dataclass(frozen=True)
class NotebookTraceSite(TraceSite):
    """A trace site in a notebook: `line` is the line in code cell `cell`."""

    cell: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class JoinedNotebook:
    source: str
    origins: tuple[tuple[int, int], ...]  # per joined line: (1-based code cell, 1-based line in cell)

    def origin(self, line: int) -> Optional[tuple[int, int]]:
        return self.origins[line - 1] if 0 < line <= len(self.origins) else None


def _cell_lines(cell: dict[str, Any]) -> list[str]:
    return [line.python for line in cell_lines(cell)]


@dataclasses.dataclass(frozen=True)
class CellLine:
    """One line of a code cell: what Python is given, and whether it is IPython syntax (a magic, a shell
    escape, a line of a cell magic) that Python is given a stand-in for."""

    python: str
    original: str  # the line as the cell has it (without the indentation IPython removes)
    ipython: bool = False


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def cell_lines(cell: dict[str, Any]) -> list[CellLine]:
    """The cell's lines as Python reads them: IPython-only lines become `pass` (blank when they continue
    a shell line or belong to a cell magic), so line numbers are kept."""
    lines = _dedented(python_lines(cell_source(cell)))
    if lines and lines[0].lstrip().startswith("%%"):
        return [CellLine("", line, ipython=True) for line in lines]  # a cell magic (%%bash, %%timeit): not plain Python
    converted: list[CellLine] = []
    continuing = False  # inside `!git clone ... \\` continued on the next lines
    python = _OpenStatement()
    for line in lines:
        # IPython reads escapes only where a logical line starts: `% (a, b)` inside brackets is Python.
        ipython_only = continuing or (python.closed and _is_ipython_only(line))
        if ipython_only:
            converted.append(CellLine("" if continuing else _as_python(line), line, ipython=True))
        else:
            converted.append(CellLine(line, line))
            python.read(line)
        continuing = ipython_only and line.rstrip("\r\n").endswith("\\")
    return converted


class _OpenStatement:
    """Whether the Python lines read so far leave a statement open (an unclosed bracket or triple-quoted
    string, a trailing backslash), so that the next line continues it."""

    def __init__(self) -> None:
        self._brackets = 0
        self._string: Optional[str] = None  # the closing quotes of a triple-quoted string still open
        self._backslash = False

    @property
    def closed(self) -> bool:
        return self._brackets == 0 and self._string is None and not self._backslash

    def read(self, line: str) -> None:
        text = line.rstrip("\r\n")
        self._backslash = False
        position = 0
        while position < len(text):
            if self._string is not None:
                end = _string_end(text, position, self._string)
                if end is None:
                    return  # the string goes on in the next line
                self._string, position = None, end
                continue
            character = text[position]
            if character == "#":
                return
            if character in "\"'":
                quotes = text[position:position + 3] if text.startswith(character * 3, position) else character
                end = _string_end(text, position + len(quotes), quotes)
                if end is None:
                    if len(quotes) == 3:
                        self._string = quotes
                    return  # an unclosed one-line string is a syntax error: nothing more to learn here
                position = end
                continue
            if character in "([{":
                self._brackets += 1
            elif character in ")]}":
                self._brackets = max(0, self._brackets - 1)
            elif character == "\\" and position == len(text) - 1:
                self._backslash = True
            position += 1


def _string_end(text: str, start: int, quotes: str) -> Optional[int]:
    """The position after `quotes` closing a string whose text starts at `start`, or None if this line
    does not close it (a backslash escapes the character after it, in raw strings too)."""
    position = start
    while position < len(text):
        if text[position] == "\\":
            position += 2
        elif text.startswith(quotes, position):
            return position + len(quotes)
        else:
            position += 1
    return None


def leading_indentation(cell: dict[str, Any]) -> str:
    """The indentation IPython removes from every line of a cell whose first line is indented."""
    return _first_indentation(python_lines(cell_source(cell)))


def _first_indentation(lines: list[str]) -> str:
    if not lines or not lines[0].strip():
        return ""
    return lines[0][: len(lines[0]) - len(lines[0].lstrip(" \t"))]


def _dedented(lines: list[str]) -> list[str]:
    """IPython runs a cell whose first line is indented by removing that indentation from every line
    that starts with it (its `leading_indent` transform); so does the analysis."""
    indentation = _first_indentation(lines)
    if not indentation:
        return lines
    return [line[len(indentation):] if line.startswith(indentation) else line for line in lines]


def _as_python(line: str) -> str:
    """IPython-only lines become `pass` at their own indentation: blank, an `if` whose only
    statement is `!git clone ...` would no longer parse."""
    if not _is_ipython_only(line):
        return line
    indentation = line[: len(line) - len(line.lstrip())]
    return f"{indentation}pass"


def _is_ipython_only(line: str) -> bool:
    """Line magics (`%timeit`), shell escapes (`!pip`), help queries (`jnp.dot?`), `x = !ls`."""
    stripped = line.strip()
    if stripped.startswith(("%", "!")):
        return True
    if stripped.startswith("?") or (stripped.endswith("?") and " " not in stripped and not stripped.startswith("#")):
        return True
    return bool(SHELL_ASSIGNMENT.match(line))


def join_cells(notebook: dict[str, Any]) -> JoinedNotebook:
    """One module made of the code cells in order, so a global set in one cell is seen in the next."""
    lines: list[str] = []
    origins: list[tuple[int, int]] = []
    code_cell = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code_cell += 1
        cell_lines = _cell_lines(cell)
        for number, line in enumerate(cell_lines, start=1):
            lines.append(line)
            origins.append((code_cell, number))
        # A blank line keeps one cell's last block from running into the next. What is reported on
        # it (a syntax error at the end of the cell) belongs to the cell's last line.
        lines.append("")
        origins.append((code_cell, max(1, len(cell_lines))))
    return JoinedNotebook("\n".join(lines) + "\n", tuple(origins))


def is_python_notebook(notebook: dict[str, Any]) -> bool:
    """True unless the metadata names another language (an R or Julia kernel)."""
    metadata = notebook.get("metadata") or {}
    language = (metadata.get("kernelspec") or {}).get("language") or (metadata.get("language_info") or {}).get("name")
    return not language or str(language).lower() == "python"


def load_notebook(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return parse_notebook(handle.read())


def parse_notebook(text: str) -> dict[str, Any]:
    """The notebook's JSON. Raises ValueError when it is not JSON or not a notebook."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no list of cells)")
    return data


def check_notebook(path: Path, config: Config) -> list[Diagnostic]:
    try:
        notebook = load_notebook(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return filter_diagnostics([_failure(f"cannot read the notebook: {error}")], "", config)
    except RecursionError:  # JSON nested deeper than the decoder goes
        return filter_diagnostics([_failure("cannot read the notebook: its JSON is nested too deeply")], "", config)
    return check_notebook_data(notebook, path, config)


def check_notebook_data(notebook: dict[str, Any], path: Path, config: Config) -> list[Diagnostic]:
    """The findings in a notebook's code cells (from the file, or an editor's unsaved cells), in cells."""
    from ..engine import analyse_file  # see check_file: only on a cache miss

    try:
        if not is_python_notebook(notebook):
            return []
        joined = join_cells(notebook)
    except (TypeError, AttributeError, KeyError, RecursionError) as error:  # JSON of the wrong shape
        reason = f"not a well-formed notebook ({type(error).__name__})"
        return filter_diagnostics([_failure(f"cannot read the notebook: {reason}")], "", config)
    analysis = analyse_file(
        joined.source, str(path), config.settings, place=lambda line: cell_place(line, joined), keep_tree=False
    )
    diagnostics = filter_diagnostics(analysis.diagnostics, joined.source, config)
    return [to_cells(d, joined) for d in diagnostics]


def _failure(message: str) -> Diagnostic:
    from ..engine import analysis_failure

    return analysis_failure(message)


def cell_place(line: int, joined: JoinedNotebook) -> str:
    """How a message names a line of the joined cells: "cell 3, line 2"."""
    origin = joined.origin(line)
    return f"line {line}" if origin is None else f"cell {origin[0]}, line {origin[1]}"


def to_cells(diagnostic: Diagnostic, joined: JoinedNotebook) -> Diagnostic:
    """The diagnostic with its line and its trace site in cells (its message names cells already)."""
    origin = joined.origin(diagnostic.line)
    if origin is None:
        return diagnostic
    cell, line = origin
    return dataclasses.replace(diagnostic, cell=cell, line=line, site=_site_in_cells(diagnostic.site, joined))


def _site_in_cells(site: Optional[TraceSite], joined: JoinedNotebook) -> Optional[TraceSite]:
    origin = joined.origin(site.line) if site is not None else None
    if site is None or origin is None:
        return site
    cell, line = origin
    return NotebookTraceSite(line=line, col=site.col, transform=site.transform, function=site.function, cell=cell)
