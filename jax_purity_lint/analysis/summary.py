"""What other modules need to know of one module, computed from that module alone: the summary the
project-wide analysis links (linking.py).

A summary holds facts, not conclusions (and no line numbers: positions cost a pass over the tree,
so a fact keeps its order in the module and its line is found when a finding names it): where each module-level name (its own globals, and the
modules and objects it imports) changes, in which function and in what order, and which calls of
the project's code each function makes. Whether a change can reach a compiled trace elsewhere is
decided when the summaries are linked, because only then is it known which calls run code that
traces. Summaries are plain data (JSON), so that they can be cached on disk by content hash.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator, Mapping, Optional

import libcst as cst

from . import jax_api
from .collector import attribute_chain, collect
from .resolution import Resolver
from .scopes import BindingKind, EffectKind, Scope, ScopeKind, release_scopes
from .sites import SiteFinder, TraceSite
from .state import Change, StateModel

SUMMARY_FORMAT = 4  # bump when the fields change: cached summaries of another format are not read

ImportSource = tuple[int, str, Optional[str]]  # (relative level, module, name): see Binding.imported


@dataclass(frozen=True)
class ChangeFact:
    """A module-level name changes: an own global rebound or changed in place, or something imported
    changed through it (`config.LR = 0.1`, `REGISTRY.append(f)` after `from .registry import REGISTRY`)."""

    name: str
    attribute: Optional[str]  # the first attribute after the name: `config.LR = ...` -> "LR"
    how: str  # "rebound", "changed by `.append()`", "attribute `LR` assigned"
    function: Optional[str]  # the function making the change (its qualified name); None: module code
    order: int  # position in the module, to compare with the calls of the same function
    in_loop: bool
    rebinds: bool  # the name itself is bound to a new value (not changed in place, nor an attribute of it)
    loop_end: Optional[int] = None  # for module code in a loop: the order of the loop's last node


@dataclass(frozen=True)
class CallFact:
    """A call whose callee starts with a module-level name that is imported or defined here."""

    name: str
    path: tuple[str, ...]  # the attributes after the name: `model.softmax(x)` -> ("softmax",)
    function: Optional[str]
    order: int
    in_loop: bool


@dataclass(frozen=True)
class HelperFact:
    """What a module-level function does when called, that traced code calling it from another module
    would do while tracing: print (or log), or read a module-level name of its module."""

    kind: str  # "print" or "read"
    what: str  # the printing function (`print`, `logging.info`), or the name read
    attribute: Optional[str]  # for reads: the first attribute after the name (`config.LR` -> "LR")
    order: int  # position in the module: its line is found only if a finding names it (project_index.line_at)


@dataclass(frozen=True)
class ModuleSummary:
    imports: Mapping[str, ImportSource]  # module-level names bound by imports only, and from where
    definitions: frozenset[str]  # module-level functions and classes
    changes: tuple[ChangeFact, ...]
    calls: tuple[CallFact, ...]
    # Module-level names whose code traces (a jitted function, a function holding a trace site), and
    # where module code or a function reaches a trace site itself: (function or None, order).
    tracing: frozenset[str] = frozenset()
    site_orders: tuple[tuple[Optional[str], int], ...] = ()
    helpers: Mapping[str, tuple[HelperFact, ...]] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "format": SUMMARY_FORMAT,
            "imports": {name: list(source) for name, source in self.imports.items()},
            "definitions": sorted(self.definitions),
            "changes": [dataclasses.astuple(change) for change in self.changes],
            "calls": [[c.name, list(c.path), c.function, c.order, c.in_loop] for c in self.calls],
            "tracing": sorted(self.tracing),
            "site_orders": [list(site) for site in self.site_orders],
            "helpers": {name: [dataclasses.astuple(f) for f in facts] for name, facts in self.helpers.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> "ModuleSummary":
        """Raises KeyError/TypeError/ValueError/AttributeError for data of another shape (a stale or
        broken entry)."""
        if data["format"] != SUMMARY_FORMAT:
            raise ValueError("another summary format")
        return cls(
            imports={name: (int(s[0]), str(s[1]), s[2]) for name, s in data["imports"].items()},
            definitions=frozenset(data["definitions"]),
            changes=tuple(ChangeFact(*fields) for fields in data["changes"]),
            calls=tuple(CallFact(c[0], tuple(c[1]), c[2], c[3], c[4]) for c in data["calls"]),
            tracing=frozenset(data["tracing"]),
            site_orders=tuple((function, int(order)) for function, order in data["site_orders"]),
            helpers={name: tuple(HelperFact(*f) for f in facts) for name, facts in data["helpers"].items()},
        )


def summarise_module(module: cst.Module) -> ModuleSummary:
    """The summary of a parsed module."""
    collected = collect(module)
    summary = summarise_collected(Resolver(collected), collected.all_scopes, collected.loop_ends, frozenset(collected.applied_calls))
    release_scopes(collected.all_scopes)  # the summary holds no scope: its tree can go at once
    return summary


def summarise_collected(
    resolver: Resolver,
    scopes: list[Scope],
    loop_ends: dict[int, int],
    applied_calls: frozenset[int],
) -> ModuleSummary:
    """The summary from a module's collected scopes (the analysis of the module itself has them: its
    summary costs no second parse). Sites are found with no configured jit functions, so a summary
    is the same whichever configuration the module was analysed under."""
    # A loop body made per call is traced anew by every call: no cache another module's change could reach.
    found = SiteFinder(resolver, frozenset(), frozenset(), applied_calls).find(scopes)
    sites = [s for s in found if not s.fresh_per_call]
    return summarise(resolver, scopes, loop_ends, sites, applied_calls)


def summarise(
    resolver: Resolver,
    scopes: list[Scope],
    loop_ends: dict[int, int],
    sites: list[TraceSite],
    applied_calls: frozenset[int],
) -> ModuleSummary:
    module = resolver.module
    imports = import_sources(module)
    definitions = frozenset(
        name
        for name, bindings in module.bindings.items()
        if bindings and all(b.kind in (BindingKind.FUNCTION, BindingKind.CLASS) for b in bindings)
    )
    # Every change, at module level too: which of them are set-up is decided when linking.
    state = StateModel(resolver, scopes, first_site_order=0, loop_ends=loop_ends)
    changes = []
    for name, name_changes in sorted(state.global_changes.items()):
        for change in name_changes:
            if name in imports and change.attribute is None and change.rebinds:
                continue  # `config = other_config`: this module's name, not the imported module
            changes.append(_change_fact(name, change))
    return ModuleSummary(
        imports=imports,
        definitions=definitions,
        changes=tuple(changes),
        calls=tuple(_calls(resolver, scopes, imports.keys() | definitions)),
        tracing=frozenset(_tracing_names(sites)),
        helpers=_helpers(resolver, module, definitions),
        site_orders=tuple(
            sorted({(qualified_name(s.scope), s.order) for s in sites if _traces_at_once(s, applied_calls)}, key=_site_key)
        ),
    )


def _helpers(resolver: Resolver, module: Scope, definitions: frozenset[str]) -> dict[str, tuple[HelperFact, ...]]:
    """For each module-level function: the prints and the reads of module-level names of its own body
    (comprehensions included; a nested def runs only if called, and is left out). A print under an
    `if` is left out: it may be switched off (`if verbose:`) for the calls traced code makes."""
    found: dict[str, tuple[HelperFact, ...]] = {}
    for scope in module.children:
        if scope.kind is not ScopeKind.FUNCTION:
            continue
        facts: dict[tuple, HelperFact] = {}
        for inner in _body_scopes(scope):
            for effect in inner.effects:
                fact = _helper_fact(resolver, inner, effect, definitions)
                if fact is not None:
                    facts.setdefault((fact.kind, fact.what, fact.attribute), fact)
        if facts:
            found[scope.name] = tuple(facts.values())
    return found


def _body_scopes(scope: Scope) -> Iterator[Scope]:
    yield scope
    for child in scope.children:
        if child.kind is ScopeKind.COMPREHENSION:
            yield from _body_scopes(child)


def _helper_fact(resolver: Resolver, scope: Scope, effect, definitions: frozenset[str]) -> Optional[HelperFact]:
    """`definitions`: module-level functions and classes (not state)."""
    if effect.kind is EffectKind.CALL and effect.call is not None and not effect.branch:
        func = effect.call.func
        qualified = resolver.qualify(scope, func) or ""
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        receiver = func.value if isinstance(func, cst.Attribute) else None
        factory = resolver.factory_of(scope, receiver.value) if isinstance(receiver, cst.Name) else None
        if jax_api.is_print_like(qualified, factory, method):
            return HelperFact("print", qualified or f"{func.value.value}.{method}", None, effect.order)  # type: ignore[union-attr]
        return None
    if effect.kind is not EffectKind.READ or effect.root is None or effect.detail == "metadata":
        return None
    resolved = resolver.resolve(scope, effect.root)
    if resolved is None or not resolved.is_global:
        return None
    if effect.root in definitions:
        return None  # a function or class of the module: a definition, not state
    return HelperFact("read", effect.root, effect.path[0] if effect.path else None, effect.order)


def _traces_at_once(site: TraceSite, applied_calls: frozenset[int]) -> bool:
    """`lax.scan(body, ...)`, `jax.jit(f)(x)`: a site that traces where it is, and keeps the trace in
    a cache (`jax.vmap(f)(x)` traces at once too, but keeps nothing a later call could replay)."""
    qualified = site.transform.qualified
    caches = site.compile_and_cache or qualified in jax_api.IDENTITY_CACHED_ARGUMENTS
    at_once = (
        qualified in jax_api.LOOP_BODIES
        or qualified in jax_api.RUN_AT_ONCE
        or (isinstance(site.node, cst.Call) and id(site.node) in applied_calls)
    )
    return caches and at_once


def _site_key(site: tuple[Optional[str], int]) -> tuple[str, int]:
    return (site[0] or "", site[1])


def _tracing_names(sites: list[TraceSite]) -> Iterator[str]:
    """The module-level function or class around each site, and around each function it traces."""
    for site in sites:
        for scope in (site.scope, *(target.scope for target in site.targets)):
            top = _top_level_name(scope)
            if top is not None:
                yield top


def _top_level_name(scope: Scope) -> Optional[str]:
    while scope.parent is not None and scope.parent.kind is not ScopeKind.MODULE:
        scope = scope.parent
    return scope.name if scope.kind is not ScopeKind.MODULE else None


def import_sources(module: Scope) -> dict[str, ImportSource]:
    """The module-level names bound by imports only, all of one source, and that source."""
    found = {}
    for name, bindings in module.bindings.items():
        sources = {b.imported for b in bindings if b.kind is BindingKind.IMPORT}
        if len(sources) == 1 and all(b.kind is BindingKind.IMPORT for b in bindings):
            source = sources.pop()
            if source is not None:
                found[name] = source
    return found


def _change_fact(name: str, change: Change) -> ChangeFact:
    return ChangeFact(
        name=name,
        attribute=change.attribute,
        how=change.how,
        function=qualified_name(change.scope),
        order=change.order,
        in_loop=change.in_loop,
        rebinds=change.rebinds,
        loop_end=change.loop_end,
    )


def _calls(resolver: Resolver, scopes: list[Scope], callable_names: set[str]) -> list[CallFact]:
    calls = []
    for scope in scopes:
        for effect in scope.effects:
            if effect.kind is not EffectKind.CALL or effect.call is None:
                continue
            root, path, chain = attribute_chain(effect.call.func)
            if root is None or root.value not in callable_names or any(isinstance(n, cst.Subscript) for n in chain):
                continue
            resolved = resolver.resolve(scope, root.value)
            if resolved is None or not resolved.is_global:
                continue
            calls.append(CallFact(root.value, path, qualified_name(scope), effect.order, effect.in_loop))
        for decorator in scope.decorators:  # `@register` runs `register(f)` where the def is
            expression = decorator.decorator
            callee = expression.func if isinstance(expression, cst.Call) else expression
            root, path, chain = attribute_chain(callee)
            if root is None or root.value not in callable_names or scope.parent is None:
                continue
            if any(isinstance(n, cst.Subscript) for n in chain):
                continue
            calls.append(CallFact(root.value, path, qualified_name(scope.parent), scope.order, scope.loop is not None))
    return calls


def qualified_name(scope: Scope) -> Optional[str]:
    """`Trainer.step`, `main.<locals>.inner`, `<lambda>` parts included; None for module code."""
    parts = []
    while scope.kind is not ScopeKind.MODULE:
        parts.append(scope.name)
        parent = scope.parent
        if parent is None:
            break
        if scope.kind in (ScopeKind.FUNCTION, ScopeKind.LAMBDA) and parent.kind is not ScopeKind.CLASS and parent.kind is not ScopeKind.MODULE:
            parts.append("<locals>")
        scope = parent
    return ".".join(reversed(parts)) or None
