"""From source text to a file analysis: decode, prefilter, then (diagnosis.py) parse, analyse, run the
rules, locate the findings.

`analyse_file` returns the one result every surface reads (`FileAnalysis`: the tree, the module's
analysis, each finding with its node and its diagnostic); `analyze_source` is its diagnostics only.
This module imports no libcst: a file the prefilter turns away costs only the prefilter."""

from __future__ import annotations

import ast
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

from .codes import ANALYSIS_FAILURE_CODE
from .diagnostics import Diagnostic
from .settings import DEFAULT_SETTINGS, Settings
from .source.decoding import decode_source
from .source.deep_stack import raised_by
from .source.gc_pause import collector_paused
from .source.preflight import python_verdict, text_problem
from .source.prefilter import might_trace, names_a_transformation

if TYPE_CHECKING:  # the libcst stage (diagnosis.py) is imported only for a file that reaches it
    import libcst as cst

    from .analysis import ModuleAnalysis
    from .rules import Finding
    from .source.parsing import ParsedModule

# How a message names a line: "line 9"; a notebook says "cell 3, line 2".
PlaceOfLine = Callable[[int], str]


def line_place(line: int) -> str:
    return f"line {line}"


@dataclass(frozen=True)
class LocatedFinding:
    """A rule's finding with its diagnostic (where it is, what it says) and its rewrite group."""

    finding: Finding
    diagnostic: Diagnostic
    group: tuple  # the findings one rewrite answers together share it (each rule's `group_key`)

    @property
    def code(self) -> str:
        return self.diagnostic.code

    @property
    def node(self) -> cst.CSTNode:
        return self.finding.node

    @property
    def variant(self) -> str:
        return self.finding.variant

    # The diagnostic's fields, read by the rewrites as by every other surface.
    line = property(lambda self: self.diagnostic.line)
    col = property(lambda self: self.diagnostic.col)
    state = property(lambda self: self.diagnostic.state)
    function = property(lambda self: self.diagnostic.function)
    site = property(lambda self: self.diagnostic.site)

    def sort_key(self) -> tuple[int, int, str]:
        return self.diagnostic.sort_key()


@dataclass(frozen=True)
class FileAnalysis:
    """Everything known about one file: `check`, `fix`, `confirm`, flake8 and notebooks all read this."""

    source: str
    parsed: Optional[ParsedModule] = None  # None when nothing in it can trace, or it cannot be parsed
    module_analysis: Optional[ModuleAnalysis] = None
    findings: tuple[LocatedFinding, ...] = ()
    failure: Optional[Diagnostic] = None  # JPL001: it could not be analysed
    # The diagnostics alone, for a result that let its tree go (`without_tree`).
    kept_diagnostics: Optional[tuple[Diagnostic, ...]] = None
    # What the analysis asked of the project's other files (project_index.Question): the result holds
    # while their answers do (surfaces/cache.py checks them before reusing it).
    dependencies: tuple[tuple[str, str, str], ...] = ()

    @property
    def diagnostics(self) -> list[Diagnostic]:
        if self.failure is not None:
            return [self.failure]
        if self.kept_diagnostics is not None:
            return list(self.kept_diagnostics)
        return [located.diagnostic for located in self.findings]

    def without_tree(self) -> "FileAnalysis":
        """The same diagnostics, holding no libcst node. This result's analysis is released
        (ModuleAnalysis.release), so that the tree is freed at once: only the copy is read after."""
        if self.module_analysis is not None:
            self.module_analysis.release()
        return FileAnalysis(
            self.source,
            failure=self.failure,
            kept_diagnostics=tuple(self.diagnostics),
            dependencies=self.dependencies,
        )


def analyze_source(
    source: Union[str, bytes],
    filename: str = "<unknown>",
    settings: Optional[Settings] = None,
    *,
    python_tree: Optional[ast.AST] = None,
) -> list[Diagnostic]:
    """All diagnostics for one module's source. Never raises: failures become one JPL001 diagnostic.
    `python_tree` is `ast.parse(source)` when the caller has it already (flake8 does): not parsed again."""
    return analyse_file(source, filename, settings, python_tree=python_tree, keep_tree=False).diagnostics


def analyse_file(
    source: Union[str, bytes],
    filename: str = "<unknown>",
    settings: Optional[Settings] = None,
    *,
    python_tree: Optional[ast.AST] = None,
    place: PlaceOfLine = line_place,
    keep_tree: bool = True,
    project: Optional[bool] = None,
) -> FileAnalysis:
    """The analysis of one module's source. Never raises: a failure is the result's JPL001 `failure`.
    `place` says how a message names a line (notebooks name the cell). Without `keep_tree` the result
    holds the diagnostics only (what `check` and flake8 need): see `_analyze`. `project`: whether state
    imported from the project's other modules is followed (analysis/linking.py); by default, when
    `filename` is a Python file on disk."""
    module_path = _module_path(filename) if project is not False else None
    try:
        # Paused from the start: CPython's tree of a large file, alive while the prefilter reads it,
        # would otherwise set off collections that traverse it (source/gc_pause.py).
        with collector_paused():
            return _analyze(source, settings or DEFAULT_SETTINGS, python_tree, place, keep_tree, module_path)
    except Exception as error:  # the last line of defence: a bug of ours must not take flake8 down
        text = source if isinstance(source, str) else ""
        try:
            return FileAnalysis(text, failure=failure_from(error, "analyse"))
        except Exception:  # even describing it failed
            return FileAnalysis(text, failure=analysis_failure(f"internal error {type(error).__name__}"))


def _module_path(filename: str) -> Optional[str]:
    """The file's absolute path if it is a module of a project on disk (not `<stdin>`, a notebook)."""
    if not filename.endswith(".py"):
        return None
    path = os.path.abspath(filename)
    return path if os.path.isfile(path) else None


def _analyze(
    source: Union[str, bytes],
    settings: Settings,
    python_tree: Optional[ast.AST],
    place: PlaceOfLine,
    keep_tree: bool,
    module_path: Optional[str] = None,
) -> FileAnalysis:
    if isinstance(source, bytes):
        try:
            source = decode_source(source)
        except UnicodeDecodeError as error:
            line = error.object[: error.start].count(b"\n") + 1
            reason = f"cannot decode it as {error.encoding}: {error.reason}"
            return FileAnalysis("", failure=analysis_failure(reason, line))
        except (SyntaxError, LookupError) as error:  # a bad coding cookie or an unknown codec
            return FileAnalysis("", failure=analysis_failure(f"cannot decode it: {describe_exception(error)}"))
    source = source[1:] if source.startswith("\ufeff") else source
    if not might_trace(source, settings):
        return FileAnalysis(source)
    problem = text_problem(source)
    if problem is not None:
        return FileAnalysis(source, failure=analysis_failure(problem.reason, problem.line))
    python = python_verdict(source, python_tree)
    if python.tree is not None and not names_a_transformation(python.tree, settings):
        return FileAnalysis(source)  # nothing in it can be a transformation: libcst's parse would be wasted
    if python.too_deep is not None:  # libcst would crash the process (SIGSEGV) or take minutes
        return FileAnalysis(source, failure=analysis_failure(python.too_deep.reason, python.too_deep.line))
    from .diagnosis import parse_and_diagnose  # here, not above: importing libcst costs 0.2 s

    analysis = parse_and_diagnose(source, settings, python, place, module_path)
    if not keep_tree:
        # A tree still alive when the collector resumes is traversed by it, generation after
        # generation: let it go here, while the collector is paused, unless the caller reads it.
        analysis = analysis.without_tree()
    return analysis


def failure_from(error: Exception, stage: str) -> Diagnostic:
    """JPL001 for an exception: resource limits are the file's doing, anything else is a bug of ours."""
    if raised_by(error, RecursionError):
        return analysis_failure(f"it is too deeply nested to {stage} (RecursionError)")
    if raised_by(error, MemoryError):
        return analysis_failure(f"it is too large to {stage} (MemoryError)")
    if stage == "parse":
        return analysis_failure(f"libcst cannot parse it: {describe_exception(error)}")
    return analysis_failure(f"internal error {describe_exception(error)}{_where(error)}")


def describe_exception(error: BaseException) -> str:
    """`Type: first line of the message`, short, and never failing itself: str() of an exception
    holding a CST node renders the whole tree, which can be huge or recurse without end."""
    name = type(error).__name__
    try:
        plain = all(isinstance(arg, (str, int, float)) for arg in error.args)
        text = first_line(str(error))[:200] if plain and error.args else ""
    except Exception:
        text = ""
    return f"{name}: {text}" if text else name


def _where(error: BaseException) -> str:
    """` at analysis/sites.py:247`: the innermost frame of ours, so a user's bug report points somewhere."""
    try:
        frames = traceback.extract_tb(error.__traceback__)
    except Exception:
        return ""
    package = str(Path(__file__).parent)
    ours = [frame for frame in frames if frame.filename.startswith(package)]
    if not ours:
        return ""
    relative = Path(ours[-1].filename).relative_to(package).as_posix()
    return f" at {relative}:{ours[-1].lineno}"


def analyze_path(path: Path, settings: Optional[Settings] = None) -> list[Diagnostic]:
    """Like analyze_source for a file; the bytes are decoded there, so a bad byte is reported at its line."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return [analysis_failure(f"cannot read it: {error}")]
    return analyze_source(data, str(path), settings)


def analysis_failure(reason: str, line: int = 1, col: int = 0) -> Diagnostic:
    return Diagnostic(
        code=ANALYSIS_FAILURE_CODE,
        line=max(1, line),
        col=max(0, col),
        message=f"could not analyse this file: {reason}",
        function="",
        state="",
        site=None,
    )


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "syntax error"
