"""Trace-caching sites: where a function is handed to jit (or another transformation that caches its
trace) and which function that is, in every form of application."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterator, Optional

import libcst as cst

from . import jax_api
from .resolution import Resolver
from .scopes import BindingKind, EffectKind, Scope, ScopeKind
from .tree import function_argument

_MAX_DEPTH = 6


class SelfMode(Enum):
    """How a traced method's `self` reaches the trace."""

    FROZEN = "bound method"  # `jax.jit(obj.method)`: self is a closure constant
    STATIC = "static argument"  # `partial(jax.jit, static_argnums=0)`: hashed by identity, reused
    ARGUMENT = "traced argument"  # `@jax.jit` on a method: self is flattened as a pytree argument
    FRESH = "fresh object"  # `__init__` reached by constructing an object inside traced code
    GLOBAL = "module-level object"  # `counter.count()` reached from traced code


@dataclass(frozen=True)
class Transform:
    qualified: str
    static_argnums: tuple[int, ...] = ()
    static_argnames: tuple[str, ...] = ()
    # A project-defined wrapper that hands its argument to `qualified` (`def compiled(fn): return
    # jax.jit(fn)`), as the site spells it: messages name it.
    via: Optional[str] = None
    # For a wrapper: it returns what `qualified` returns (or the function itself), so what it makes
    # is called like the function; `fix` follows calls only through such wrappers.
    wrapper_returns_it: bool = False

    @property
    def spelled(self) -> str:
        """How messages name the transformation, quoted: "`jax.jit`", "`compiled`, a `jax.jit` wrapper,"."""
        return f"`{self.qualified}`" if self.via is None else f"`{self.via}`, a `{self.qualified}` wrapper,"

    @property
    def state_aware(self) -> bool:
        return self.qualified in jax_api.STATE_AWARE


@dataclass(eq=False)
class Target:
    scope: Scope
    self_mode: Optional[SelfMode] = None
    instance: Optional[str] = None  # `obj` in `jax.jit(obj.method)`


@dataclass(eq=False)
class TraceSite:
    node: cst.CSTNode  # decorator expression or call
    transform: Transform
    scope: Scope  # where the site is
    targets: list[Target] = field(default_factory=list)
    compile_and_cache: bool = True
    order: int = 0  # position in the module, to tell set-up before any site from later changes
    # A loop body made afresh by each call of the function that runs the loop: traced anew per call,
    # yet run once per trace where the eager loop runs it per iteration (a print or an append in it
    # differs within one call). Only a root where nothing else traces the function running the loop.
    fresh_per_call: bool = False


class SiteFinder:
    def __init__(
        self,
        resolver: Resolver,
        jit_functions: frozenset[str],
        state_aware: frozenset[str],
        applied_calls: frozenset[int] = frozenset(),
    ) -> None:
        self.resolver = resolver
        self.applied_calls = applied_calls
        self.caching = jax_api.COMPILE_AND_CACHE | jit_functions
        self.state_aware = jax_api.STATE_AWARE | state_aware
        self.configured = bool(jit_functions or state_aware)  # sites beyond JAX's own may be found
        self._wrappers: dict[int, Optional[Transform]] = {}  # by id of the wrapper's scope

    def _qualify(self, scope: Scope, expr: cst.BaseExpression) -> Optional[str]:
        qualified = self.resolver.qualify(scope, expr)
        return jax_api.canonical(qualified) if qualified else None

    # -- what a callee expression is --------------------------------------------------------------

    def caching_transform(self, scope: Scope, expr: cst.BaseExpression, depth: int = 0) -> Optional[Transform]:
        """`jax.jit`, `partial(jax.jit, ...)`, `jax.jit(static_argnames=...)`, or a name bound to one."""
        if depth > _MAX_DEPTH:
            return None
        qualified = self._qualify(scope, expr)
        if qualified in self.caching:
            return Transform(qualified)
        if isinstance(expr, cst.Call):
            callee = self._qualify(scope, expr.func)
            positional = [a for a in expr.args if a.keyword is None and not a.star]
            if callee == jax_api.PARTIAL and positional:
                inner = self.caching_transform(scope, positional[0].value, depth + 1)
                if inner is not None and len(positional) == 1:
                    return _with_options(inner, expr)
            elif callee in self.caching and not positional and not _passes_function_by_keyword(expr):
                return _with_options(Transform(callee), expr)
            factory = self._defined_function(scope, expr.func)
            if factory is not None:
                return self._factory_product(factory, depth)
        if isinstance(expr, cst.Name):
            resolved = self.resolver.resolve(scope, expr.value)
            binding = resolved.bindings[0] if resolved is not None and len(resolved.bindings) == 1 else None
            if binding is None:
                return None
            if binding.kind is BindingKind.ASSIGNMENT and isinstance(binding.value, cst.Call):
                return self.caching_transform(resolved.scope, binding.value, depth + 1)
            if binding.kind in (BindingKind.FUNCTION, BindingKind.CLASS) and binding.scope is not None:
                return self._wrapper_transform(binding, expr.value, depth)
        return None

    # -- project-defined jit wrappers -------------------------------------------------------------

    def _defined_function(self, scope: Scope, expr: cst.BaseExpression) -> Optional[Scope]:
        """The one def of this module `expr` (a name) is bound to, else None."""
        resolved = self.resolver.resolve(scope, expr.value) if isinstance(expr, cst.Name) else None
        if resolved is None or len(resolved.bindings) != 1:
            return None
        binding = resolved.bindings[0]
        return binding.scope if binding.kind is BindingKind.FUNCTION else None

    def _wrapper_transform(self, binding, spelled: str, depth: int) -> Optional[Transform]:
        """`compiled` for `def compiled(fn): return jax.jit(fn)`, or a class whose `__init__` does
        `self._fn = jax.jit(fn)`: a function that hands its first argument to a caching
        transformation traces that argument once and caches it, as the transformation does."""
        if binding.kind is BindingKind.CLASS:
            function = self.resolver.methods(binding.scope, "__init__")
            skip = 1
        else:
            function, skip = binding.scope, 1 if binding.scope.self_name is not None else 0
        if function is None:
            return None
        inner = self._wraps_first_argument(function, skip, depth)
        if inner is None:
            return None
        # A class makes an object of its own, whatever its `__init__` returns.
        returns_it = inner.wrapper_returns_it and binding.kind is BindingKind.FUNCTION
        return dataclasses.replace(inner, via=spelled, wrapper_returns_it=returns_it)

    def _factory_product(self, factory: Scope, depth: int) -> Optional[Transform]:
        """`@compile_step()` where `compile_step` returns a nested jit wrapper (`def deco(fn): return
        jax.jit(fn, ...)`; `return deco`): the decorator it makes is that wrapper."""
        for name in sorted(factory.returned_names):
            for binding in factory.bindings.get(name, []):
                if binding.kind is BindingKind.FUNCTION and binding.scope is not None:
                    inner = self._wraps_first_argument(binding.scope, 0, depth)
                    if inner is not None:
                        return dataclasses.replace(inner, via=factory.name)
        return None

    def _wraps_first_argument(self, function: Scope, skip: int, depth: int) -> Optional[Transform]:
        """The caching transformation `function`'s first positional parameter (after `skip`) is handed
        to somewhere in its body: `jax.jit(fn, ...)`, another wrapper `compiled(fn)`, or a jitted
        inner function calling `fn`."""
        key = id(function)
        if key in self._wrappers:
            return self._wrappers[key]
        self._wrappers[key] = None  # a recursion ends here
        node = function.node
        found: Optional[Transform] = None
        if isinstance(node, cst.FunctionDef) and depth <= _MAX_DEPTH:
            positional = [*node.params.posonly_params, *node.params.params][skip:]
            if positional:
                found = self._hands_on(function, positional[0].name.value, depth + 1)
        self._wrappers[key] = found
        return found

    def _hands_on(self, function: Scope, parameter: str, depth: int) -> Optional[Transform]:
        for inner in _own_functions(function):
            for effect in inner.effects:
                if effect.kind is not EffectKind.CALL or effect.call is None:
                    continue
                call = effect.call
                transform = self.applied_transform(inner, call, depth)
                if transform is not None and self._is_parameter(inner, _function_argument(call), function, parameter):
                    calls_like_it = inner is function and _returns_only(function, call, parameter) and (
                        transform.via is None and transform.qualified in jax_api.CALL_PRESERVING or transform.wrapper_returns_it
                    )
                    return dataclasses.replace(transform, wrapper_returns_it=calls_like_it)
            if inner is not function and inner.kind is ScopeKind.FUNCTION and inner.parent is not None:
                # `@jax.jit def run(*args): return fn(*args)`: the jitted inner function traces `fn`.
                calls_it = any(
                    effect.kind is EffectKind.CALL and effect.call is not None
                    and self._is_parameter(inner, effect.call.func, function, parameter)
                    for effect in inner.effects
                )
                if calls_it:
                    for decorator in inner.decorators:
                        transform = self.caching_transform(inner.parent, decorator.decorator, depth)
                        if transform is not None:
                            return transform
        return None

    def _is_parameter(self, scope: Scope, expr: Optional[cst.BaseExpression], function: Scope, parameter: str) -> bool:
        if not isinstance(expr, cst.Name) or expr.value != parameter:
            return False
        resolved = self.resolver.resolve(scope, parameter)
        return (
            resolved is not None
            and resolved.scope is function
            and all(b.kind is BindingKind.ARGUMENT for b in resolved.bindings)
        )

    # -- sites ------------------------------------------------------------------------------------

    def find(self, scopes: list[Scope]) -> list[TraceSite]:
        sites: list[TraceSite] = []
        for scope in scopes:
            if scope.kind is ScopeKind.FUNCTION:
                sites.extend(self._decorator_sites(scope))
            for effect in scope.effects:
                if effect.kind is EffectKind.CALL and effect.call is not None:
                    site = self._call_site(scope, effect.call, effect.order)
                    if site is None:
                        continue
                    if site.fresh_per_call or not self._traces_fresh_function_once(site, effect.in_loop):
                        sites.append(site)
        return sites

    def _decorator_sites(self, function: Scope) -> Iterator[TraceSite]:
        owner = function.parent
        assert owner is not None
        for decorator in function.decorators:
            expr = decorator.decorator
            transform = self.caching_transform(owner, expr)
            if transform is not None:
                mode = None
                if function.self_name is not None:
                    static = 0 in transform.static_argnums or function.self_name in transform.static_argnames
                    mode = SelfMode.STATIC if static else SelfMode.ARGUMENT
                yield TraceSite(decorator.decorator, transform, owner, [Target(function, mode)], order=function.order)
                continue
            qualified = self._qualify(owner, expr.func if isinstance(expr, cst.Call) else expr)
            if qualified in jax_api.IDENTITY_CACHED_ARGUMENTS and _long_lived(function):
                mode = SelfMode.ARGUMENT if function.self_name else None
                yield TraceSite(
                    expr, Transform(qualified), owner, [Target(function, mode)], False, function.order
                )

    def _traces_fresh_function_once(self, site: TraceSite, site_in_loop: bool) -> bool:
        """`jax.eval_shape(lambda: ...)` or `jax.jit(inner)(x)` on a function made anew on each call of
        the enclosing function: the cache is keyed by that new object, so every call traces again and
        nothing can go stale. Such a site is not a trace-caching site."""
        run_now = id(site.node) in self.applied_calls or site.transform.qualified in jax_api.RUN_AT_ONCE
        if not run_now or not site.targets:
            return False
        if self._wraps_a_fresh_callable(site, site_in_loop):
            return True
        for target in site.targets:
            if _long_lived(target.scope) or target.scope.self_name is not None:
                return False
            if site_in_loop and not _made_in_loop(target.scope):
                return False  # one function object reused across iterations of the loop
        return True

    def _wraps_a_fresh_callable(self, site: TraceSite, site_in_loop: bool) -> bool:
        """`jax.pmap(partial(self._one, k=v))(x)` or `jax.eval_shape(self.m, x)` in a function body: a
        `partial` or a bound method is a new object each time the expression runs, and jit caches by
        that object, so every call of the enclosing function traces afresh (verified on jax 0.10)."""
        call = site.node
        if site.scope.kind is not ScopeKind.FUNCTION or not isinstance(call, cst.Call):
            return False
        expr = _function_argument(call)
        made_in_loop = site_in_loop
        if isinstance(expr, cst.Name):
            bindings = site.scope.bindings.get(expr.value, [])
            if len(bindings) != 1 or bindings[0].kind is not BindingKind.ASSIGNMENT or bindings[0].value is None:
                return False
            expr, made_in_loop = bindings[0].value, bindings[0].in_loop
        if site_in_loop and not made_in_loop:
            return False  # one object, made before the loop, reused by every iteration
        if isinstance(expr, cst.Call):
            return self._qualify(site.scope, expr.func) == jax_api.PARTIAL
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            return all(t.self_mode is SelfMode.FROZEN for t in self.targets(site.scope, expr, site.order))
        return False

    def applied_transform(self, scope: Scope, call: cst.Call, depth: int = 0) -> Optional[Transform]:
        """The caching transformation `call` hands a function to, with its options: `jax.jit(f, ...)`,
        `partial(jax.jit, ...)(f)`, `jax.jit(static_argnames=...)(f)`, `my_jit(f)` with
        `my_jit = partial(jax.jit, ...)`, aliases and configured jit functions alike. `fix` asks this
        too, so that what it follows is what the analysis calls a site."""
        qualified = self._qualify(scope, call.func)
        if qualified in self.caching:
            transform: Optional[Transform] = _with_options(Transform(qualified), call)
        elif isinstance(call.func, cst.Call) or (isinstance(call.func, cst.Name) and qualified is None):
            transform = self.caching_transform(scope, call.func, depth)
        else:
            transform = None
        return transform if transform is not None and _function_argument(call) is not None else None

    def identity_cached_primitive(self, scope: Scope, callee: cst.BaseExpression) -> Optional[str]:
        """`lax.scan` in `lax.scan(body, ...)`, `jax.checkpoint` in `@jax.checkpoint`: the primitive
        that caches by function identity."""
        qualified = self._qualify(scope, callee)
        return qualified if qualified in jax_api.IDENTITY_CACHED_ARGUMENTS else None

    def _call_site(self, scope: Scope, call: cst.Call, order: int) -> Optional[TraceSite]:
        transform = self.applied_transform(scope, call)
        qualified = self._qualify(scope, call.func)
        if transform is None and qualified in self.caching:
            return None  # `jax.jit(static_argnames=...)` alone: the site is the call applying it
        if transform is not None:
            function = _function_argument(call)
            assert function is not None
            targets = list(self.targets(scope, function, order))
            for target in targets:
                if target.self_mode is SelfMode.ARGUMENT:
                    static = 0 in transform.static_argnums or (
                        target.scope.self_name in transform.static_argnames
                    )
                    if static:
                        target.self_mode = SelfMode.STATIC
            return TraceSite(call, transform, scope, targets, order=order)
        if qualified in jax_api.IDENTITY_CACHED_ARGUMENTS:
            targets = []
            positional = [a.value for a in call.args if a.keyword is None and not a.star]
            for index in jax_api.IDENTITY_CACHED_ARGUMENTS[qualified]:
                if index < len(positional):
                    functions = positional[index]
                    elements = functions.elements if isinstance(functions, (cst.List, cst.Tuple)) else [functions]
                    for element in elements:
                        expr = element.value if isinstance(element, cst.BaseElement) else element
                        targets.extend(self.targets(scope, expr, order))
            lasting = [t for t in targets if _long_lived(t.scope)]
            if lasting:
                return TraceSite(call, Transform(qualified), scope, lasting, False, order)
            if targets and qualified in jax_api.LOOP_BODIES and scope.kind is ScopeKind.FUNCTION:
                return TraceSite(call, Transform(qualified), scope, targets, False, order, fresh_per_call=True)
        return None

    # -- which function an expression denotes ----------------------------------------------------

    def targets(self, scope: Scope, expr: cst.BaseExpression, order: int, depth: int = 0) -> Iterator[Target]:
        if depth > _MAX_DEPTH:
            return
        resolver = self.resolver
        if isinstance(expr, cst.Lambda):
            lambda_scope = resolver.scope_of_node.get(id(expr))
            if lambda_scope is not None:
                yield Target(lambda_scope)
        elif isinstance(expr, cst.Name):
            resolved = resolver.resolve(scope, expr.value)
            binding = resolver.binding_at(resolved, _same_scope_order(resolved, scope, order)) if resolved else None
            if binding is None:
                return
            if binding.kind is BindingKind.FUNCTION and binding.scope is not None:
                mode = SelfMode.ARGUMENT if binding.scope.self_name else None
                yield Target(binding.scope, mode)
            elif binding.kind is BindingKind.ASSIGNMENT and binding.value is not None and resolved is not None:
                yield from self.targets(resolved.scope, binding.value, binding.order, depth + 1)
        elif isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            yield from self._method_targets(scope, expr.value.value, expr.attr.value, order)
        elif isinstance(expr, cst.Call):
            # `partial(f, ...)`, `jax.grad(f)`, `jax.jit(f)`: the function inside.
            qualified = self._qualify(scope, expr.func)
            if qualified in jax_api.TRANSPARENT or qualified in self.caching:
                inner = _function_argument(expr)
                if inner is not None:
                    yield from self.targets(scope, inner, order, depth + 1)

    def _method_targets(self, scope: Scope, owner: str, method_name: str, order: int) -> Iterator[Target]:
        resolver = self.resolver
        method = resolver.self_method(scope, owner)
        if method is not None and method.enclosing_class is not None:
            found = resolver.methods(method.enclosing_class, method_name)
            if found is not None:
                yield Target(found, SelfMode.FROZEN)
            return
        resolved = resolver.resolve(scope, owner)
        binding = resolver.binding_at(resolved, _same_scope_order(resolved, scope, order)) if resolved else None
        if resolved is None or binding is None:
            return
        cls = resolver.class_of_binding(binding)
        if cls is not None:  # `jax.jit(Model.method)`: self is an explicit argument
            found = resolver.methods(cls, method_name)
            if found is not None:
                yield Target(found, SelfMode.ARGUMENT if found.self_name else None)
            return
        cls = resolver.instance_class(resolved.scope, binding)
        if cls is not None:
            found = resolver.methods(cls, method_name)
            if found is not None:
                yield Target(found, SelfMode.FROZEN, instance=owner)


def _same_scope_order(resolved, scope: Scope, order: int) -> Optional[int]:
    """Position decides which binding is meant only within one scope; a function body runs later."""
    return order if resolved is not None and resolved.scope is scope else None


def _passes_function_by_keyword(call: cst.Call) -> bool:
    return any(arg.keyword is not None and arg.keyword.value in jax_api.FUNCTION_KEYWORDS for arg in call.args)


def _function_argument(call: cst.Call) -> Optional[cst.BaseExpression]:
    arg = function_argument(call)
    return None if arg is None else arg.value


def _with_options(transform: Transform, call: cst.Call) -> Transform:
    argnums, argnames = list(transform.static_argnums), list(transform.static_argnames)
    for arg in call.args:
        if arg.keyword is None:
            continue
        if arg.keyword.value == "static_argnums":
            argnums.extend(_literal_ints(arg.value))
        elif arg.keyword.value == "static_argnames":
            argnames.extend(_literal_strings(arg.value))
    return Transform(transform.qualified, tuple(argnums), tuple(argnames))


def _literal_ints(expr: cst.BaseExpression) -> list[int]:
    if isinstance(expr, cst.Integer):
        try:
            return [int(expr.evaluated_value)]  # `0x1`, `1_000`; a 5,000-digit literal raises
        except (ValueError, SyntaxError):
            return []
    if isinstance(expr, (cst.Tuple, cst.List)):
        return [v for e in expr.elements for v in _literal_ints(e.value)]
    return []


def _literal_strings(expr: cst.BaseExpression) -> list[str]:
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return [value] if isinstance(value, str) else []
    if isinstance(expr, (cst.Tuple, cst.List)):
        return [v for e in expr.elements for v in _literal_strings(e.value)]
    return []


def _returns_only(function: Scope, call: cst.Call, parameter: str) -> bool:
    """Every `return` of `function`'s own body returns `call`, or the parameter itself (`if not
    enabled: return fn`), and the body cannot end without one."""
    node = function.node
    if not isinstance(node, cst.FunctionDef):
        return False
    body = node.body.body
    ends_with_return = bool(body) and isinstance(body[-1], cst.SimpleStatementLine) and any(
        isinstance(statement, cst.Return) for statement in body[-1].body
    )
    return ends_with_return and all(
        value is call or (isinstance(value, cst.Name) and value.value == parameter) for value in function.returned_values
    )


def _own_functions(function: Scope) -> Iterator[Scope]:
    """`function` and the functions, lambdas and comprehensions nested in it (not classes)."""
    yield function
    for child in function.children:
        if child.kind is not ScopeKind.CLASS:
            yield from _own_functions(child)


def _made_in_loop(function: Scope) -> bool:
    """A lambda, or a def whose binding sits in a loop body: a new object every iteration."""
    if function.kind is not ScopeKind.FUNCTION or function.parent is None:
        return True
    return any(b.in_loop for b in function.parent.bindings.get(function.name, []) if b.scope is function)


def _long_lived(function: Scope) -> bool:
    """A function object that survives between calls: module-level or a method of a module-level class."""
    parent = function.parent
    if parent is None:
        return False
    if parent.kind is ScopeKind.MODULE:
        return True
    return parent.kind is ScopeKind.CLASS and parent.parent is not None and parent.parent.kind is ScopeKind.MODULE
