"""What every rule shares: the analysis it reads, the finding it returns, and the phrases of its message."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator, Optional, TypeVar

import libcst as cst

from ..analysis import jax_api
from ..analysis.cache_life import CacheLives, Reach
from ..analysis.equal_values import EqualValues
from ..analysis.linking import HelperEffect, Linker, RemoteChange
from ..analysis.summary import import_sources
from ..analysis.reachability import TraceContext
from ..analysis.resolution import Resolved, Resolver
from ..analysis.scopes import Effect, EffectKind, Scope, ScopeKind
from ..analysis.state import Change, StateModel

if TYPE_CHECKING:  # the rewrites import the rules, never the other way round at import time
    from ..rewrites.context import RewriteContext
    from ..rewrites.model import Draft, Group

# Where a node is, as a message says it: "line 9" in a module, "cell 3, line 2" in a notebook.
PlaceOf = Callable[[cst.CSTNode], str]
T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    code: str
    node: cst.CSTNode
    scope: Scope  # the traced scope the finding is in
    context: TraceContext
    state: str  # the state touched, as the user writes it: `g`, `self.n`, `print`
    render: Callable[[PlaceOf], str]  # the message, once places are known
    # Which case of its rule this is, for the rewrites: JPL103 "reads"/"writes"/"mutates", JPL401 "clock"/"draw".
    variant: str = ""
    related: tuple[tuple[str, int, str], ...] = ()  # places in other files: see Diagnostic.related


class FixAvailability(str, Enum):
    """As ruff's: whether `fix` can rewrite a finding of this rule."""

    NEVER = "never"  # advice only: a comment saying what to do
    SOMETIMES = "sometimes"  # when the code has the shape the rewrite knows
    ALWAYS = "always"


class GroupBy(str, Enum):
    """Which findings of a rule one rewrite answers together."""

    TRACE = "trace"  # those of one traced function under one site
    STATE = "state"  # every access to one piece of state (a global: its reads in every function)
    CLASS_STATE = "class state"  # one attribute of one class
    OBJECT = "object"  # all the state of one class: JPL200 and JPL201 move out of the object together


class Evidence(str, Enum):
    """What `confirm` looks at first to show a finding: the program's state and results, or its output."""

    STATE = "state"
    OUTPUT = "output"


@dataclass
class RuleContext:
    resolver: Resolver
    state: StateModel
    traced: dict[Scope, TraceContext]
    hijax: bool = False  # item updates of nnx Variables are ref updates in this module
    lives: Optional[CacheLives] = None  # when a change can still reach a compiled cache
    # The project's other modules, for state imported from them (None: this module alone).
    linker: Optional[Linker] = None
    module_path: Optional[str] = None  # the absolute path of this module's file
    # Per traced scope: the (if statement, arm) pairs that run only outside traces, found once.
    _outside_traces: dict[int, set[tuple[int, int]]] = field(default_factory=dict, repr=False)
    _helper_effects: dict[int, list[HelperEffect]] = field(default_factory=dict, repr=False)
    _imports: Optional[dict] = field(default=None, repr=False)  # summary.import_sources of the module
    _found_once: dict[str, object] = field(default_factory=dict, repr=False)
    _equal_values: Optional[EqualValues] = field(default=None, repr=False)

    def once(self, key: str, find: Callable[[], T]) -> T:
        """What `find` returns, computed once per module for the rules that share it (JPL104 with JPL100 and JPL103)."""
        if key not in self._found_once:
            self._found_once[key] = find()
        return self._found_once[key]  # type: ignore[return-value]

    @property
    def equal_values(self) -> EqualValues:
        """Which rebindings re-run the code that made the value (analysis/equal_values.py)."""
        if self._equal_values is None:
            self._equal_values = EqualValues(self.resolver, self.state)
        return self._equal_values

    def helper_effects(self, call: cst.Call) -> list[HelperEffect]:
        """What a call of a function imported from another project module does while traced (its
        prints, its reads of state that changes late), followed into the functions it calls."""
        known = self._helper_effects.get(id(call))
        if known is not None:
            return known
        source = self._imported_source(call.func)
        effects: list[HelperEffect] = []
        if source is not None:
            _, imported, path = source
            assert self.linker is not None and self.module_path is not None
            effects = self.linker.helper_effects(self.module_path, imported, path)
        self._helper_effects[id(call)] = effects
        return effects

    def _imported_source(self, func: cst.BaseExpression):
        """(name, where it was imported from, attributes after it) for `utils.log(...)`, `log(...)`."""
        path: list[str] = []
        while isinstance(func, cst.Attribute):
            path.append(func.attr.value)
            func = func.value
        if not isinstance(func, cst.Name):
            return None
        imported = self._import_source(func.value)
        return None if imported is None else (func.value, imported, tuple(reversed(path)))

    def _import_source(self, name: str):
        """Where module-level `name` was imported from, when the project's other modules are followed."""
        if self.linker is None or self.module_path is None:
            return None
        if self._imports is None:
            self._imports = import_sources(self.resolver.module)
        return self._imports.get(name)

    def remote_changes(self, name: str, path: tuple[str, ...]) -> tuple[list[RemoteChange], int]:
        """Changes, made anywhere in the project, of what module-level `name.path...` reaches when
        `name` is bound by an import of a project module (analysis/linking.py), and how many
        attributes of `path` lead to that state; no changes otherwise."""
        source = self._import_source(name)
        if source is None:
            return [], 0
        assert self.linker is not None and self.module_path is not None
        return self.linker.changes_reaching(self.module_path, source, path)

    def runs_only_outside_traces(self, scope: Scope, effect: Effect) -> bool:
        """`if not _is_under_jax_transform(): ...`: the effect never runs while tracing."""
        if not effect.branch:
            return False
        arms = self._outside_traces.get(id(scope))
        if arms is None:
            arms = self._outside_traces[id(scope)] = _arms_run_only_outside_traces(scope)
        return any(arm in arms for arm in effect.branch)

    def cache_owner(self, trace: TraceContext) -> Scope:
        """The function whose compiled cache `trace` lives in: a function made afresh by a traced
        function is traced anew with it, so its cache is the outer one."""
        *_, outermost = self._enclosing_entries(trace)
        return outermost

    def never_runs(self, trace: TraceContext, scope: Scope) -> bool:
        """The traced function (a finding in its own body) is dropped before anything can call it."""
        if self.lives is None or not trace.is_entry or scope is not trace.entry:
            return False
        return self.lives.never_runs(self.cache_owner(trace))

    def cache_reused(self, trace: TraceContext, runs: bool = False) -> bool:
        """Can one trace serve a second call (or, with `runs`, a second run of the body: a loop
        primitive runs its body many times per trace)? A cache serves many calls unless each function
        object is called once and dropped."""
        if runs and trace.site.transform.qualified in jax_api.LOOP_BODIES:
            return True
        if self._retraced_every_call(trace):
            return False
        if self.lives is None:
            return True
        return self.lives.reused(self.cache_owner(trace))

    def _retraced_every_call(self, trace: TraceContext) -> bool:
        """`lax.map(body, xs)` outside any trace: each call traces `body` again, so no later call
        reuses a trace (inside a jitted function, the outer trace is the cache)."""
        site = trace.site
        return site.transform.qualified in jax_api.RETRACED_EVERY_CALL and site.scope not in self.traced

    def change_reaches(self, trace: TraceContext, change: Change, reader: Optional[Scope] = None) -> bool:
        """Can `change` reach the cache of the function `trace` enters, after that cache was traced?
        Yes unless the order of execution shows it cannot. `reader` is the scope that reads the state."""
        return self.reach(trace, change, reader) is not Reach.NOT_SEEN

    def reach(self, trace: TraceContext, change: Change, reader: Optional[Scope] = None) -> Reach:
        """Asked of the traced function itself, then (when its maker does not run the change) of each
        traced function it is made in: a loop body made inside a jitted step is reused within one run
        of the step (its order decides), and the step's own cache is reused across calls."""
        if self._retraced_every_call(trace):
            return Reach.NOT_SEEN
        if self.lives is None:
            return Reach.UNKNOWN
        for entry in self._enclosing_entries(trace):
            helper = reader if reader is not None and reader.parent is entry.parent else None
            reach = self.lives.change_reaches(entry, change, helper)
            if reach is not Reach.UNKNOWN:
                return reach
        return Reach.UNKNOWN

    def _enclosing_entries(self, trace: TraceContext) -> Iterator[Scope]:
        """The traced function, then the entries of the traces it is made in, outwards."""
        entry = trace.entry
        seen = {id(entry)}
        yield entry
        while entry.parent is not None and entry.parent in self.traced:
            outer = self.traced[entry.parent].entry
            if id(outer) in seen:
                return
            seen.add(id(outer))
            entry = outer
            yield entry


class Rule:
    """Base class: a rule's docstring is its documentation (What it does / Why is this bad? /
    Example / Use instead / Fix safety), and VALID/INVALID are examples checked by the tests."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    # What `jax-purity-lint confirm` shows for the finding, eager against jitted; its docs page says it.
    CONFIRM_EVIDENCE: ClassVar[str] = ""
    # Whether the finding holds only if one trace is reused: "call" where a later call must go through
    # the same compiled cache (a stale read), "run" where a second run of the traced body is enough (a
    # constant draw repeats in every loop iteration), None where the first call already differs (a
    # tracer printed, leaked or lost).
    NEEDS_REUSE: ClassVar[Optional[str]] = None
    # Off unless selected by its code (codes.OPT_IN_CODES); the page says why.
    OPT_IN: ClassVar[bool] = False
    # What `fix` can do (ruff's fix availability and title), and what to do by hand where it cannot:
    # the comment `fix --diff` writes above a finding no rewrite answers.
    FIX: ClassVar[FixAvailability] = FixAvailability.NEVER
    FIX_TITLE: ClassVar[str] = ""
    FIX_BUILDER: ClassVar[str] = ""  # `module.function` in jax_purity_lint/rewrites: what builds the rewrite
    GROUP_BY: ClassVar[GroupBy] = GroupBy.TRACE
    ADVICE: ClassVar[str] = "make the state explicit: pass it in and return its new value"
    # The channel `confirm` prefers as evidence for this rule's findings.
    EVIDENCE: ClassVar[Evidence] = Evidence.STATE
    VALID: ClassVar[list[str]] = []
    INVALID: ClassVar[list[str]] = []
    # (source, what `fix` rewrites it to), beside the rule as Fixit keeps its expected fixes.
    FIX_EXAMPLES: ClassVar[list[tuple[str, str]]] = []

    def check(self, context: RuleContext) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(
        self,
        node: cst.CSTNode,
        scope: Scope,
        trace: TraceContext,
        state: str,
        render: Callable[[PlaceOf], str],
        variant: str = "",
        related: tuple[tuple[str, int, str], ...] = (),
    ) -> Finding:
        return Finding(self.code, node, scope, trace, state, render, variant, related)

    @classmethod
    def group_key(cls, finding: Finding) -> tuple:
        """Which findings one rewrite answers together (GROUP_BY)."""
        if cls.GROUP_BY is GroupBy.STATE:
            return (cls.code, finding.state)
        if cls.GROUP_BY is GroupBy.CLASS_STATE:
            return (cls.code, method_owner(finding.scope), finding.state)
        if cls.GROUP_BY is GroupBy.OBJECT:
            return ("self-state", method_owner(finding.scope) or function_name(finding.scope))
        return (cls.code, function_name(finding.scope), function_name(finding.context.entry))

    @classmethod
    def fix_builder(cls) -> Optional[Callable[["RewriteContext", "Group"], "Draft"]]:
        """The rewrite for a group of this rule's findings (FIX_BUILDER, imported only when `fix`
        runs); None: advice only."""
        if not cls.FIX_BUILDER:
            return None
        module, _, function = cls.FIX_BUILDER.rpartition(".")
        return getattr(importlib.import_module(f"{__package__.rpartition('.')[0]}.rewrites.{module}"), function)


# -- shared queries -------------------------------------------------------------------------------


def traced_effects(context: RuleContext, *kinds: EffectKind) -> Iterator[tuple[Scope, TraceContext, Effect]]:
    for scope, trace in context.traced.items():
        for effect in scope.effects:
            if effect.kind in kinds and not context.runs_only_outside_traces(scope, effect):
                yield scope, trace, effect


# `_is_under_jax_transform()`, `is_tracing()`, `in_jit()`: true exactly while JAX traces.
_TRACING_TEST = re.compile(r"(under_.*(transform|trac|jit))|(^_*(is_)?tracing$)|(^_*in_jit$)")


def _arms_run_only_outside_traces(scope: Scope) -> set[tuple[int, int]]:
    """(if statement, arm) pairs that run only when not tracing: the body of `if not is_tracing():`,
    the `else:` of `if is_tracing():`, the body of `if jax.core.trace_state_clean():`."""
    arms: set[tuple[int, int]] = set()
    for statement in if_statements(scope.node):
        test, negated = statement.test, False
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test, negated = test.expression, True
        if not isinstance(test, cst.Call):
            continue
        func = test.func
        name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        if name == "trace_state_clean":
            arms.add((id(statement), 1 if negated else 0))
        elif _TRACING_TEST.search(name):
            arms.add((id(statement), 0 if negated else 1))
    return arms


def if_statements(node: cst.CSTNode) -> Iterator[cst.If]:
    """The `if` statements of a function body, nested ones and `elif`s included, not those of inner
    functions or classes."""
    body = node.body if isinstance(node, (cst.FunctionDef, cst.Module)) else node
    for child in (body.children if isinstance(body, cst.CSTNode) else body):
        if isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(child, cst.If):
            yield child
        if isinstance(child, (cst.BaseSuite, cst.BaseCompoundStatement, cst.Else)):
            yield from if_statements(child)


def owner_is_traced(context: RuleContext, resolved: Resolved, trace: TraceContext) -> bool:
    """A closure variable of a function that is itself being traced lives only inside the trace."""
    owner_trace = context.traced.get(resolved.scope)
    return owner_trace is not None and owner_trace.site is trace.site


def self_method(context: RuleContext, scope: Scope, effect: Effect) -> Optional[Scope]:
    if effect.root is None:
        return None
    return context.resolver.self_method(scope, effect.root)


# -- message phrases ------------------------------------------------------------------------------


def function_name(scope: Scope) -> str:
    if scope.kind is ScopeKind.LAMBDA:
        return "lambda"
    if scope.kind is ScopeKind.COMPREHENSION:
        parent = scope.parent
        while parent is not None and parent.kind is ScopeKind.COMPREHENSION:
            parent = parent.parent
        return function_name(parent) if parent is not None else "comprehension"
    return scope.name


def where_traced(scope: Scope, trace: TraceContext, place_of: PlaceOf) -> str:
    """"`f` (traced by `jax.jit` at line 9)" or "`helper`, reached from `f` (traced by ...) via `helper()`"."""
    site = f"traced by {trace.site.transform.spelled} at {place_of(trace.site.node)}"
    entry = function_name(trace.entry)
    if trace.is_entry or function_name(scope) == entry and not trace.path:
        return f"`{entry}` ({site})"
    via = " via " + " -> ".join(f"`{step}`" for step in trace.path)
    return f"`{function_name(scope)}`, reached from `{entry}` ({site}){via},"


def run_unit(trace: TraceContext) -> str:
    """What a trace serves many of, so that a trace-time effect is not repeated: "call", or, in the body
    of a loop primitive (run once per trace, where the eager loop runs it at every iteration), "iteration"."""
    return "iteration" if trace.site.transform.qualified in jax_api.LOOP_BODIES else "call"


def first_remote_change(changes: list[RemoteChange], relative_to: str) -> str:
    """"main.py, line 9 (attribute `LR` assigned)": the first change, in the first file."""
    import os

    change = changes[0]
    where = os.path.relpath(change.path, relative_to)
    inside = f", in `{change.function}`" if change.function else ""
    more = f"; {len(changes) - 1} more place(s)" if len(changes) > 1 else ""
    return f"{where}, line {change.line}{inside} ({change.how}){more}"


def calls_of_helpers_elsewhere(context: "RuleContext", kind: str):
    """(scope, trace, call effect, callee as written, effects) for each call in traced code of a
    project function of another module whose effects of `kind` ("print", "read") happen while tracing."""
    for scope, trace, effect in traced_effects(context, EffectKind.CALL):
        if effect.call is None:
            continue
        effects = [e for e in context.helper_effects(effect.call) if e.kind == kind]
        if effects:
            yield scope, trace, effect, callee_text(effect.call.func), effects


def through(helper: str, called: str) -> str:
    """" (through `log_metrics`)" when the effect is in a function the called one calls."""
    return "" if helper == called.rsplit(".", 1)[-1] else f" (through `{helper}`)"


def callee_text(func: cst.BaseExpression) -> str:
    """`utils.log_metrics` for the callee of `utils.log_metrics(x)`."""
    parts = []
    while isinstance(func, cst.Attribute):
        parts.append(func.attr.value)
        func = func.value
    if isinstance(func, cst.Name):
        parts.append(func.value)
    return ".".join(reversed(parts))


def remote_place(path: str, line: int, relative_to: str) -> str:
    """"utils.py, line 12": a place in another file, relative to the reporting file's folder."""
    import os

    return f"{os.path.relpath(path, relative_to)}, line {line}"


def first_change(changes: list[Change], place_of: PlaceOf) -> str:
    change = min(changes, key=lambda c: c.order)
    return f"{change.how} at {place_of(change.node)}"


def method_owner(scope: Scope) -> str:
    """The class whose method `scope` is (comprehensions inside the method count as the method); ""."""
    while scope.kind is ScopeKind.COMPREHENSION and scope.parent is not None:
        scope = scope.parent
    owner = scope.enclosing_class
    return owner.name if owner is not None else ""


def call_with_extra_argument(trace: TraceContext, extra: str) -> str:
    params = [p for p in trace.entry.params if p not in ("self", "cls")]
    return f"`{function_name(trace.entry)}({', '.join([*params, extra])})`"


def dotted(root: str, path: tuple[str, ...]) -> str:
    return ".".join((root, *path))
