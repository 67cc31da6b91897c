"""From a module's diagnostics to its rewritten text, one verified rewrite at a time.

Each round analyses the current text, takes the first group of diagnostics not tried yet, asks its
builder for a draft, applies it and checks the result: it must compile, the group's diagnostics must
be gone, and no new diagnostic may appear. A draft that passes and has no problems is *safe*.

Phase one applies safe rewrites only (what `fix` writes). Phase two, for `--diff` and `--unsafe`,
continues on top of it with the other rewrites, each explained by a comment above it.
"""

from __future__ import annotations

from typing import Callable, Optional

import libcst as cst

from ..diagnostics import Diagnostic
from ..engine import analyze_source
from ..rules import ANALYSIS_FAILURE_CODE
from ..settings import Settings
from ..surfaces.noqa import suppressed
from .advice import build_advice
from .context import RewriteContext
from .debug_print import build_debug_print
from .global_read import build_closure_read, build_global_read
from .model import Draft, Group, ModuleFix, Rewrite
from .prng_key import build_host_randomness
from .self_read import build_stale_self_read
from .self_state import build_self_state
from .state_return import build_argument_return, build_closure_write, build_global_write
from .view import ModuleView

Builder = Callable[[RewriteContext, Group], Draft]
MAX_ROUNDS = 50


class _Memo:
    """Each text is parsed and analysed once, though a round's check and the next round both need it."""

    def __init__(self, filename: str, imported_elsewhere: frozenset[str], settings, wanted) -> None:
        self.filename = filename
        self.imported_elsewhere = imported_elsewhere
        self.settings = settings
        self.wanted = wanted
        self._diagnostics: dict[str, list[Diagnostic]] = {}
        self._views: dict[str, ModuleView] = {}
        self._drafts: dict[tuple, Draft] = {}

    def diagnostics(self, text: str) -> list[Diagnostic]:
        if text not in self._diagnostics:
            found = analyze_source(text, self.filename, self.settings)
            lines = text.splitlines()
            self._diagnostics[text] = [d for d in found if self._answers(d, lines)]
        return self._diagnostics[text]

    def _answers(self, diagnostic: Diagnostic, lines: list[str]) -> bool:
        if diagnostic.code == ANALYSIS_FAILURE_CODE:
            return True
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
            if len(self._views) >= 3:  # the current text and a few drafts are all that is looked up again
                self._views.pop(next(iter(self._views)))
            self._views[text] = ModuleView(text, self.settings)
        return self._views[text]


def fix_source(
    source: str,
    filename: str = "<unknown>",
    unsafe: bool = False,
    imported_elsewhere: frozenset[str] = frozenset(),
    settings: Optional[Settings] = None,
    wanted: Optional[Callable[[Diagnostic], bool]] = None,
) -> ModuleFix:
    """The module with its safe rewrites applied (all of them, with explanations, when ``unsafe``).

    ``imported_elsewhere``: names other modules import from this one; a rewrite that changes how one
    of them is called is not safe, since those calls cannot be updated here. ``settings``: the analysis
    settings (extra jit functions). ``wanted``: which diagnoses to answer (default: all but those a
    `# noqa` comment silences).
    """
    records: dict[tuple, Rewrite] = {}
    memo = _Memo(filename, imported_elsewhere, settings, wanted)
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
    diagnostics = memo.diagnostics(text)
    if not diagnostics or any(d.code == ANALYSIS_FAILURE_CODE for d in diagnostics):
        return None
    view = memo.view(text)
    for group in groups(view, diagnostics):
        if group.key in tried:
            continue
        tried.add(group.key)
        draft = memo.draft(text, view, group)
        if not draft.safe and not allow_unsafe:
            records.setdefault(group.key, _record(group, draft, applied=False))
            continue  # not applied in this phase: no need to build and check its text
        rewritten = _apply(view, draft, group, with_comment=allow_unsafe and not draft.safe)
        if rewritten is not None:
            _verify(rewritten, memo, view, group, diagnostics, draft)
        record = _record(group, draft, applied=rewritten is not None and (draft.safe or allow_unsafe))
        if group.key not in records or record.applied:
            records[group.key] = record
        if record.applied:
            return rewritten
    return None


def _draft(view: ModuleView, group: Group, imported_elsewhere: frozenset[str]) -> Draft:
    builder = BUILDERS.get(group.key[0], build_advice)
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
        nodes = view.nodes_at(group.first.line, group.first.col)
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


def _verify(
    rewritten: str, memo: _Memo, view: ModuleView, group: Group, before: list[Diagnostic], draft: Draft
) -> None:
    """The group's diagnostics are gone and nothing new is reported."""
    after = memo.diagnostics(rewritten)
    if any(d.code == ANALYSIS_FAILURE_CODE for d in after):
        draft.problems.append("the rewritten module cannot be analysed")
        return
    if not after:
        return
    try:
        new_view = memo.view(rewritten)
    except cst.ParserSyntaxError:
        draft.problems.append("the rewritten module does not parse")
        return
    old_keys = {group_key(view, d) for d in before}
    new_keys = {group_key(new_view, d) for d in after}
    if group.key in new_keys and not draft.advice_only:
        left = [d for d in after if group_key(new_view, d) == group.key]
        draft.problems.append(f"the linter still reports {left[0].code} at line {left[0].line} after the rewrite")
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


def group_key(view: ModuleView, diagnostic: Diagnostic) -> tuple:
    code = diagnostic.code
    if code in ("JPL200", "JPL201"):
        function = view.function_of(diagnostic)
        owner = view.enclosing_class(function) if function is not None else None
        return ("self-state", owner.name.value if owner is not None else diagnostic.function)
    if code == "JPL202":
        function = view.function_of(diagnostic)
        owner = view.enclosing_class(function) if function is not None else None
        return (code, owner.name.value if owner is not None else "", diagnostic.state)
    if code == "JPL103":
        return (code, diagnostic.state, _closure_access(view, diagnostic))
    if code in ("JPL100", "JPL101", "JPL102", "JPL402"):
        return (code, diagnostic.state)
    return (code, diagnostic.function, diagnostic.site.function if diagnostic.site else "")


def groups(view: ModuleView, diagnostics: list[Diagnostic]) -> list[Group]:
    grouped: dict[tuple, list[Diagnostic]] = {}
    for diagnostic in sorted(diagnostics, key=Diagnostic.sort_key):
        grouped.setdefault(group_key(view, diagnostic), []).append(diagnostic)
    return [Group(key, items) for key, items in grouped.items()]


def _closure_access(view: ModuleView, diagnostic: Diagnostic) -> str:
    """"write" for `nonlocal` updates and in-place changes of a closure variable, else "read"."""
    name = view.node_at(diagnostic.line, diagnostic.col, cst.Name)
    if name is None:
        return "read"
    if view.is_store(name):
        return "write"
    parent = view.parent(name)
    if isinstance(parent, cst.Attribute) and isinstance(view.parent(parent), cst.Call):
        return "write"  # `losses.append(...)`
    if isinstance(parent, cst.Subscript) and view.is_store(parent):
        return "write"
    return "read"


def _closure_builder(context: RewriteContext, group: Group) -> Draft:
    if group.key[2] == "write":
        return build_closure_write(context, group)
    return build_closure_read(context, group)


BUILDERS: dict[str, Builder] = {
    "JPL100": build_global_read,
    "JPL101": build_global_write,
    "JPL102": build_global_write,
    "JPL103": _closure_builder,
    "self-state": build_self_state,
    "JPL202": build_stale_self_read,
    "JPL300": build_argument_return,
    "JPL400": build_debug_print,
    "JPL401": build_host_randomness,
}
