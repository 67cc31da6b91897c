"""`fix` on a notebook: its code cells joined into one module for the rewrites, and the rewritten module
cut back into those cells, written in place with everything else kept (outputs, metadata, cell ids,
markdown, the file's JSON layout).

The joined module carries a comment line before each cell (where to cut it again) and a comment in
place of each IPython line (`%timeit`, `!pip`), which is put back as it was. When the rewritten module
cannot be cut back exactly (a marker lost or moved, an IPython line touched, a changed cell that IPython
dedents) nothing is written and `fix` says why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..source.lines import python_lines
from ..surfaces.notebooks import (
    CellLine,
    JoinedNotebook,
    cell_lines,
    cell_place,
    cell_source,
    is_python_notebook,
    leading_indentation,
    parse_notebook,
)

CELL_MARKER = "# jax-purity-lint: code cell {}"
KEPT_LINE = "# jax-purity-lint: ipython line {}"
_CELL_MARKER = re.compile(r"^\s*# jax-purity-lint: code cell (\d+)\s*$")
_KEPT_LINE = re.compile(r"^\s*(?:pass\s+)?# jax-purity-lint: ipython line (\d+)\s*$")


class CannotWriteBack(Exception):
    """The rewrite cannot be put back into the notebook's cells; the message says why."""


class NotPythonNotebook(Exception):
    """An R or Julia notebook: nothing to rewrite."""


@dataclass(frozen=True)
class _JsonStyle:
    indent: Optional[int]
    sort_keys: bool
    ensure_ascii: bool
    final_newline: bool

    def dump(self, data: dict[str, Any]) -> str:
        text = json.dumps(data, indent=self.indent, sort_keys=self.sort_keys, ensure_ascii=self.ensure_ascii)
        return text + ("\n" if self.final_newline else "")


NBFORMAT_STYLE = _JsonStyle(indent=1, sort_keys=True, ensure_ascii=False, final_newline=True)


@dataclass
class EditableNotebook:
    path: Path
    raw: bytes
    data: dict[str, Any]
    cells: list[dict[str, Any]]  # the code cells, in order (the very dicts of `data`)
    lines: list[list[CellLine]]  # per code cell, as the analysis reads it
    joined: JoinedNotebook  # the module the rewrites work on, and where each of its lines is in the cells
    kept: tuple[str, ...]  # the IPython lines, by the number of the comment standing in for them

    @classmethod
    def read(cls, path: Path) -> "EditableNotebook":
        """Raises OSError, ValueError (not JSON, not a notebook) or NotPythonNotebook."""
        raw = path.read_bytes()
        data = parse_notebook(raw.decode("utf-8"))
        if not is_python_notebook(data):
            raise NotPythonNotebook(str(path))
        cells = _code_cells(data)
        lines = [cell_lines(cell) for cell in cells]
        text_lines: list[str] = []
        origins: list[tuple[int, int]] = []
        kept: list[str] = []
        for number, cell in enumerate(lines, start=1):
            text_lines.append(CELL_MARKER.format(number))
            origins.append((number, 1))  # a marker stands where its cell starts
            for line_number, line in enumerate(cell, start=1):
                if line.ipython:
                    stand_in = KEPT_LINE.format(len(kept))
                    kept.append(line.original)
                    text_lines.append(f"{line.python}  {stand_in}" if line.python.strip() else stand_in)
                else:
                    text_lines.append(line.python)
                origins.append((number, line_number))
        joined = JoinedNotebook("\n".join(text_lines) + "\n", tuple(origins))
        return cls(path, raw, data, cells, lines, joined, tuple(kept))

    @property
    def text(self) -> str:
        return self.joined.source

    def origin(self, line: int) -> Optional[tuple[int, int]]:
        """(code cell, line in it) of a line of `text`."""
        return self.joined.origin(line)

    def place(self, line: int) -> str:
        return cell_place(line, self.joined)

    # -- from the rewritten module back to cells ---------------------------------------------------------

    def cell_texts(self, rewritten: str) -> list[str]:
        """Each code cell's new source. Raises CannotWriteBack."""
        regions = self._regions(rewritten)
        texts = []
        for number, (cell, old_lines, new_lines) in enumerate(zip(self.cells, self.lines, regions), start=1):
            new_lines = self._restored(new_lines, number)
            new_lines = _same_blank_edges(new_lines, [line.original for line in old_lines])
            original = cell_source(cell)
            if new_lines == [line.original for line in old_lines]:
                texts.append(original)
                continue
            if leading_indentation(cell):
                raise CannotWriteBack(f"cell {number} starts indented (IPython dedents it); rewrite it by hand")
            newline = "\r\n" if "\r\n" in original else "\n"
            ends_with_newline = original.endswith(("\n", "\r"))
            texts.append(newline.join(new_lines) + (newline if ends_with_newline and new_lines else ""))
        return texts

    def _regions(self, rewritten: str) -> list[list[str]]:
        regions: list[list[str]] = []
        for line in python_lines(rewritten):
            marker = _CELL_MARKER.match(line)
            if marker:
                if int(marker.group(1)) != len(regions) + 1:
                    raise CannotWriteBack("the rewrite moved code across cells")
                regions.append([])
            elif regions:
                regions[-1].append(line)
            elif line.strip():
                raise CannotWriteBack("the rewrite put code before the first cell")
        if len(regions) != len(self.cells):
            raise CannotWriteBack("the rewrite removed a cell boundary")
        return regions

    def _restored(self, lines: list[str], cell: int) -> list[str]:
        restored = []
        for line in lines:
            kept = _KEPT_LINE.match(line)
            restored.append(self.kept[int(kept.group(1))] if kept else line)
            if "# jax-purity-lint: ipython line" in line and not kept:
                raise CannotWriteBack(f"the rewrite changed an IPython line of cell {cell}")
        return restored

    def rewritten(self, rewritten: str) -> bytes:
        """The notebook file with its code cells replaced by the rewrite's. Raises CannotWriteBack."""
        texts = self.cell_texts(rewritten)
        style = _style_of(self.data, self.raw)
        data = json.loads(self.raw.decode("utf-8"))  # a fresh copy: the notebook as read stays as it was
        for cell, text in zip(_code_cells(data), texts):
            if text != cell_source(cell):
                source = cell.get("source")
                cell["source"] = text.splitlines(keepends=True) if isinstance(source, list) else text
        return style.dump(data).encode("utf-8")

    def cell_changes(self, rewritten: str) -> list[tuple[int, str, str]]:
        """(code cell, old source, new source) for each cell the rewrite changes. Raises CannotWriteBack."""
        texts = self.cell_texts(rewritten)
        return [
            (number, cell_source(cell), text)
            for number, (cell, text) in enumerate(zip(self.cells, texts), start=1)
            if text != cell_source(cell)
        ]


def _code_cells(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [cell for cell in data["cells"] if isinstance(cell, dict) and cell.get("cell_type") == "code"]


def _same_blank_edges(new: list[str], old: list[str]) -> list[str]:
    """New statements come with blank lines around them; at a cell's edges keep the cell's own."""

    def blank_run(lines: list[str]) -> int:
        count = 0
        for line in lines:
            if line.strip():
                break
            count += 1
        return count

    if not any(line.strip() for line in new) or not any(line.strip() for line in old):
        return new
    lead, trail = blank_run(new), blank_run(reversed(new))
    core = new[lead: len(new) - trail]
    return old[: blank_run(old)] + core + old[len(old) - blank_run(reversed(old)):]


def _style_of(data: dict[str, Any], raw: bytes) -> _JsonStyle:
    """The JSON layout the file was written with, so only the changed cells differ; nbformat's otherwise."""
    opening = re.match(rb"\{\r?\n( *)\S", raw)
    indent = len(opening.group(1)) if opening else None
    ascii_only = raw.isascii()
    for sort_keys in (True, False):
        for ensure_ascii in ((False, True) if ascii_only else (False,)):
            style = _JsonStyle(indent, sort_keys, ensure_ascii, raw.endswith(b"\n"))
            if style.dump(data).encode("utf-8") == raw:
                return style
    return NBFORMAT_STYLE
