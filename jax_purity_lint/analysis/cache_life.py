"""When a change of state can reach a compiled cache: the life of one traced function object.

`jax.jit` and the control-flow primitives cache their trace by the traced *function object* (a new
`jax.jit(f)` around the same `f` replays the old trace). A change of state therefore matters to a trace
site only if a call goes through that object's cache after the change, and the object was traced before
it. Where the order of execution is known (the module-level code of a script or notebook, the body of
the function that makes a closure), this module replays that order once per scope and decides:

- every execution of a `def` (or of a lambda) makes a new *generation* of a function object;
- names hold generations: the def's name, and names bound from an expression that carries one
  (`step = jax.jit(step_fn)`, `fns = [f, g]`, `run = partial(f, k)`); rebinding a name drops what it held;
- a generation is *used* when it is called, handed to a call that may call it (a user function,
  `lax.fori_loop`, an applied `jax.grad(f)(x)`), or when a function that reads it is used;
- a module-level loop is replayed twice, so a change in one iteration meets a use in the next.

A change is seen when some generation was used before it and is used again after it (a generation
returned from a function is used once the function is done), or, at module level, is still held by a
name when the module ends (a later cell, an importer or the user can call it). Anything this cannot
follow (a generation stored on an object, read by a method, made by code of another scope) is UNKNOWN,
and the rules count the change, as they did before this model existed.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Iterator, Optional

import libcst as cst

from . import jax_api
from .collector import MUTATING_METHODS, attribute_chain, named_parameters
from .resolution import Resolver
from .scopes import Binding, BindingKind, EffectKind, Scope, ScopeKind, branches_exclude, scope_and_nested

# Whether a decorator expression, read in a scope, is a transformation that keeps no other reference.
DecoratorTest = Callable[[Scope, cst.BaseExpression], bool]


@dataclass(frozen=True)
class ModuleFacts:
    """What the replay needs from the rest of the analysis."""

    resolver: Resolver
    known_decorator: DecoratorTest
    try_statements: frozenset[int] = frozenset()  # try statements: their body runs unless it raises


_REPLAYS = 2  # iterations of a loop replayed: enough for a change in one to meet a use in the next


class Reach(Enum):
    """Whether a change can reach a compiled cache traced before it."""

    SEEN = "seen"  # the replayed order shows a call through such a cache after the change
    NOT_SEEN = "not seen"  # it shows none
    UNKNOWN = "unknown"  # the order is not known or not followed: count the change, as before


class Role(Enum):
    """What the code does with a function-valued expression."""

    USE = "use"  # called, or handed to a call that may call it now
    RETURNED = "returned"  # returned from the function: called only once this frame is done
    DERIVE = "derive"  # its value is bound to other names (possibly wrapped)
    ESCAPE = "escape"  # yielded, stored on an object, a default value: its later uses cannot be followed
    NONE = "none"  # compared, displayed, or its attribute read


@dataclass(frozen=True)
class Value:
    """One function-valued expression in the scope's own code: a read name or a lambda made there."""

    node: cst.CSTNode
    roles: frozenset[Role]
    targets: tuple[str, ...] = ()  # the names a DERIVE binds
    # For a call of it: the names its result is bound to; None when the result goes anywhere else.
    result: Optional[tuple[str, ...]] = ()
    result_unpacked: bool = False  # `a, b = f()`: the result's elements bound one by one, in order


@dataclass(eq=False)
class Generation:
    """One execution of a def or lambda: one function object, one compiled cache."""

    scope: Scope
    made_at: int
    branch: tuple[tuple[int, int], ...]
    copy: int
    uses: list[int] = field(default_factory=list)
    untracked: bool = False  # escaped: it may be called at any time
    returned: bool = False  # returned from the frame: callers may use it once the frame is done
    names: set[str] = field(default_factory=set)  # every name of the scope that has held it


@dataclass(frozen=True)
class _Event:
    order: int
    rank: int  # reads before bindings at the same order: `f = jax.jit(f)` reads `f` first
    kind: str  # "read", "lambda", "bind"
    item: object
    loop: Optional[int]
    branch: tuple[tuple[int, int], ...]


class ScopeTimeline:
    """The replayed execution of one scope's own statements."""

    def __init__(
        self, scope: Scope, facts: ModuleFacts, timeline_of: Callable[[Scope], Optional["ScopeTimeline"]]
    ) -> None:
        self.scope = scope
        self.facts = facts
        self._timeline_of = timeline_of  # the module's timelines (CacheLives), shared by every scope
        self.resolver = facts.resolver
        self.is_module = scope.kind is ScopeKind.MODULE
        self.values = _ValueRoles(scope, facts.resolver).collect()
        self.generations: dict[int, list[Generation]] = {}  # id(function scope) -> its generations
        self._positions: dict[int, list[tuple[int, int]]] = {}  # replayed copy -> (order, position)
        self._first_positions: list[tuple[int, int]] = []  # each event at its first execution
        self._copy_of_loop: dict[Optional[int], list[int]] = {}
        self._inner_reads: dict[int, list[str]] = {}
        self._held_at_end: set[int] = set()
        self._replay()

    # -- queries ------------------------------------------------------------------------------------

    def sees(
        self,
        function: Scope,
        order: int,
        loop: Optional[int],
        branch: tuple[tuple[int, int], ...],
        helper: Optional[Scope] = None,
    ) -> "Reach":
        """Can a change at `order` (in this scope's own code) reach a cache of `function` traced before it?"""
        moments = [(copy, position, branch) for copy, position in self._change_positions(order, loop)]
        return self._seen_at(function, moments, helper)

    def sees_calls_of(self, function: Scope, changer: Scope, helper: Optional[Scope] = None) -> "Reach":
        """The same for a change made inside `changer`, a function of this scope: it happens whenever
        `changer` runs (a setter called once during set-up changes nothing a later trace sees)."""
        calls = self.generations.get(id(changer))
        if not calls or any(g.untracked for g in calls):
            return Reach.UNKNOWN
        if not any(g.uses for g in calls):
            return Reach.UNKNOWN  # never called here: it is there for others to call, at any time
        # Just after each call: a trace made by the same call (the changer run while tracing) is before it.
        moments = [(g.copy, use + 0.5, ()) for g in calls for use in g.uses]
        return self._seen_at(function, moments, helper)

    def _seen_at(self, function: Scope, moments, helper: Optional[Scope]) -> "Reach":
        generations = self.generations.get(id(function))
        if not generations:
            return self._made_only_afterwards(function)
        if any(g.untracked for g in generations):
            return Reach.UNKNOWN
        helper_made = self._first_made(helper) if helper is not None and helper is not function else None
        for generation in generations:
            if helper_made is not None and (not generation.uses or generation.uses[0] < helper_made):
                continue  # traced before the helper that reads the state existed: it ran another one
            for copy, position, branch in moments:
                if generation.copy == copy and branches_exclude(generation.branch, branch):
                    continue  # one arm made the function, the other arm changed the state
                if not generation.uses or generation.uses[0] > position:
                    continue  # traced after the change (or never): the trace sees the new state
                if generation.uses[-1] > position or self._kept(generation):
                    return Reach.SEEN  # called again, or callable later (returned, held at the end)
        return Reach.NOT_SEEN

    def _made_only_afterwards(self, function: Scope) -> "Reach":
        """No object of `function` is made while this scope runs. If it is the product of a factory of
        this scope that this scope never calls (only functions it returns do, later), every object is
        made after this scope's changes, and traced with them."""
        factory = function.parent
        made = self.generations.get(id(factory)) if factory is not None else None
        if not made or function not in _products(factory):
            return Reach.UNKNOWN  # the function object is not made by this scope's own code
        if any(g.untracked or g.uses for g in made):
            return Reach.UNKNOWN
        return Reach.NOT_SEEN

    def reused(self, function: Scope) -> bool:
        """Can a cache of `function` serve a second call? Not when every object of it made here is
        called at most once and then dropped (made afresh per call of this scope, or rebound)."""
        generations = self.generations.get(id(function))
        if not generations:
            return True
        return any(self._kept(g) or len(g.uses) > 1 for g in generations)

    def never_runs(self, function: Scope) -> bool:
        """Is `function` (a function or class of this scope) made here but never called, passed on or
        kept: a notebook's first draft, defined and replaced before anything uses it?"""
        generations = self.generations.get(id(function))
        return bool(generations) and not any(self._kept(g) or g.uses for g in generations)

    def _kept(self, generation: Generation) -> bool:
        """Callable beyond what the replay saw: escaped, returned, or held when the module ends."""
        return (
            generation.untracked
            or generation.returned
            or (self.is_module and id(generation) in self._held_at_end)
        )

    def _first_made(self, helper: Scope) -> Optional[int]:
        """When the first object of a helper defined in this scope was made (None: not made here)."""
        made = self.generations.get(id(helper))
        if not made or any(g.untracked for g in made):
            return None
        return min(g.made_at for g in made)

    def _change_positions(self, order: int, loop: Optional[int]) -> Iterator[tuple[int, float]]:
        """Where a change at `order` falls in the replay: once, or once per replayed iteration."""
        copies = self._copy_of_loop.get(loop) if loop is not None else None
        if not copies:
            yield 0, _between(self._first_positions, order, self._end)
            return
        for copy in copies:
            pairs = self._positions[copy]
            yield copy, _between(pairs, order, pairs[-1][1] + 1)

    # -- the replay ---------------------------------------------------------------------------------

    def _events(self) -> list[_Event]:
        scope = self.scope
        events: list[_Event] = []
        for bindings in scope.bindings.values():
            for binding in bindings:
                if binding.kind is not BindingKind.ARGUMENT:
                    events.append(_Event(binding.order, 1, "bind", binding, binding.loop, binding.branch))
        value_of = self.values
        for effect in _own_reads(scope):
            value = value_of.get(id(effect.node))
            if value is not None:
                events.append(_Event(effect.order, 0, "read", (effect.root, value), effect.loop, effect.branch))
        for child in scope.children:
            if child.kind is ScopeKind.LAMBDA:
                value = value_of.get(id(child.node))
                if value is not None:
                    events.append(_Event(child.order, 0, "lambda", (child, value), child.loop, child.branch))
            elif child.kind is ScopeKind.COMPREHENSION:
                # A comprehension runs where it stands: its reads are this scope's, at its place.
                for effect in _own_reads(child, deep=True):
                    value = value_of.get(id(effect.node))
                    if value is not None:
                        events.append(_Event(effect.order, 0, "read", (effect.root, value), child.loop, child.branch))
        events.sort(key=lambda e: (e.order, e.rank))
        return events

    def _replay(self) -> None:
        holders: dict[str, set[Generation]] = {}
        pending: dict[str, set[Generation]] = {}
        position = 0
        first_seen: set[int] = set()
        for copy, event in self._unrolled(self._events()):
            position += 1
            self._positions.setdefault(copy, []).append((event.order, position))
            if id(event) not in first_seen:
                first_seen.add(id(event))
                self._first_positions.append((event.order, position))
            if event.kind == "bind":
                self._bind(event.item, holders, pending, copy, position)  # type: ignore[arg-type]
                continue
            if event.kind == "lambda":
                child, value = event.item  # type: ignore[misc]
                made = {self._new_generation(child, position, event.branch, copy)}
                self._act(value, made, holders, pending, position)
                continue
            name, value = event.item  # type: ignore[misc]
            self._act(value, _live_at(holders.get(name, ()), name, event, copy), holders, pending, position)
        self._end = position + 1
        self._held_at_end = {id(g) for held in holders.values() for g in held}
        # A method or class body reads names whenever it runs: what those names ever held is not followed.
        read_by_classes = self._names_read_in_classes()
        for generations in self.generations.values():
            for generation in generations:
                if generation.names & read_by_classes:
                    self._untrack(generation, holders)

    def _unrolled(self, events: list[_Event]) -> Iterator[tuple[int, _Event]]:
        """Events in execution order; each top-level loop's run of events replayed `_REPLAYS` times."""
        copy_counter = 0
        index = 0
        while index < len(events):
            loop = events[index].loop
            if loop is None:
                yield 0, events[index]
                index += 1
                continue
            end = index
            while end < len(events) and events[end].loop == loop:
                end += 1
            for _ in range(_REPLAYS):
                copy_counter += 1
                self._copy_of_loop.setdefault(loop, []).append(copy_counter)
                for event in events[index:end]:
                    yield copy_counter, event
            index = end

    def _new_generation(self, function: Scope, position: int, branch, copy: int) -> Generation:
        generation = Generation(function, position, branch, copy)
        self.generations.setdefault(id(function), []).append(generation)
        return generation

    def _bind(self, binding: Binding, holders, pending, copy: int, position: int) -> None:
        name = binding.name
        # In an if/else or except arm it may not run; a try body runs (unless it raises first).
        conditional = any(arm != 0 or statement not in self.facts.try_statements for statement, arm in binding.branch)
        if binding.kind in (BindingKind.FUNCTION, BindingKind.CLASS) and binding.scope is not None:
            generation = self._new_generation(binding.scope, position, binding.branch, copy)
            if not all(self.facts.known_decorator(self.scope, d.decorator) for d in binding.scope.decorators):
                self._untrack(generation, holders)  # a decorator of the project's may register it anywhere
            held = {generation}
        else:
            held = pending.pop(name, set())
        for generation in held:
            generation.names.add(name)
        if conditional:
            holders.setdefault(name, set()).update(held)  # the old value may survive the branch not taken
        elif held:
            holders[name] = held
        else:
            holders.pop(name, None)

    def _act(self, value: Value, generations: set[Generation], holders, pending, position: int) -> None:
        if not generations:
            return
        if Role.ESCAPE in value.roles:
            for generation in generations:
                self._untrack(generation, holders)
        if Role.RETURNED in value.roles:
            for generation in generations:
                generation.returned = True
        if Role.DERIVE in value.roles:
            for target in value.targets:
                pending.setdefault(target, set()).update(generations)
        if Role.USE in value.roles:
            self._use(generations, holders, position, set())
            for generation in generations:
                for product in _products(generation.scope):
                    made = self._new_generation(product, position, generation.branch, generation.copy)
                    if self._used_by_its_factory(generation.scope, product):
                        made.uses.append(position)  # traced by the call that makes it, before it returns
                    if value.result is None:
                        self._untrack(made, holders)
                    for target in _holding_product(value, generation.scope, product):
                        pending.setdefault(target, set()).add(made)

    def _used_by_its_factory(self, factory: Scope, product: Scope) -> bool:
        """Does the factory's own code call the function it returns, or hand it to a call (`out =
        lax.scan(body, ...); return out, body`)? Then each object is used once before it is returned."""
        timeline = self._timeline_of(factory)
        return timeline is not None and any(g.uses for g in timeline.generations.get(id(product), ()))

    def _use(self, generations: set[Generation], holders, position: int, seen: set[int]) -> None:
        """A call of these function objects: each is used now, and so is what its body reads."""
        for generation in generations:
            if id(generation) in seen:
                continue
            seen.add(id(generation))
            if not generation.uses or generation.uses[-1] != position:
                generation.uses.append(position)
            if len(seen) > 1:  # called from another function's body: what it returns is not followed
                for product in _products(generation.scope):
                    self._untrack(self._new_generation(product, position, generation.branch, generation.copy), holders)
            for name in self._reads_inside(generation.scope):
                inner = holders.get(name)
                if inner:
                    self._use(set(inner), holders, position, seen)

    def _untrack(self, generation: Generation, holders) -> None:
        if generation.untracked:
            return
        generation.untracked = True  # and whatever its body reads may be called whenever it is
        for name in self._reads_inside(generation.scope):
            for inner in holders.get(name, ()):
                self._untrack(inner, holders)

    def _names_read_in_classes(self) -> set[str]:
        names: set[str] = set()
        for child in self.scope.children:
            if child.kind is ScopeKind.CLASS:
                names.update(self._reads_inside(child))
        return names

    def _reads_inside(self, function: Scope) -> list[str]:
        """Names of this scope that the function's body (and what is nested in it) reads."""
        cached = self._inner_reads.get(id(function))
        if cached is None:
            names: set[str] = set()
            for inner in scope_and_nested(function):
                for effect in inner.effects:
                    if effect.kind is EffectKind.READ and effect.root is not None:
                        resolved = self.resolver.resolve(inner, effect.root)
                        if resolved is not None and resolved.scope is self.scope:
                            names.add(effect.root)
            cached = self._inner_reads[id(function)] = sorted(names)
        return cached


def _live_at(held, name: str, event: "_Event", copy: int) -> set[Generation]:
    """What a read of `name` can see: all it may hold, except objects older than a `def name` made in
    this run of the code (this loop iteration) in an arm that holds the read too: when the read runs,
    that def has run and replaced them (`for eqn in ...: if ...: def body(...); lax.scan(body, ...)`)."""
    held = set(held)
    enclosing = [
        g for g in held if g.copy == copy and g.scope.name == name and set(g.branch) <= set(event.branch)
    ]
    if not enclosing:
        return held
    latest = max(g.made_at for g in enclosing)
    return {g for g in held if g.made_at >= latest}


def _holding_product(value: Value, factory: Scope, product: Scope) -> tuple[str, ...]:
    """The names a factory call's result binds that hold `product`: with `out, body = make(x)` and
    `return out, body`, only `body` (every name, when the positions are not known)."""
    names = value.result or ()
    positions = _returned_positions(factory, product.name)
    if not value.result_unpacked or positions is None or any(p >= len(names) for p in positions):
        return names
    return tuple(names[p] for p in sorted(positions))


def _returned_positions(factory: Scope, name: str) -> Optional[set[int]]:
    """Where `name` stands in the tuples `factory` returns; None if it is ever returned otherwise
    (whole, or in a tuple with a starred element) or a tuple's length differs between returns."""
    positions: set[int] = set()
    lengths: set[int] = set()
    for value in factory.returned_values:
        if isinstance(value, cst.Name) and value.value == name:
            return None
        if not isinstance(value, (cst.Tuple, cst.List)):
            continue
        elements = value.elements
        if any(isinstance(e, cst.StarredElement) for e in elements):
            return None
        lengths.add(len(elements))
        positions.update(i for i, e in enumerate(elements) if isinstance(e.value, cst.Name) and e.value.value == name)
    return positions if positions and len(lengths) == 1 else None


def _products(function: Scope) -> list[Scope]:
    """The functions a factory makes and returns: `def make(): @jax.jit def step...; return step`."""
    if function.kind is not ScopeKind.FUNCTION or not function.returned_names:
        return []
    made = []
    for name in function.returned_names:
        for binding in function.bindings.get(name, []):
            if binding.kind is BindingKind.FUNCTION and binding.scope is not None:
                made.append(binding.scope)
    return made


def _between(pairs: list[tuple[int, int]], order: int, after_all: int) -> float:
    """The position just before the first event at or after `order` (events keep their order)."""
    index = bisect_left(pairs, (order, -1))
    return (pairs[index][1] if index < len(pairs) else after_all) - 0.5


def _own_reads(scope: Scope, deep: bool = False) -> Iterator:
    for effect in scope.effects:
        if effect.kind is EffectKind.READ and effect.root is not None and effect.detail != "metadata":
            yield effect
    if deep:
        for child in scope.children:
            if child.kind is ScopeKind.COMPREHENSION:
                yield from _own_reads(child, deep=True)


# -- what the scope's own code does with each expression -----------------------------------------


@dataclass(frozen=True)
class _Sink:
    """Where an expression's value goes."""

    kind: str  # "called", "now", "wrapped", "assign", "escape", "drop"
    parent: Optional["_Sink"] = None
    targets: tuple[str, ...] = ()
    unpacked: bool = False  # one target, a flat tuple of names: `targets` are its elements in order


_DROP = _Sink("drop")
_ESCAPE = _Sink("escape")
_CALLED = _Sink("called")
_RETURNED = _Sink("returned")


def _roles(sink: _Sink) -> tuple[frozenset[Role], tuple[str, ...]]:
    """The roles of a function-valued expression whose value goes into `sink`."""
    roles: set[Role] = set()
    targets: tuple[str, ...] = ()
    current: Optional[_Sink] = sink
    while current is not None:
        kind = current.kind
        if kind == "called":
            roles.add(Role.USE)
            break
        if kind == "now":
            roles.add(Role.USE)  # the callee may call it now, and its result may carry it on
        elif kind == "assign":
            roles.add(Role.DERIVE)
            targets = current.targets
            break
        elif kind == "escape":
            roles.add(Role.ESCAPE)
            break
        elif kind == "returned":
            roles.add(Role.RETURNED)
            break
        elif kind == "drop":
            break
        current = current.parent
    return frozenset(roles or {Role.NONE}), targets


def _result_unpacked(sink: _Sink) -> bool:
    after = sink.parent if sink.kind == "called" else None
    return after is not None and after.kind == "assign" and after.unpacked


def _result_targets(sink: _Sink) -> Optional[tuple[str, ...]]:
    """Where the result of calling the expression goes: bound to names, dropped, or elsewhere (None)."""
    if sink.kind != "called":
        return ()
    after = sink.parent
    if after is None or after.kind == "drop":
        return ()
    if after.kind == "assign":
        return after.targets
    return None


class _ValueRoles:
    """Walks the scope's own statements (not nested function bodies) and gives each read name and
    each lambda made there its roles, keyed by the node its READ effect points at."""

    def __init__(self, scope: Scope, resolver: Resolver) -> None:
        self.scope = scope
        self.resolver = resolver
        self.values: dict[int, Value] = {}

    def collect(self) -> dict[int, Value]:
        node = self.scope.node
        if isinstance(node, cst.Module):
            for statement in node.body:
                self._statement(statement)
        elif isinstance(node, cst.FunctionDef):
            self._block(node.body)
        return self.values

    # -- statements ---------------------------------------------------------------------------------

    def _statement(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                self._small(small)
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            for decorator in node.decorators:
                self._expr(decorator.decorator, _CALLED)
            if isinstance(node, cst.FunctionDef):
                self._parameters(node.params)
            else:
                for arg in (*node.bases, *node.keywords):
                    self._expr(arg.value, _ESCAPE)
        elif isinstance(node, (cst.If, cst.While)):
            self._expr(node.test, _DROP)
            self._block(node.body)
            if node.orelse is not None:
                self._orelse(node.orelse)
        elif isinstance(node, cst.For):
            self._expr(node.iter, _Sink("assign", targets=_bound_names(node.target)))
            self._block(node.body)
            if node.orelse is not None:
                self._block(node.orelse.body)
        elif isinstance(node, cst.With):
            for item in node.items:
                targets = _bound_names(item.asname.name) if item.asname is not None else ()
                self._expr(item.item, _Sink("assign", targets=targets) if targets else _Sink("now"))
            self._block(node.body)
        elif isinstance(node, (cst.Try, cst.TryStar)):
            self._block(node.body)
            for handler in node.handlers:
                if handler.type is not None:
                    self._expr(handler.type, _DROP)
                self._block(handler.body)
            if node.orelse is not None:
                self._block(node.orelse.body)
            if node.finalbody is not None:
                self._block(node.finalbody.body)
        elif isinstance(node, cst.Match):
            self._expr(node.subject, _DROP)
            for case in node.cases:
                if case.guard is not None:
                    self._expr(case.guard, _DROP)
                self._block(case.body)

    def _orelse(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.If):
            self._statement(node)
        else:
            self._block(node.body)  # type: ignore[attr-defined]

    def _block(self, block: cst.BaseSuite) -> None:
        if isinstance(block, cst.IndentedBlock):
            for statement in block.body:
                self._statement(statement)
        elif isinstance(block, cst.SimpleStatementSuite):
            for small in block.body:
                self._small(small)

    def _parameters(self, params: cst.Parameters) -> None:
        for param in named_parameters(params):
            if param.default is not None:
                self._expr(param.default, _ESCAPE)  # a default lives as long as the function

    def _small(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Expr):
            self._expr(node.value, _DROP)
        elif isinstance(node, cst.Assign):
            sink = _assignment_sink([target.target for target in node.targets])
            self._expr(node.value, sink)
            for target in node.targets:
                self._target(target.target)
        elif isinstance(node, cst.AnnAssign):
            if node.value is not None:
                self._expr(node.value, _assignment_sink([node.target]))
            self._target(node.target)
        elif isinstance(node, cst.AugAssign):
            self._expr(node.value, _assignment_sink([node.target]))
            self._target(node.target)
        elif isinstance(node, cst.Return):
            if node.value is not None:
                self._expr(node.value, _ESCAPE if self.scope.kind is ScopeKind.MODULE else _RETURNED)
        elif isinstance(node, (cst.Raise, cst.Assert)):
            for part in (getattr(node, "exc", None), getattr(node, "test", None), getattr(node, "msg", None)):
                if isinstance(part, cst.BaseExpression):
                    self._expr(part, _DROP)
        elif isinstance(node, cst.Del):
            self._target(node.target)

    def _target(self, target: cst.CSTNode) -> None:
        """Subscripts and attribute roots in a store target are read, not bound."""
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value)
        elif isinstance(target, cst.Subscript):
            for element in target.slice:
                if isinstance(element.slice, cst.Index):
                    self._expr(element.slice.value, _ESCAPE)

    # -- expressions --------------------------------------------------------------------------------

    def _record(self, node: cst.CSTNode, sink: _Sink) -> None:
        roles, targets = _roles(sink)
        self.values[id(node)] = Value(node, roles, targets, _result_targets(sink), _result_unpacked(sink))

    def _expr(self, node: Optional[cst.CSTNode], sink: _Sink) -> None:
        if node is None:
            return
        if isinstance(node, cst.Name):
            self._record(node, sink)
        elif isinstance(node, cst.Lambda):
            self._record(node, sink)  # its body is another scope; defaults belong here
            self._parameters(node.params)
        elif isinstance(node, cst.Call):
            self._call(node, sink)
        elif isinstance(node, cst.Attribute):
            if isinstance(node.value, cst.Name):
                # The READ effect of `f.attr` is the Attribute: `f.lower(x)` uses f; `f.attr` alone does not.
                self._record(node, _Sink("now") if sink.kind == "called" else _DROP)
            else:
                self._expr(node.value, _Sink("now") if sink.kind == "called" else _DROP)
        elif isinstance(node, cst.Subscript):
            self._expr(node.value, sink)
            for element in node.slice:
                if isinstance(element.slice, cst.Index):
                    self._expr(element.slice.value, _DROP)
                else:
                    for part in (element.slice.lower, element.slice.upper, element.slice.step):
                        self._expr(part, _DROP)
        elif isinstance(node, (cst.Tuple, cst.List, cst.Set)):
            for element in node.elements:
                self._expr(element.value, sink)
        elif isinstance(node, cst.Dict):
            for element in node.elements:
                if isinstance(element, cst.DictElement):
                    self._expr(element.key, _DROP)
                self._expr(element.value, sink)
        elif isinstance(node, cst.IfExp):
            self._expr(node.test, _DROP)
            self._expr(node.body, sink)
            self._expr(node.orelse, sink)
        elif isinstance(node, cst.BooleanOperation):
            self._expr(node.left, sink)
            self._expr(node.right, sink)
        elif isinstance(node, cst.NamedExpr):
            self._expr(node.value, _Sink("assign", sink, _bound_names(node.target)))
        elif isinstance(node, (cst.Await, cst.Yield)):
            self._expr(getattr(node, "value", None) or getattr(node, "expression", None), _ESCAPE)
        elif isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
            self._comprehension(node, [node.elt], sink)
        elif isinstance(node, cst.DictComp):
            self._comprehension(node, [node.key, node.value], sink)
        elif isinstance(node, cst.StarredElement):
            self._expr(node.value, sink)
        else:
            for child in node.children:
                if isinstance(child, cst.BaseExpression):
                    self._expr(child, _DROP)
                elif isinstance(child, (cst.FormattedStringExpression, cst.ComparisonTarget)):
                    for grandchild in child.children:
                        if isinstance(grandchild, cst.BaseExpression):
                            self._expr(grandchild, _DROP)

    def _comprehension(self, node: cst.BaseComp, parts: list, sink: _Sink) -> None:
        for_in: Optional[cst.CompFor] = node.for_in
        while for_in is not None:
            self._expr(for_in.iter, _Sink("now"))
            for condition in for_in.ifs:
                self._expr(condition.test, _DROP)
            for_in = for_in.inner_for_in
        for part in parts:
            self._expr(part, sink)

    def _call(self, call: cst.Call, sink: _Sink) -> None:
        self._expr(call.func, _Sink("called", sink))
        func = call.func
        if self._wraps_without_calling(call):
            argument_sink = _Sink("wrapped", sink)
        elif isinstance(func, cst.Attribute) and func.attr.value in MUTATING_METHODS:
            # `steps.append(f)`: the receiver holds it from now on
            receiver = attribute_chain(func.value)[0]
            argument_sink = _Sink("assign", targets=(receiver.value,)) if receiver is not None else _ESCAPE
        elif _constructs(func):
            argument_sink = _Sink("wrapped", sink)  # `Fns(init, step)`: the new object holds them
        elif self._result_is_data(call):
            argument_sink = _Sink("now", _DROP)  # `state = lax.fori_loop(0, n, body, state)`: arrays come back
        else:
            argument_sink = _Sink("now", sink)
        for arg in call.args:
            self._expr(arg.value, argument_sink)

    def _result_is_data(self, call: cst.Call) -> bool:
        """JAX and NumPy functions and a few builtins return values, never the function handed in."""
        qualified = self.resolver.qualify(self.scope, call.func)
        if qualified is None:
            return False  # the project's own function, or an expression: its result may hold it
        if qualified in _LIBRARY_WRAPPERS:
            return False
        return qualified.startswith(("jax.", "numpy.")) or qualified in _BUILTINS_RETURNING_DATA

    def _wraps_without_calling(self, call: cst.Call) -> bool:
        """`jax.jit(f)`, `jax.vmap(f)`, `partial(f, k)`: the result holds `f`; nothing calls it yet
        (unless the result is applied at once, which the sink says)."""
        qualified = self.resolver.qualify(self.scope, call.func)
        if qualified is None:
            return False
        return jax_api.canonical(qualified) in jax_api.WRAPS_WITHOUT_CALLING


def _constructs(func: cst.BaseExpression) -> bool:
    """`NeighborListFns(...)`, `nt.NamedTuple(...)`: by Python's naming convention, a class, whose
    instance stores the functions handed to it rather than calling them."""
    name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
    return name[:1].isupper() and not name.isupper()


# JAX and NumPy functions that return a callable holding the one handed in.
_LIBRARY_WRAPPERS = frozenset({"numpy.vectorize", "numpy.frompyfunc", "jax.numpy.vectorize", "jax.tree_util.Partial"})

_BUILTINS_RETURNING_DATA = frozenset(
    {"print", "len", "isinstance", "repr", "str", "int", "float", "bool", "id", "hash", "type", "callable", "hasattr"}
)


def _assignment_sink(targets: list) -> _Sink:
    """Names bound, and local containers stored into (`fns[0] = f`), hold the value; an attribute
    store (`self.f = f`, `obj.f = f`) puts it on an object that others may reach."""
    names: list[str] = []
    for target in targets:
        if isinstance(target, cst.Attribute):
            return _ESCAPE
        if isinstance(target, cst.Subscript):
            root = attribute_chain(target)[0]
            if root is None or any(isinstance(n, cst.Attribute) for n in attribute_chain(target)[2]):
                return _ESCAPE
            names.append(root.value)
        else:
            names.extend(_bound_names(target))
    only = targets[0] if len(targets) == 1 else None
    unpacked = isinstance(only, (cst.Tuple, cst.List)) and all(
        isinstance(e, cst.Element) and isinstance(e.value, cst.Name) for e in only.elements  # no `*rest`
    )
    return _Sink("assign", targets=tuple(names), unpacked=unpacked)


def _bound_names(target: cst.CSTNode) -> tuple[str, ...]:
    if isinstance(target, cst.Name):
        return (target.value,)
    if isinstance(target, (cst.Tuple, cst.List)):
        return tuple(name for element in target.elements for name in _bound_names(element.value))
    if isinstance(target, cst.StarredElement):
        return _bound_names(target.value)
    if isinstance(target, (cst.Attribute, cst.Subscript)):
        return ()
    return ()


class CacheLives:
    """The timelines of the scopes that make traced functions, built on first need."""

    def __init__(self, facts: ModuleFacts) -> None:
        self.facts = facts
        self._timelines: dict[int, ScopeTimeline] = {}

    def release(self) -> None:
        """Drop the timelines: each holds this object's `timeline` (a cycle), and through it libcst
        nodes that would otherwise wait for the cyclic collector (scopes.release_scopes)."""
        self._timelines.clear()

    def timeline(self, scope: Scope) -> Optional[ScopeTimeline]:
        if scope.kind not in (ScopeKind.MODULE, ScopeKind.FUNCTION):
            return None
        timeline = self._timelines.get(id(scope))
        if timeline is None:
            timeline = self._timelines[id(scope)] = ScopeTimeline(scope, self.facts, self.timeline)
        return timeline

    def reused(self, function: Scope) -> bool:
        """Can the cache of the traced `function` serve more than one call (so a trace-time effect is
        not repeated)? True unless the scope that makes it shows one call per object at most."""
        maker = self._maker(function)
        timeline = self.timeline(maker) if maker is not None else None
        return timeline is None or timeline.reused(function)

    def never_runs(self, function: Scope) -> bool:
        """Can the traced `function` never run? True when it (or, for a method, its class) is made by a
        scope whose order shows it dropped before anything calls, instantiates, passes or keeps it."""
        owner = function.parent if function.parent is not None and function.parent.kind is ScopeKind.CLASS else function
        maker = owner.parent
        timeline = self.timeline(maker) if maker is not None else None
        return timeline is not None and timeline.never_runs(owner)

    def lives_within_one_run(self, function: Scope) -> bool:
        """Is every object of `function` made by a function and dropped before that run ends (not
        returned, stored or handed on)? Then its cache serves only calls made during one run of the
        maker: a change made by other code between two runs meets a new object, traced afresh."""
        maker = function.parent
        if maker is None or maker.kind is not ScopeKind.FUNCTION:
            return False
        timeline = self.timeline(maker)
        generations = timeline.generations.get(id(function)) if timeline is not None else None
        return bool(generations) and not any(timeline._kept(g) for g in generations)  # type: ignore[union-attr]

    def _maker(self, function: Scope) -> Optional[Scope]:
        maker = function.parent
        if maker is not None and maker.kind is ScopeKind.FUNCTION and function in _products(maker):
            return maker.parent  # made by a factory: its objects are made where the factory is called
        return maker

    def change_reaches(self, function: Scope, change, helper: Optional[Scope] = None) -> "Reach":
        """Can `change` (a Change of state.py) reach a cache of the traced `function`, traced before it?
        `helper` is the function, reached from it, whose code reads the state. Decided only when the scope
        that makes `function` (or the factory it returns from) also runs the change; UNKNOWN otherwise."""
        # The scope that makes the function, then (for a factory's product) the one that calls the factory.
        for maker in dict.fromkeys((function.parent, self._maker(function))):
            timeline = self.timeline(maker) if maker is not None else None
            if timeline is None:
                continue
            if change.scope is maker:
                return timeline.sees(function, change.order, change.loop, change.branch, helper)
            if change.scope.parent is maker and change.scope.kind is ScopeKind.FUNCTION:
                return timeline.sees_calls_of(function, change.scope, helper)
            calls = self._classmethod_calls(change.scope, maker)
            if calls:
                return _combined(timeline.sees(function, c.order, c.loop, c.branch, helper) for c in calls)
        if _encloses(change.scope, function.parent) and self.lives_within_one_run(function):
            # Each object lives during one run of its maker, and the code enclosing the maker waits
            # for that run to end: a change it makes meets the next run's new object, traced afresh.
            return Reach.NOT_SEEN
        return Reach.UNKNOWN

    def _classmethod_calls(self, method: Scope, maker: Scope) -> Optional[list]:
        """`Config.configure(3.0)`: the calls of classmethod `method` of a class made by `maker`, when
        every call of a method of that name in the module is one of them, in `maker`'s own code (None
        otherwise: called elsewhere, or through `cls.`/`self.`/a variable, at times not followed)."""
        cls = method.parent
        if cls is None or cls.kind is not ScopeKind.CLASS or cls.parent is not maker:
            return None
        if "classmethod" not in method.decorator_names():
            return None
        calls = []
        for scope in scope_and_nested(self.facts.resolver.module):
            for effect in scope.effects:
                if effect.kind is not EffectKind.CALL or effect.call is None:
                    continue
                func = effect.call.func
                if not isinstance(func, cst.Attribute) or func.attr.value != method.name:
                    continue
                if scope is not maker or effect.root != cls.name or effect.path != (method.name,):
                    return None
                calls.append(effect)
        return calls


def _encloses(outer: Scope, inner: Optional[Scope]) -> bool:
    """Is `outer` a scope around `inner` (not `inner` itself)?"""
    scope = inner.parent if inner is not None else None
    while scope is not None:
        if scope is outer:
            return True
        scope = scope.parent
    return False


def _combined(reaches: Iterator["Reach"]) -> "Reach":
    """Seen if any of several changes is seen; not seen only if none can be."""
    found = set(reaches)
    for reach in (Reach.SEEN, Reach.UNKNOWN):
        if reach in found:
            return reach
    return Reach.NOT_SEEN
