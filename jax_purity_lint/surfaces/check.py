"""`jax-purity-lint check`: lint files, apply select/ignore and `# noqa`, in parallel if asked."""

from __future__ import annotations

import re

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..diagnostics import Diagnostic
from .config import Config
from .files import discover
from .noqa import suppressed


@dataclass(frozen=True)
class FileResult:
    path: Path
    diagnostics: tuple[Diagnostic, ...]


def check_file(path: Path, config: Config) -> FileResult:
    if path.suffix == ".ipynb":
        from .notebooks import check_notebook

        return FileResult(path, tuple(check_notebook(path, config)))
    # Imported here: a run whose every file is in the cache never loads the engine (and libcst).
    from ..engine import analysis_failure, analyze_source, read_source

    try:
        source = read_source(path)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as error:
        return FileResult(path, tuple(filter_diagnostics([analysis_failure(f"cannot read it: {error}")], "", config)))
    diagnostics = analyze_source(source, str(path), config.settings)
    return FileResult(path, tuple(filter_diagnostics(diagnostics, source, config)))


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def python_lines(text: str) -> list[str]:
    """Lines as Python numbers them: `str.splitlines` also breaks at form feeds and other separators."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def filter_diagnostics(diagnostics: Sequence[Diagnostic], source: str, config: Config) -> list[Diagnostic]:
    """Keep the selected, not ignored codes whose line has no `# noqa` for them."""
    lines = python_lines(source)
    kept = []
    for diagnostic in diagnostics:
        if not config.enabled(diagnostic.code):
            continue
        line = lines[diagnostic.line - 1] if 0 < diagnostic.line <= len(lines) else ""
        if not suppressed(diagnostic.code, line):
            kept.append(diagnostic)
    return kept


def check_paths(
    paths: Sequence[Path], config: Config, jobs: int = 1, force_exclude: bool = False, cache=None
) -> list[FileResult]:
    """`cache`: a `cache.ResultCache`, whose `check` stands in for `check_file`."""
    files = list(discover(paths, config.exclusions, force_exclude))
    check = check_file if cache is None else cache.check
    if jobs <= 1 or len(files) < 2:
        return [check(path, config) for path in files]
    # Results come back in the order of `files`, so the output does not depend on `jobs`.
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(check, files, [config] * len(files), chunksize=8))
