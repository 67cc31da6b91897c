"""`jax-purity-lint check`: lint files (or stdin), each under its own configuration (project.py),
apply select/ignore and `# noqa`, in parallel if asked."""

from __future__ import annotations


from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

from ..diagnostics import Diagnostic
from ..source.lines import python_lines
from .config import Config
from .files import discover, named_path_excluded
from .noqa import suppressed
from .project import Project


@dataclass(frozen=True)
class FileResult:
    path: Path
    diagnostics: tuple[Diagnostic, ...]
    # What the result depends on besides the file's bytes and configuration: questions asked of the
    # project's other files (engine.FileAnalysis.dependencies), checked before a cached result is reused.
    dependencies: tuple[tuple[str, str, str], ...] = field(default=(), compare=False)


def check_file(path: Path, config: Config) -> FileResult:
    if path.suffix == ".ipynb":
        from .notebooks import check_notebook

        return FileResult(path, tuple(check_notebook(path, config)))
    # Imported here: a run whose every file is in the cache never loads the engine (and libcst).
    from ..engine import analysis_failure
    from ..source.decoding import read_source

    try:
        source = read_source(path)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as error:
        return FileResult(path, tuple(filter_diagnostics([analysis_failure(f"cannot read it: {error}")], "", config)))
    return check_source(source, path, config)


def check_source(data: Union[str, bytes], path: Path, config: Config) -> FileResult:
    """Source that is not read from `path` (stdin for `check -`, an editor's buffer), reported as
    `path`. Bytes are decoded as a file's would be (a coding cookie counts); nothing is cached or
    written."""
    from ..engine import analyse_file

    analysis = analyse_file(data, str(path), config.settings, keep_tree=False)
    diagnostics = tuple(filter_diagnostics(analysis.diagnostics, analysis.source, config))
    return FileResult(path, diagnostics, dependencies=analysis.dependencies)


def check_stdin(data: bytes, path: Path, project: Project, force_exclude: bool = False) -> list[FileResult]:
    """As ruff does, the excludes apply to stdin's `path` only with `force_exclude` (an editor or
    pre-commit naming an excluded file): then nothing is reported."""
    if force_exclude and named_path_excluded(path, project.exclusions_in):
        return []
    return [check_source(data, path, project.config_for(path))]


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
    paths: Sequence[Path],
    configuration: Union[Project, Config],
    jobs: int = 1,
    force_exclude: bool = False,
    cache=None,
) -> list[FileResult]:
    """Each file under its Project's configuration (a Config: the same for every file). `cache`: a
    `cache.ResultCache` (or cache.CachePerProject), whose `check` stands in for `check_file`.
    Raises ConfigError, before any file is analysed, if a file's pyproject.toml is wrong."""
    project = configuration if isinstance(configuration, Project) else Project(fixed=configuration)
    files = list(discover(paths, project.exclusions_in, force_exclude))
    configs = [project.config_for(path) for path in files]
    check = check_file if cache is None else cache.check
    if jobs <= 1 or len(files) < 2:
        return [check(path, config) for path, config in zip(files, configs)]
    # Results come back in the order of `files`, so the output does not depend on `jobs`.
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(check, files, configs, chunksize=8))
