"""The libcst stage of a file's analysis: parse, analyse the module, run the rules, locate the findings.

engine.py imports this only for a file its prefilter sends here, so that checking a file in which
nothing can trace (most files an editor saves) never pays for importing libcst, the analysis or the
rules."""

from __future__ import annotations

from typing import Iterable, Optional

import libcst as cst

from .analysis import ModuleAnalysis, analyse_module
from .analysis.linking import Linker
from .analysis.project_index import shared_index
from .analysis.summary import ModuleSummary, summarise, summarise_collected
from .diagnostics import Diagnostic, TraceSite
from .engine import FileAnalysis, LocatedFinding, PlaceOfLine, analysis_failure, failure_from, first_line, line_place
from .rules import RULES_BY_CODE, Finding, RuleContext
from .rules.base import function_name
from .settings import Settings
from .source.deep_stack import retry_deep, with_native_stack
from .source.parsing import ParsedModule, parse
from .source.preflight import PythonVerdict


def project_linker() -> Linker:
    """One per process: the project's summaries, read once, serve every file of a run."""
    if not _LINKERS:
        _LINKERS.append(Linker(shared_index()))
    return _LINKERS[0]


_LINKERS: list[Linker] = []


def _remember_summary(module_path: str, source: str, parsed: ParsedModule, analysis: ModuleAnalysis) -> None:
    """Other modules of the project may ask for this one's summary: made now from its analysis, it
    costs no second parse (analysis/project_index.py)."""
    shared_index().remember(module_path, source, lambda: summary_of_analysis(analysis))


def summary_of_analysis(analysis: ModuleAnalysis) -> ModuleSummary:
    """Without configured jit functions the analysis found the summary's sites already (a summary
    knows none: it is the same under every configuration), and they are not looked for again."""
    finder = analysis.finder
    applied = frozenset(finder.applied_calls)
    if finder.configured:
        return summarise_collected(analysis.resolver, analysis.scopes, analysis.loop_ends, applied)
    sites = [site for site in analysis.sites if not site.fresh_per_call]
    return summarise(analysis.resolver, analysis.scopes, analysis.loop_ends, sites, applied)


def parse_and_diagnose(
    source: str, settings: Settings, python: PythonVerdict, place: PlaceOfLine, module_path: Optional[str] = None
) -> FileAnalysis:
    try:
        parsed = retry_deep(lambda: with_native_stack(lambda: parse(source, python.tree)))
    except cst.ParserSyntaxError as error:
        return FileAnalysis(source, failure=syntax_failure(error, python.syntax_error))
    except Exception as error:
        return FileAnalysis(source, failure=failure_from(error, "parse"))
    try:
        asked: list[tuple[str, str, str]] = []
        analysis, findings = retry_deep(lambda: diagnose(parsed, settings, place, module_path, asked))
        if module_path is not None:
            _remember_summary(module_path, source, parsed, analysis)
    except Exception as error:
        return FileAnalysis(source, parsed, failure=failure_from(error, "analyse"))
    return FileAnalysis(source, parsed, analysis, tuple(findings), dependencies=tuple(sorted(set(asked))))


def syntax_failure(error: cst.ParserSyntaxError, python_error: Optional[SyntaxError]) -> Diagnostic:
    """Python's own message and position when it also rejects the file: libcst's tokenizer errors
    all say `@ 1:1`, while Python names the unclosed bracket or string and its line."""
    if python_error is not None and python_error.lineno:
        message = f"it is not valid Python: {python_error.msg}"
        return analysis_failure(message, python_error.lineno, (python_error.offset or 1) - 1)
    return analysis_failure(f"libcst cannot parse it: {first_line(str(error))}", error.raw_line, error.raw_column)


def diagnose(
    parsed: ParsedModule,
    settings: Settings,
    place: PlaceOfLine = line_place,
    module_path: Optional[str] = None,
    dependencies: Optional[list[tuple[str, str, str]]] = None,
) -> tuple[ModuleAnalysis, list[LocatedFinding]]:
    """`module_path`: the module's file, to follow state imported from its project's other modules.
    `dependencies` gets the questions asked of them (see FileAnalysis.dependencies)."""
    analysis = analyse_module(parsed.module, settings)
    if not analysis.traced:
        return analysis, []
    context = RuleContext(
        analysis.resolver,
        analysis.state,
        analysis.traced,
        analysis.hijax,
        analysis.lives,
        linker=project_linker() if module_path is not None else None,
        module_path=module_path,
    )
    with shared_index().recording() as asked:
        findings = [
            finding
            for rule in RULES_BY_CODE.values()
            for finding in rule().check(context)
            if not context.never_runs(finding.context, finding.scope)
            and (rule.NEEDS_REUSE is None or context.cache_reused(finding.context, runs=rule.NEEDS_REUSE == "run"))
        ]
    if dependencies is not None:
        dependencies.extend(asked)
    if not findings:
        return analysis, []
    # Positions cost a second pass over the tree: only files with findings pay for it.
    return analysis, _locate(findings, parsed.positions(), place)


def _locate(findings: Iterable[Finding], positions, place: PlaceOfLine) -> list[LocatedFinding]:
    def place_of(node: cst.CSTNode) -> str:
        return place(positions[node].start.line)

    unique: dict[tuple[int, str], LocatedFinding] = {}
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
            message=finding.render(place_of),
            function=function_name(finding.scope),
            state=finding.state,
            site=site,
            path=finding.context.path,
            related=finding.related,
        )
        located = LocatedFinding(finding, diagnostic, RULES_BY_CODE[finding.code].group_key(finding))
        key = (diagnostic.line, diagnostic.code)
        if key not in unique or diagnostic.col < unique[key].col:
            unique[key] = located
    return sorted(unique.values(), key=LocatedFinding.sort_key)
