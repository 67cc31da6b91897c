"""From a module's findings to its rewritten text, one verified rewrite at a time.

Each round analyses the current text (one parse and one analysis, which the view then wraps), takes
the first group of findings not tried yet, asks its rule's builder for a draft, applies it and checks
the result: it must compile, the group's findings must be gone, and no new finding may appear. A draft
that passes and has no problems is *safe*.

Phase one applies safe rewrites only (what `fix` writes). Phase two, for `--diff` and `--unsafe`,
continues on top of it with the other rewrites, each explained by a comment above it.
"""

from __future__ import annotations

from typing import Callable, Optional

import libcst as cst

from ..diagnostics import Diagnostic
from ..engine import FileAnalysis, LocatedFinding, PlaceOfLine, analyse_file, line_place
from ..rules import RULES_BY_CODE
from ..settings import Settings
from ..surfaces.noqa import suppressed
from .advice import build_advice
from .context import RewriteContext
from .model import Draft, Group, ModuleFix, Rewrite
from .view import ModuleView

MAX_ROUNDS = 50


class _Memo:
    """Each text is parsed and analysed once, though a round's check and the next round both need it."""

    def __init__(
        self, filename: str, imported_elsewhere: frozenset[str], settings, wanted, place: PlaceOfLine = line_place
    ) -> None:
        self.filename = filename
        self.place = place
        self.imported_elsewhere = imported_elsewhere
        self.settings = settings
        self.wanted = wanted
        self._analyses: dict[str, tuple[FileAnalysis, list[LocatedFinding]]] = {}
        self._views: dict[str, ModuleView] = {}
        self._drafts: dict[tuple, Draft] = {}

    def analysis(self, text: str) -> FileAnalysis:
        return self._analysed(text)[0]

    def findings(self, text: str) -> list[LocatedFinding]:
        """The findings to answer: all but those a `# noqa` silences or `wanted` leaves out."""
        return self._analysed(text)[1]

    def _analysed(self, text: str) -> tuple[FileAnalysis, list[LocatedFinding]]:
        if text not in self._analyses:
            if len(self._analyses) >= 4:  # the current text and a few drafts are all that is looked up again
                self._analyses.pop(next(iter(self._analyses)))
            file = analyse_file(text, self.filename, self.settings, place=self.place)
            lines = text.splitlines()
            self._analyses[text] = (file, [f for f in file.findings if self._answers(f.diagnostic, lines)])
        return self._analyses[text]

    def _answers(self, diagnostic: Diagnostic, lines: list[str]) -> bool:
        line = lines[diagnostic.line - 1] if 0 < diagnostic.line <= len(lines) else ""
        if suppressed(diagnostic.code, line):
            return False  # `# noqa: JPL100` -- the user chose to keep it
        return self.wanted(diagnostic) if self.wanted is not None else True

    def draft(self, text: str, view: ModuleView, group: Group) -> Draft:
        """A draft is built once per text and group: the second phase starts from the first one's text."""
        key = (text, group.key)
        if key not in self._drafts:
            self._drafts[key] = _draft(view, group, self.imported_elsewhere)
        return self._drafts[key]

    def view(self, text: str) -> ModuleView:
        if text not in self._views:
            if len(self._views) >= 3:
                self._views.pop(next(iter(self._views)))
            self._views[text] = ModuleView.of(self.analysis(text), self.settings, place=self.place)
        return self._views[text]


def fix_source(
    source: str,
    filename: str = "<unknown>",
    unsafe: bool = False,
    imported_elsewhere: frozenset[str] = frozenset(),
    settings: Optional[Settings] = None,
    wanted: Optional[Callable[[Diagnostic], bool]] = None,
    place: PlaceOfLine = line_place,
) -> ModuleFix:
    """The module with its safe rewrites applied (all of them, with explanations, when ``unsafe``).

    ``imported_elsewhere``: names other modules import from this one; a rewrite that changes how one
    of them is called is not safe, since those calls cannot be updated here. ``settings``: the analysis
    settings (extra jit functions). ``wanted``: which diagnoses to answer (default: all but those a
    `# noqa` comment silences). ``place``: how messages name a line (a notebook's joined cells name the cell).
    """
    records: dict[tuple, Rewrite] = {}
    memo = _Memo(filename, imported_elsewhere, settings, wanted, place)
    try:
        text = _rounds(source, memo, records, allow_unsafe=False)
        if unsafe:
            text = _rounds(text, memo, records, allow_unsafe=True)
    except cst.ParserSyntaxError as error:
        return ModuleFix(source, source, [], error=f"cannot parse: {str(error).splitlines()[0]}")
    return ModuleFix(source, text, list(records.values()))


def _rounds(text: str, memo: _Memo, records: dict, allow_unsafe: bool) -> str:
    tried: set[tuple] = set()
    for _ in range(MAX_ROUNDS):
        step = _one_round(text, memo, tried, records, allow_unsafe)
        if step is None:
            return text
        text = step
    return text


def _one_round(text: str, memo: _Memo, tried: set, records: dict, allow_unsafe: bool) -> Optional[str]:
    findings = memo.findings(text)
    if not findings or memo.analysis(text).failure is not None:
        return None
    view = memo.view(text)
    for group in groups(findings):
        if group.key in tried:
            continue
        tried.add(group.key)
        draft = memo.draft(text, view, group)
        if not draft.safe and not allow_unsafe:
            records.setdefault(group.key, _record(group, draft, applied=False))
            continue  # not applied in this phase: no need to build and check its text
        rewritten = _apply(view, draft, group, with_comment=allow_unsafe and not draft.safe)
        if rewritten is not None:
            _verify(rewritten, memo, group, findings, draft)
        record = _record(group, draft, applied=rewritten is not None and (draft.safe or allow_unsafe))
        if group.key not in records or record.applied:
            records[group.key] = record
        if record.applied:
            return rewritten
    return None


def _draft(view: ModuleView, group: Group, imported_elsewhere: frozenset[str]) -> Draft:
    builder = RULES_BY_CODE[group.first.code].fix_builder() or build_advice
    context = RewriteContext.for_view(view)
    try:
        draft = builder(context, group)
    except Exception as error:  # a bug in one builder must not stop the others: fall back to advice
        draft = build_advice(RewriteContext.for_view(view), group)
        draft.problems.insert(0, f"internal error while rewriting ({type(error).__name__}: {error})")
        return draft
    for name in sorted(public_handles(view, context.changed_functions()) & imported_elsewhere):
        draft.problems.append(f"`{name}` is imported by another module: its calls there would need the same change")
    return draft


def public_handles(view: ModuleView, functions) -> set[str]:
    """The module-level names through which other modules can reach these functions: a def, its class,
    a module-level variable holding it or its jit version."""
    names: set[str] = set()
    for function in functions:
        top = function
        for ancestor in view.ancestors(function):
            if isinstance(ancestor, cst.Module):
                break
            top = ancestor
        if isinstance(top, (cst.FunctionDef, cst.ClassDef)):
            names.add(top.name.value)
        elif isinstance(top, cst.SimpleStatementLine):
            for small in top.body:
                if isinstance(small, cst.Assign):
                    names.update(t.target.value for t in small.targets if isinstance(t.target, cst.Name))
    for statement in view.module.body:  # `fast = jax.jit(f)` at module level
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assign) and any(
                    isinstance(n, cst.Name) and n.value in names for n in _names_in(small.value)
                ):
                    names.update(t.target.value for t in small.targets if isinstance(t.target, cst.Name))
    return names


def _names_in(node):
    from .view import walk

    return walk(node)


def _apply(view: ModuleView, draft: Draft, group: Group, with_comment: bool) -> Optional[str]:
    if with_comment:
        nodes = view.nodes_of(group.first)
        anchor = draft.anchor or (view.statement_of(nodes[0]) if nodes else None)
        if anchor is not None:
            draft.edits.comment_above(anchor, explanation(group, draft))
    try:
        rewritten = draft.edits.apply(view.module).code
        compile(rewritten, "<rewrite>", "exec")
    except Exception as error:  # libcst can build code Python rejects (e.g. an argument order)
        draft.problems.append(f"the rewritten module does not compile: {type(error).__name__}: {error}")
        return None
    return rewritten


def _verify(rewritten: str, memo: _Memo, group: Group, before: list[LocatedFinding], draft: Draft) -> None:
    """The group's findings are gone and nothing new is reported."""
    after_file = memo.analysis(rewritten)
    if after_file.failure is not None:
        draft.problems.append("the rewritten module cannot be analysed")
        return
    after = memo.findings(rewritten)
    if not after:
        return
    old_keys = {finding.group for finding in before}
    new_keys = {finding.group for finding in after}
    if group.key in new_keys and not draft.advice_only:
        left = [finding for finding in after if finding.group == group.key]
        draft.problems.append(f"the linter still reports {left[0].code} at {memo.place(left[0].line)} after the rewrite")
    added = new_keys - old_keys
    if added:
        draft.problems.append(f"the rewrite introduces new findings: {sorted(k[0] for k in added)}")


def _record(group: Group, draft: Draft, applied: bool) -> Rewrite:
    first = group.first
    return Rewrite(
        codes=group.codes,
        line=first.line,
        function=first.function,
        state=first.state,
        summary=draft.summary,
        safe=draft.safe,
        applied=applied,
        problems=list(dict.fromkeys(draft.problems)),
        todo=list(dict.fromkeys(draft.todo)),
    )


def explanation(group: Group, draft: Draft) -> str:
    """The comment above a rewrite that `fix` does not apply by itself."""
    lines = [f"{'/'.join(group.codes)} (needs review): {draft.summary}."]
    lines.extend(f"- {problem}" for problem in dict.fromkeys(draft.problems))
    lines.extend(f"TODO: {item}" for item in draft.todo)
    return "\n".join(lines)


# -- grouping --------------------------------------------------------------------------------------------


def groups(findings: list[LocatedFinding]) -> list[Group]:
    """The findings by their rule's group key, in the order of their first finding."""
    grouped: dict[tuple, list[LocatedFinding]] = {}
    for finding in sorted(findings, key=LocatedFinding.sort_key):
        grouped.setdefault(finding.group, []).append(finding)
    return [Group(key, items) for key, items in grouped.items()]
