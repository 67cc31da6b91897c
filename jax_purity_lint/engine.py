"""From source text to diagnostics: prefilter, parse, analyse, run the rules, locate the findings."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .analysis import analyse_module, might_trace
from .diagnostics import Diagnostic, TraceSite
from .rules import ALL_RULES, ANALYSIS_FAILURE_CODE, Finding, RuleContext
from .rules.base import function_name
from .settings import DEFAULT_SETTINGS, Settings


def analyze_source(source: str, filename: str = "<unknown>", settings: Optional[Settings] = None) -> list[Diagnostic]:
    """All diagnostics for one module's source. Never raises: failures become one JPL001 diagnostic."""
    settings = settings or DEFAULT_SETTINGS
    if not might_trace(source, settings):
        return []
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        return [analysis_failure(f"libcst cannot parse it: {_first_line(str(error))}", error.raw_line, error.raw_column)]
    except (RecursionError, MemoryError) as error:
        return [analysis_failure(f"it is too deeply nested to parse ({type(error).__name__})")]
    try:
        return diagnose(module, settings)
    except RecursionError:
        return [analysis_failure("it is too deeply nested to analyse (RecursionError)")]
    except Exception as error:  # a bug of ours must not take flake8 down for the whole repository
        return [analysis_failure(f"internal error {type(error).__name__}: {error}")]


def analyze_path(path: Path, settings: Optional[Settings] = None) -> list[Diagnostic]:
    try:
        source = read_source(path)
    except (OSError, UnicodeDecodeError, SyntaxError) as error:
        return [analysis_failure(f"cannot read it: {error}")]
    return analyze_source(source, str(path), settings)


def read_source(path: Path) -> str:
    """Decode as Python does: a coding cookie or BOM, else UTF-8."""
    import tokenize

    with tokenize.open(path) as handle:
        return handle.read()


def diagnose(module: cst.Module, settings: Settings) -> list[Diagnostic]:
    analysis = analyse_module(module, settings)
    if not analysis.traced:
        return []
    context = RuleContext(analysis.resolver, analysis.state, analysis.traced)
    findings = [finding for rule in ALL_RULES for finding in rule().check(context)]
    if not findings:
        return []
    # Positions cost a second pass over the tree: only files with findings pay for it.
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return _locate(findings, positions)


def _locate(findings: Iterable[Finding], positions) -> list[Diagnostic]:
    def line_of(node: cst.CSTNode) -> int:
        return positions[node].start.line

    unique: dict[tuple[int, str], Diagnostic] = {}
    for finding in findings:
        start = positions[finding.node].start
        site_node = finding.context.site.node
        site = TraceSite(
            line=positions[site_node].start.line,
            col=positions[site_node].start.column,
            transform=finding.context.site.transform.qualified,
            function=function_name(finding.context.entry),
        )
        diagnostic = Diagnostic(
            code=finding.code,
            line=start.line,
            col=start.column,
            message=finding.render(line_of),
            function=function_name(finding.scope),
            state=finding.state,
            site=site,
            path=finding.context.path,
        )
        key = (diagnostic.line, diagnostic.code)
        if key not in unique or diagnostic.col < unique[key].col:
            unique[key] = diagnostic
    return sorted(unique.values(), key=Diagnostic.sort_key)


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


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "syntax error"
