"""Which Python state changes: module globals, closure cells, and attributes of classes and objects.

A module-level name is *mutable* when it is bound again after its first binding or changed in place;
assigned once and never changed, it is a constant and never reported. All changes are gathered in
one sweep over the effects of every scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import libcst as cst

from .resolution import Resolver
from .scopes import Binding, BindingKind, Effect, EffectKind, Scope, ScopeKind

MUTATION_EFFECTS = (EffectKind.ATTR_STORE, EffectKind.ITEM_STORE, EffectKind.MUTATOR_CALL, EffectKind.NEXT)
# Method names that also belong to pure APIs (`optimizer.update(grads, state)`, `x.add(y)`): a call
# counts as an in-place change only when the receiver is known to be a dict or set.
AMBIGUOUS_MUTATORS = frozenset({"update", "add"})
CONTAINER_FACTORIES = frozenset(
    {"dict", "set", "collections.defaultdict", "collections.OrderedDict", "collections.Counter", "defaultdict", "OrderedDict", "Counter"}
)
_SEQUENCE_FACTORIES = frozenset({"list", "collections.deque", "bytearray"})
INITIALISERS = frozenset({"__init__", "__post_init__", "setup", "__new__", "__setstate__"})


@dataclass(frozen=True)
class Change:
    """One place where a piece of state changes."""

    node: cst.CSTNode
    how: str  # "rebound", "changed by `.append()`", ...
    scope: Scope
    order: int
    attribute: Optional[str] = None  # for attribute stores: which attribute
    in_loop: bool = False
    loop_end: Optional[int] = None  # order of the last node of the module-level loop around it
    loop: Optional[int] = None  # the outermost loop statement around it, in its scope
    branch: tuple[tuple[int, int], ...] = ()  # (compound statement id, arm) from its scope's root
    rebinds: bool = False  # the name is bound to another value (not the value changed in place)

    def before_tracing(self, site_order: int, module: Scope) -> bool:
        """Module code above the site (a whole loop included): it has run before anything is traced."""
        if self.scope is not module:
            return False
        if self.in_loop:
            return self.loop_end is not None and self.loop_end < site_order
        return self.order < site_order


def describe_binding(binding: Binding) -> str:
    return {
        BindingKind.AUGMENTED: "updated",
        BindingKind.DELETION: "deleted",
        BindingKind.LOOP_TARGET: "rebound by a loop",
    }.get(binding.kind, "rebound")


def describe_effect(effect: Effect) -> str:
    where = "".join(f".{p}" for p in effect.path)
    if effect.kind is EffectKind.MUTATOR_CALL:
        return f"changed by `{where}.{effect.detail}()`" if where else f"changed by `.{effect.detail}()`"
    if effect.kind is EffectKind.ITEM_STORE:
        return "item-assigned" if not where else f"item-assigned through `{where}`"
    if effect.kind is EffectKind.NEXT:
        return "advanced by `next()`"
    if effect.detail in ("setattr", "delattr"):
        return f"changed by `{effect.detail}()`"
    verb = {"del": "deleted", "augmented": "updated"}.get(effect.detail, "assigned")
    return f"attribute `{where.lstrip('.')}` {verb}"


class StateModel:
    def __init__(
        self, resolver: Resolver, scopes: list[Scope], first_site_order: int, loop_ends: Optional[dict[int, int]] = None
    ) -> None:
        self.resolver = resolver
        self._loop_ends = loop_ends or {}
        self.module = resolver.module
        self._first_site_order = first_site_order
        self.global_changes: dict[str, list[Change]] = {}
        self.closure_changes: dict[tuple[int, str], list[Change]] = {}
        self.closure_loop_bindings: dict[tuple[int, str], Change] = {}  # a first binding inside a loop
        self.attribute_changes: dict[int, dict[str, list[Change]]] = {}  # class scope id -> attr -> changes
        self._restored = _restored_pushes(resolver, scopes)
        self._sweep(scopes)

    # -- the sweep --------------------------------------------------------------------------------

    def _sweep(self, scopes: list[Scope]) -> None:
        for name, bindings in self.module.bindings.items():
            for binding in _rebindings(bindings):
                change = Change(
                    binding.node,
                    describe_binding(binding),
                    self.module,
                    binding.order,
                    in_loop=binding.in_loop,
                    loop_end=self._loop_ends.get(binding.loop) if binding.loop is not None else None,
                    loop=binding.loop,
                    branch=binding.branch,
                )
                self._add_global(name, change)
        for scope in scopes:
            if scope.kind is ScopeKind.MODULE:
                continue
            for name in scope.global_names & scope.bindings.keys():
                for binding in scope.bindings[name]:
                    self._add_global(name, _binding_change(binding, describe_binding(binding), scope))
            for name in scope.nonlocal_names & scope.bindings.keys():
                owner = self.resolver.resolve(scope, name)
                if owner is not None and not owner.is_global:
                    for binding in scope.bindings[name]:
                        change = _binding_change(binding, "rebound through `nonlocal`", scope)
                        self.closure_changes.setdefault((id(owner.scope), name), []).append(change)
            for name, bindings in scope.bindings.items():
                if name in scope.global_names or name in scope.nonlocal_names:
                    continue
                for binding in bindings[1:]:  # the first binding gives the cell its value; later ones change it
                    if binding.kind is not BindingKind.ARGUMENT:
                        change = _binding_change(binding, describe_binding(binding), scope)
                        self.closure_changes.setdefault((id(scope), name), []).append(change)
                first = bindings[0]
                if first.in_loop and first.kind is not BindingKind.ARGUMENT:
                    # Run again by the next iteration: a change, if a trace made in between can see it.
                    change = _binding_change(first, describe_binding(first), scope)
                    self.closure_loop_bindings[(id(scope), name)] = change
        for scope in scopes:
            for effect in scope.effects:
                if effect.kind in MUTATION_EFFECTS and effect.root is not None:
                    self._record_mutation(scope, effect)

    def is_mutation(self, scope: Scope, effect: Effect) -> bool:
        """False for `x.update(...)`/`x.add(...)` unless `x` is a dict/set (or an attribute of `self`),
        and for a push that the same scope undoes (_restored_pushes)."""
        if id(effect) in self._restored:
            return False
        if effect.kind is EffectKind.NEXT and not self.resolver.is_builtin(scope, "next"):
            return False  # the module's own `next(...)`, not the builtin that advances an iterator
        if effect.detail == "ref":
            return False  # `ref[...] = v` updates a JAX Ref, which jit carries out of the trace
        if effect.kind is EffectKind.MUTATOR_CALL and self._calls_own_method(scope, effect):
            return False  # `buffer.add(x)` runs the class's `add`: its own effects are what change
        if effect.kind is not EffectKind.MUTATOR_CALL or effect.detail not in AMBIGUOUS_MUTATORS:
            return True
        assert effect.root is not None
        if self.resolver.self_method(scope, effect.root) is not None:
            return True
        if effect.call is not None and _looks_like_container_call(effect):
            return True
        if effect.path:
            return False
        resolved = self.resolver.resolve(scope, effect.root)
        binding = self.resolver.binding_at(resolved, None) if resolved else None
        if binding is not None and binding.kind is BindingKind.ARGUMENT:
            return self.mutable_default(resolved.scope, effect.root) is not None  # type: ignore[union-attr]
        return binding is not None and self._is_container(resolved.scope, binding.value)  # type: ignore[union-attr]

    def _calls_own_method(self, scope: Scope, effect: Effect) -> bool:
        """`Stats.update(x)`, `buffer.add(x)`, `self.append(x)`: the receiver is a class of the module, an
        instance of one, or `self`, and its class defines the method called."""
        if effect.path or effect.root is None or not effect.detail:
            return False
        method = self.resolver.self_method(scope, effect.root)
        if method is not None:
            cls = method.enclosing_class
        else:
            resolved = self.resolver.resolve(scope, effect.root)
            binding = self.resolver.binding_at(resolved, None) if resolved else None
            cls = self.resolver.class_of_binding(binding) or (
                self.resolver.instance_class(resolved.scope, binding) if resolved else None
            )
        return cls is not None and self.resolver.methods(cls, effect.detail) is not None

    def mutable_default(self, function: Scope, name: str) -> Optional[cst.BaseExpression]:
        """`cache={}` in `def lookup(x, cache={})`: a container made once, when the def runs, and shared
        by every call that does not pass `cache`, so it outlives calls as a global does."""
        default = function.param_defaults.get(name)
        if default is None or function.parent is None:
            return None
        if isinstance(default, (cst.List, cst.ListComp)) or self._is_container(function.parent, default):
            return default
        if isinstance(default, cst.Call):
            if self.resolver.qualify(function.parent, default.func) in _SEQUENCE_FACTORIES:
                return default
        return None

    def _is_container(self, scope: Scope, value: Optional[cst.BaseExpression]) -> bool:
        if isinstance(value, (cst.Dict, cst.Set, cst.DictComp, cst.SetComp)):
            return True
        if isinstance(value, cst.Call):
            return self.resolver.qualify(scope, value.func) in CONTAINER_FACTORIES
        return False

    def _record_mutation(self, scope: Scope, effect: Effect) -> None:
        assert effect.root is not None
        if not self.is_mutation(scope, effect):
            return
        change = Change(
            effect.node,
            describe_effect(effect),
            scope,
            effect.order,
            attribute=effect.path[0] if effect.path else None,
            in_loop=effect.in_loop,
            loop_end=self._loop_ends.get(effect.loop) if effect.loop is not None else None,
            loop=effect.loop,
            branch=effect.branch,
        )
        method = self.resolver.self_method(scope, effect.root)
        if method is not None and method.enclosing_class is not None:
            if effect.path and method.name not in INITIALISERS:
                self._add_attribute(method.enclosing_class, effect.path[0], change)
            return
        cls = self.resolver.cls_method(scope, effect.root)
        if cls is not None:  # `cls.count += 1` in a classmethod: the class's attribute, seen as `Stats.count`
            if effect.path:
                self._add_attribute(cls, effect.path[0], change)
                if cls.parent is self.module:
                    self._add_global(cls.name, change)
            return
        resolved = self.resolver.resolve(scope, effect.root)
        if resolved is None:
            return
        if not resolved.is_global:
            self.closure_changes.setdefault((id(resolved.scope), effect.root), []).append(change)
            local = self.resolver.binding_at(resolved, effect.order if resolved.scope is scope else None)
            instance_class = self.resolver.instance_class(resolved.scope, local)
            if instance_class is not None and effect.path and effect.kind is EffectKind.ATTR_STORE:
                # `obj = Model(); ...; obj.target = 0.0` in a function: the object's attribute changes
                # from outside its class, which a method it compiled in `__init__` reads frozen.
                self._add_attribute(instance_class, effect.path[0], change)
            return
        binding = self.resolver.binding_at(resolved, None)
        cls = self.resolver.class_of_binding(binding)
        if cls is not None and effect.path and effect.kind is EffectKind.ATTR_STORE:
            self._add_attribute(cls, effect.path[0], change)
        instance_class = self.resolver.instance_class(self.module, binding)
        if instance_class is not None and effect.path:
            self._add_attribute(instance_class, effect.path[0], change)
        initialising = scope is self.module and not effect.in_loop and effect.order < self._first_site_order
        if not initialising:
            self._add_global(effect.root, change)

    def _add_global(self, name: str, change: Change) -> None:
        self.global_changes.setdefault(name, []).append(change)

    def _add_attribute(self, cls: Scope, attribute: str, change: Change) -> None:
        self.attribute_changes.setdefault(id(cls), {}).setdefault(attribute, []).append(change)

    # -- queries ----------------------------------------------------------------------------------

    def changes_of_global(self, name: str, attribute: Optional[str]) -> list[Change]:
        """How global `name` changes, as far as a read of `name.attribute` (or of `name`) can see."""
        bindings = self.module.bindings.get(name, [])
        if bindings and all(b.kind is BindingKind.IMPORT for b in bindings):
            return []  # a module: `np.random.seed(...)` does not make `np` state
        changes = self.global_changes.get(name, [])
        if attribute is None:
            return changes
        # A read of `obj.a` is stale through rebinding of obj, or changes of `obj.a` or of obj as a whole.
        return [c for c in changes if c.attribute is None or c.attribute == attribute]

    def changes_of_closure(self, owner: Scope, name: str, closure: Scope) -> list[Change]:
        """Changes of `name` in `owner` that a closure made at `closure.order` would see late."""
        changes = self.closure_changes.get((id(owner), name), [])
        return [c for c in changes if c.scope is not owner or c.order > closure.order]

    def closure_loop_binding(self, owner: Scope, name: str) -> Optional[Change]:
        """The first binding of `name` in `owner` when it sits in a loop: each iteration rebinds it."""
        return self.closure_loop_bindings.get((id(owner), name))

    def changed_attributes(self, cls: Scope) -> dict[str, list[Change]]:
        merged: dict[str, list[Change]] = {}
        for klass in self.resolver.mro(cls):
            for attribute, changes in self.attribute_changes.get(id(klass), {}).items():
                merged.setdefault(attribute, []).extend(changes)
        return merged


def _binding_change(binding: Binding, how: str, scope: Scope) -> Change:
    return Change(
        binding.node, how, scope, binding.order, in_loop=binding.in_loop, loop=binding.loop, branch=binding.branch,
        rebinds=True,
    )


def _looks_like_container_call(effect: Effect) -> bool:
    """`d.update(k=v)`, `d.update({...})`, `s.add(x)`: the shapes of dict/set calls, not of pure APIs."""
    call = effect.call
    assert call is not None
    positional = [a for a in call.args if a.keyword is None and not a.star]
    keywords = [a for a in call.args if a.keyword is not None or a.star == "**"]
    if effect.detail == "add":
        return len(positional) == 1 and not keywords
    if not positional and keywords:
        return True
    return len(positional) == 1 and isinstance(positional[0].value, (cst.Dict, cst.DictComp))


def _rebindings(bindings: list[Binding]) -> list[Binding]:
    """The module-level bindings of one name that change its value after the first."""
    changing = []
    for index, binding in enumerate(bindings):
        if binding.kind in (BindingKind.AUGMENTED, BindingKind.DELETION, BindingKind.LOOP_TARGET) or (
            binding.in_loop and binding.kind is not BindingKind.IMPORT
        ):
            changing.append(binding)
            continue
        earlier = bindings[:index]
        if not earlier or _decorates(binding, earlier):
            continue
        if all(binding.excludes(e) for e in earlier):
            continue  # if/else or try/except alternatives: only one runs
        if binding.kind is BindingKind.IMPORT and all(e.qualified == binding.qualified for e in earlier):
            continue  # the same import again (notebooks repeat them)
        if binding.kind is BindingKind.FUNCTION and earlier[-1].kind is BindingKind.FUNCTION:
            continue  # `@overload` stubs, then the implementation: definitions, not values that change
        changing.append(binding)
    return changing


def _decorates(binding: Binding, earlier: list[Binding]) -> bool:
    """`f = jax.jit(f)` after `def f`: a wrapper of the definition, not a new value."""
    if earlier[-1].kind not in (BindingKind.FUNCTION, BindingKind.CLASS):
        return False
    value = binding.value
    if not isinstance(value, cst.Call):
        return False
    return any(isinstance(arg.value, cst.Name) and arg.value.value == binding.name for arg in value.args)


def _restored_pushes(resolver: Resolver, scopes: list[Scope]) -> set[int]:
    """The `append`s and `pop`s of a module-level list that leave it as it was: a function (a
    `@contextmanager` generator, or push, work, pop in `finally`) that pops the list after each push, in
    the same arm, or a class whose `__enter__` pushes and `__exit__` pops. Such a stack of scopes
    (summary-name prefixes, haiku-style frames) holds between two calls what it held before: a trace
    reading it sees what a later call outside the scopes sees. A compiled function called inside a
    scope other than its trace's is not told apart (see tests/fixtures/ok_context_stack_restored.py)."""
    restored: set[int] = set()
    exits: dict[tuple[int, str], list[Effect]] = {}  # (class, list) -> the pops of its `__exit__`
    enters: dict[tuple[int, str], list[Effect]] = {}
    for scope in scopes:
        if scope.kind is not ScopeKind.FUNCTION:
            continue
        for name, effects in _stack_effects(resolver, scope).items():
            if _well_nested(effects):
                restored.update(id(effect) for effect in effects)
            cls = scope.enclosing_class
            if cls is not None and scope.name in ("__enter__", "__exit__"):
                (enters if scope.name == "__enter__" else exits)[(id(cls), name)] = effects
    for key, pushes in enters.items():
        pops = exits.get(key, [])
        if pushes and all(e.detail == "append" for e in pushes) and len(pops) == len(pushes) \
                and all(e.detail == "pop" for e in pops):
            restored.update(id(effect) for effect in (*pushes, *pops))
    return restored


def _stack_effects(resolver: Resolver, scope: Scope) -> dict[str, list[Effect]]:
    """`STACK.append(v)` and `STACK.pop()` / `STACK.pop(-1)` on module-level names, in source order."""
    found: dict[str, list[Effect]] = {}
    for effect in scope.effects:
        if effect.kind is not EffectKind.MUTATOR_CALL or effect.path or effect.root is None:
            continue
        if effect.detail not in ("append", "pop") or effect.call is None:
            continue
        if effect.detail == "pop" and not _pops_the_last(effect.call):
            continue
        resolved = resolver.resolve(scope, effect.root)
        if resolved is not None and resolved.is_global:
            found.setdefault(effect.root, []).append(effect)
    return found


def _pops_the_last(call: cst.Call) -> bool:
    if not call.args:
        return True
    if len(call.args) != 1:
        return False
    value = call.args[0].value
    return (
        isinstance(value, cst.UnaryOperation)
        and isinstance(value.operator, cst.Minus)
        and isinstance(value.expression, cst.Integer)
        and value.expression.value == "1"
    )


def _well_nested(effects: list[Effect]) -> bool:
    """Pushes and pops in one arm, not in a loop, each pop after a push and none left over."""
    if len({effect.branch for effect in effects}) != 1 or any(effect.in_loop for effect in effects):
        return False
    depth = 0
    for effect in sorted(effects, key=lambda e: e.order):
        depth += 1 if effect.detail == "append" else -1
        if depth < 0:
            return False
    return depth == 0
