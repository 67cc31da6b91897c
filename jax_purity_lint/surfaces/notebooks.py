"""Jupyter notebooks: code cells joined so cross-cell globals are understood; magics and shell lines
blanked (line numbers kept); findings mapped back to `cell N:line L`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic
from ..engine import analysis_failure, analyze_source
from .config import Config
from .check import filter_diagnostics


@dataclasses.dataclass(frozen=True)
class JoinedNotebook:
    source: str
    origins: tuple[tuple[int, int], ...]  # per joined line: (1-based code cell, 1-based line in cell)


def _cell_lines(cell: dict[str, Any]) -> list[str]:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = text.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return [""] * len(lines)  # a cell magic: the cell is not Python
    return ["" if _is_ipython_only(line) else line for line in lines]


def _is_ipython_only(line: str) -> bool:
    """Line magics (`%timeit`), shell escapes (`!pip`), and help queries (`jnp.dot?`)."""
    stripped = line.strip()
    if stripped.startswith(("%", "!")):
        return True
    return stripped.endswith("?") and " " not in stripped and not stripped.startswith("#")


def join_cells(notebook: dict[str, Any]) -> JoinedNotebook:
    lines: list[str] = []
    origins: list[tuple[int, int]] = []
    code_cell = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code_cell += 1
        for number, line in enumerate(_cell_lines(cell), start=1):
            lines.append(line)
            origins.append((code_cell, number))
        lines.append("")  # keep cells apart
        origins.append((code_cell, len(lines)))
    return JoinedNotebook("\n".join(lines) + "\n", tuple(origins))


def load_notebook(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no list of cells)")
    return data


def check_notebook(path: Path, config: Config) -> list[Diagnostic]:
    try:
        joined = join_cells(load_notebook(path))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return [analysis_failure(f"cannot read the notebook: {error}")]
    diagnostics = filter_diagnostics(analyze_source(joined.source, str(path), config.settings), joined.source, config)
    return [_to_cell(d, joined) for d in diagnostics]


def _to_cell(diagnostic: Diagnostic, joined: JoinedNotebook) -> Diagnostic:
    if not 0 < diagnostic.line <= len(joined.origins):
        return diagnostic
    cell, line = joined.origins[diagnostic.line - 1]
    return dataclasses.replace(diagnostic, cell=cell, line=line)
