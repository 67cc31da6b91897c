"""Name resolution over the collected scopes: LEGB lookup, qualified names through imports, classes
and instances defined in the module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import libcst as cst

from .collector import ScopeCollector, attribute_chain
from .scopes import Binding, BindingKind, Scope, ScopeKind

_MAX_ALIAS_DEPTH = 8


@dataclass(frozen=True)
class Resolved:
    scope: Scope  # the scope whose binding the name refers to
    name: str

    @property
    def bindings(self) -> list[Binding]:
        return self.scope.bindings.get(self.name, [])

    @property
    def is_global(self) -> bool:
        return self.scope.kind is ScopeKind.MODULE


class Resolver:
    def __init__(self, collected: ScopeCollector) -> None:
        self.module: Scope = collected.module_scope  # type: ignore[assignment]
        self.scope_of_node = collected.scope_of_node

    # -- names ------------------------------------------------------------------------------------

    def resolve(self, scope: Scope, name: str) -> Optional[Resolved]:
        """The scope a name read in `scope` refers to, or None for a builtin or undefined name."""
        if name in scope.global_names:
            return Resolved(self.module, name)
        if name in scope.nonlocal_names:
            return self._enclosing(scope.parent, name)
        if name in scope.bindings:
            return Resolved(scope, name)
        return self._enclosing(scope.parent, name)

    def is_builtin(self, scope: Scope, name: str) -> bool:
        """`next` read in `scope` is Python's own, not a function of the module's called `next`."""
        return self.resolve(scope, name) is None

    def _enclosing(self, scope: Optional[Scope], name: str) -> Optional[Resolved]:
        while scope is not None:
            if scope.kind is not ScopeKind.CLASS:  # class bodies are invisible to nested functions
                if name in scope.global_names:
                    return Resolved(self.module, name)
                if name in scope.bindings:
                    return Resolved(scope, name)
            scope = scope.parent
        return None

    @staticmethod
    def binding_at(resolved: Resolved, order: Optional[int]) -> Optional[Binding]:
        """The binding in force at `order` (the last one before it), or the last one if none precedes."""
        bindings = resolved.bindings
        if not bindings:
            return None
        if order is not None:
            before = [b for b in bindings if b.order < order]
            if before:
                return before[-1]
        return bindings[-1]

    # -- qualified names --------------------------------------------------------------------------

    def qualify(self, scope: Scope, expr: cst.BaseExpression, depth: int = 0) -> Optional[str]:
        """`J.lax.scan` with `import jax as J` -> "jax.lax.scan"; None when not an imported name."""
        if depth > _MAX_ALIAS_DEPTH or not isinstance(expr, (cst.Name, cst.Attribute)):
            return None
        root, path, chain = attribute_chain(expr)
        if root is None or any(isinstance(n, cst.Subscript) for n in chain):
            return None
        resolved = self.resolve(scope, root.value)
        if resolved is None:
            return ".".join((root.value, *path))  # a builtin such as `print`
        base = self._qualify_binding(resolved, depth)
        if base is None:
            return None
        return ".".join((base, *path))

    def _qualify_binding(self, resolved: Resolved, depth: int) -> Optional[str]:
        bindings = resolved.bindings
        qualified = {b.qualified for b in bindings if b.kind is BindingKind.IMPORT and b.qualified}
        if len(qualified) == 1 and all(b.kind is BindingKind.IMPORT for b in bindings):
            return qualified.pop()
        # `jit = jax.jit` at module level, bound once: an alias.
        if len(bindings) == 1 and bindings[0].kind is BindingKind.ASSIGNMENT and bindings[0].value is not None:
            return self.qualify(resolved.scope, bindings[0].value, depth + 1)
        return None

    def factory_of(self, scope: Scope, name: str) -> Optional[str]:
        """For `rng.normal()` / `logger.info()` read in `scope`, with `rng = np.random.default_rng(0)`
        bound outside it: the qualified name of the call that made the object ("numpy.random.default_rng")."""
        resolved = self.resolve(scope, name)
        if resolved is None or resolved.scope is scope:
            return None
        binding = self.binding_at(resolved, None)
        if binding is None or binding.kind is not BindingKind.ASSIGNMENT or not isinstance(binding.value, cst.Call):
            return None
        return self.qualify(resolved.scope, binding.value.func)

    # -- functions, classes and instances ---------------------------------------------------------

    def self_method(self, scope: Scope, name: str) -> Optional[Scope]:
        """If `name` read in `scope` is the instance parameter of an enclosing method, that method."""
        resolved = self.resolve(scope, name)
        if resolved is None or resolved.scope.kind is not ScopeKind.FUNCTION:
            return None
        method = resolved.scope
        if method.self_name == name and len(resolved.bindings) == 1:
            return method
        return None

    def cls_method(self, scope: Scope, name: str) -> Optional[Scope]:
        """If `name` read in `scope` is the `cls` parameter of an enclosing classmethod, its class."""
        resolved = self.resolve(scope, name)
        if resolved is None or resolved.scope.kind is not ScopeKind.FUNCTION or len(resolved.bindings) != 1:
            return None
        method = resolved.scope
        cls = method.enclosing_class
        if cls is None or not method.params or method.params[0] != name:
            return None
        return cls if "classmethod" in method.decorator_names() else None

    def class_of_binding(self, binding: Optional[Binding]) -> Optional[Scope]:
        if binding is not None and binding.kind is BindingKind.CLASS:
            return binding.scope
        return None

    def instance_class(self, scope: Scope, binding: Optional[Binding]) -> Optional[Scope]:
        """For `obj = SomeClass(...)`, the class scope of SomeClass (defined in this module)."""
        if binding is None or binding.kind is not BindingKind.ASSIGNMENT:
            return None
        value = binding.value
        if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Name):
            return None
        owner = binding.scope or scope
        resolved = self.resolve(owner, value.func.value)
        if resolved is None:
            return None
        return self.class_of_binding(self.binding_at(resolved, binding.order))

    def methods(self, cls: Scope, name: str) -> Optional[Scope]:
        """Method `name` of `cls` or of a base class defined in this module (depth-first)."""
        seen: set[int] = set()
        for klass in self.mro(cls, seen):
            for binding in reversed(klass.bindings.get(name, [])):
                if binding.kind is BindingKind.FUNCTION and binding.scope is not None:
                    return binding.scope
        return None

    def mro(self, cls: Scope, seen: Optional[set[int]] = None) -> Iterator[Scope]:
        seen = set() if seen is None else seen
        if id(cls) in seen:
            return
        seen.add(id(cls))
        yield cls
        node = cls.node
        assert isinstance(node, cst.ClassDef)
        for base in node.bases:
            if isinstance(base.value, cst.Name) and cls.parent is not None:
                resolved = self.resolve(cls.parent, base.value.value)
                base_scope = self.class_of_binding(self.binding_at(resolved, None)) if resolved else None
                if base_scope is not None:
                    yield from self.mro(base_scope, seen)
