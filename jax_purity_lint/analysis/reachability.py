"""Which scopes run while tracing, reached from which site by which path, and what `self` is there."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Optional

import libcst as cst

from . import jax_api
from .resolution import Resolver
from .scopes import BindingKind, EffectKind, Scope, ScopeKind, scope_and_nested
from .sites import SelfMode, TraceSite
from .tree import argument_for

_CONSTRUCTION_METHODS = ("__init__", "__post_init__")


@dataclass(frozen=True)
class TraceContext:
    site: TraceSite
    entry: Scope  # the function the site hands to the transformation
    path: tuple[str, ...]  # calls from the entry to this scope, e.g. ("penalty()",)
    self_mode: Optional[SelfMode]
    instance: Optional[str]  # the module-level object whose method this is, for SelfMode.GLOBAL

    @property
    def is_entry(self) -> bool:
        return not self.path

    @property
    def state_aware(self) -> bool:
        return self.site.transform.state_aware


class Reachability:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._host_parameters: dict[int, set[str]] = {}  # by id of a function's scope
        self._pytree_classes: Optional[list[Scope]] = None  # classes of the module registered as pytrees

    def traced_scopes(self, sites: list[TraceSite]) -> dict[Scope, TraceContext]:
        traced: dict[Scope, TraceContext] = {}
        # A loop body made per call is a root only where no other site traces the function running it.
        self._follow([s for s in sites if not s.fresh_per_call], traced)
        self._follow([s for s in sites if s.fresh_per_call and s.scope not in traced], traced)
        return traced

    def _follow(self, sites: list[TraceSite], traced: dict[Scope, TraceContext]) -> None:
        queue: deque[tuple[Scope, TraceContext]] = deque()
        for site in sites:
            for target in site.targets:
                queue.append((target.scope, TraceContext(site, target.scope, (), target.self_mode, target.instance)))
        while queue:
            scope, context = queue.popleft()
            if scope in traced:
                continue
            traced[scope] = context
            for callee, step, mode, instance in self._callees(scope, context):
                if callee not in traced:
                    path = context.path + (step,) if step else context.path
                    queue.append((callee, TraceContext(context.site, context.entry, path, mode, instance)))

    def _callees(
        self, scope: Scope, context: TraceContext
    ) -> Iterator[tuple[Scope, str, Optional[SelfMode], Optional[str]]]:
        host_side = self._host_callback_arguments(scope)
        for child in scope.children:
            # Lambdas and comprehensions run inside the trace with the same `self`; nested defs only
            # when called or passed on (below), and never when handed to a host callback.
            if child.kind in (ScopeKind.LAMBDA, ScopeKind.COMPREHENSION) and id(child.node) not in host_side:
                yield child, "", context.self_mode, context.instance
        for effect in scope.effects:
            if effect.kind is EffectKind.READ and effect.root is not None and effect.detail != "metadata":
                if id(effect.node) in host_side:
                    continue
                yield from self._read_callees(scope, context, effect.root, effect.path, effect.order)
            elif effect.kind is EffectKind.CALL and effect.call is not None and effect.root and not effect.path:
                yield from self._construction_callees(scope, effect.root, effect.order)
            elif effect.kind is EffectKind.MUTATOR_CALL and effect.root is not None and effect.detail:
                # `Stats.update(x)`, `buffer.add(x)`: a method of the module's own class, though named
                # like a container's (the collector records the call as a possible mutation, not a read).
                path = effect.path + (effect.detail,)
                yield from self._read_callees(scope, context, effect.root, path, effect.order)

    def _host_callback_arguments(self, scope: Scope) -> set[int]:
        """Nodes passed to `jax.debug.callback` and friends: they run on the host at run time."""
        nodes: set[int] = set()
        for effect in scope.effects:
            if effect.kind is EffectKind.CALL and effect.call is not None and effect.root is not None:
                qualified = self.resolver.qualify(scope, effect.call.func)
                if qualified in jax_api.HOST_CALLBACKS:
                    nodes.update(id(arg.value) for arg in effect.call.args)
                elif qualified is not None and not qualified.startswith("jax."):
                    nodes.update(_library_callbacks(effect.call))
                else:
                    nodes.update(self._handed_to_a_host_callback(scope, effect.call))
        return nodes

    def _handed_to_a_host_callback(self, scope: Scope, call: cst.Call) -> Iterator[int]:
        """Arguments of `_callback(cond, _update_tqdm)` where the module's `_callback` hands that
        parameter to `jax.debug.callback` (GPJax's progress bar): they too run on the host."""
        if not isinstance(call.func, cst.Name):
            return
        resolved = self.resolver.resolve(scope, call.func.value)
        binding = self.resolver.binding_at(resolved, None) if resolved else None
        if binding is None or binding.kind is not BindingKind.FUNCTION or binding.scope is None:
            return
        function = binding.scope
        host_only = self._host_parameters.get(id(function))
        if host_only is None:
            host_only = self._host_parameters[id(function)] = self._host_callback_parameters(function)
        if not host_only:
            return
        for parameter in host_only:
            passed = argument_for(call, function.params, parameter)
            if passed is not None:
                yield id(passed)

    def _host_callback_parameters(self, function: Scope) -> set[str]:
        """Parameters of `function` given as the callable of a host callback in it (or in a function
        nested in it) and never called directly."""
        handed: set[str] = set()
        called: set[str] = set()
        for scope in scope_and_nested(function):
            for effect in scope.effects:
                if effect.kind is not EffectKind.CALL or effect.call is None:
                    continue
                call = effect.call
                if isinstance(call.func, cst.Name):
                    called.add(call.func.value)
                if self.resolver.qualify(scope, call.func) not in jax_api.HOST_CALLBACKS or not call.args:
                    continue
                first = call.args[0].value
                if isinstance(first, cst.Name) and first.value in function.params:
                    resolved = self.resolver.resolve(scope, first.value)
                    if resolved is not None and resolved.scope is function:
                        handed.add(first.value)
        return handed - called

    def _read_callees(
        self, scope: Scope, context: TraceContext, root: str, path: tuple[str, ...], order: int
    ) -> Iterator[tuple[Scope, str, Optional[SelfMode], Optional[str]]]:
        resolver = self.resolver
        if path:
            method = resolver.self_method(scope, root)
            if method is not None and method.enclosing_class is not None:
                found = resolver.methods(method.enclosing_class, path[0])
                if found is not None:
                    yield found, f"self.{path[0]}()", context.self_mode, context.instance
                return
        resolved = resolver.resolve(scope, root)
        if resolved is None:
            return
        binding = resolver.binding_at(resolved, order if resolved.scope is scope else None)
        if binding is None:
            return
        if path and binding.kind is BindingKind.ARGUMENT:
            yield from self._argument_method_callees(scope, context, root, path[0])
            return
        if not path:
            if binding.kind is BindingKind.FUNCTION and binding.scope is not None:
                yield binding.scope, f"{root}()", None, None
            elif binding.kind is BindingKind.ASSIGNMENT and isinstance(binding.value, cst.Lambda):
                lambda_scope = resolver.scope_of_node.get(id(binding.value))
                if lambda_scope is not None:
                    yield lambda_scope, f"{root}()", None, None
            return
        cls = resolver.class_of_binding(binding)
        if cls is not None:
            found = resolver.methods(cls, path[0])
            if found is not None:
                yield found, f"{root}.{path[0]}()", SelfMode.ARGUMENT, None
            return
        cls = resolver.instance_class(resolved.scope, binding)
        if cls is not None and resolved.is_global:
            found = resolver.methods(cls, path[0])
            if found is not None:
                yield found, f"{root}.{path[0]}()", SelfMode.GLOBAL, root

    def _argument_method_callees(
        self, scope: Scope, context: TraceContext, root: str, method_name: str
    ) -> Iterator[tuple[Scope, str, Optional[SelfMode], Optional[str]]]:
        """`state.bump()` in the traced entry, on its own argument `state`, runs `bump` in the trace
        with `self` being that argument: a copy rebuilt from its leaves (a static argument: the
        caller's object, hashed and reused). Followed only where the class is known: the parameter's
        annotation names a class of the module, or a single pytree class of the module defines the
        method. In a helper, the same name may hold an object the entry made, so only the entry."""
        if not context.is_entry or scope is not context.entry or root == scope.self_name:
            return
        if len(scope.bindings.get(root, [])) != 1 or root in scope.packed_params:
            return  # rebound in the entry: no longer (only) the argument
        cls = self._annotated_class(scope, root)
        if cls is None and root not in scope.param_annotations:
            cls = self._only_pytree_class_with(method_name)
        if cls is None:
            return
        found = self.resolver.methods(cls, method_name)
        if found is None or found.self_name is None:
            return
        mode = SelfMode.STATIC if is_static_parameter(scope, context, root) else SelfMode.ARGUMENT
        yield found, f"{root}.{method_name}()", mode, None

    def _annotated_class(self, function: Scope, parameter: str) -> Optional[Scope]:
        annotation = function.param_annotations.get(parameter)
        if isinstance(annotation, cst.SimpleString):
            name = annotation.evaluated_value
        elif isinstance(annotation, cst.Name):
            name = annotation.value
        else:
            return None
        if not isinstance(name, str) or function.parent is None:
            return None
        resolved = self.resolver.resolve(function.parent, name)
        return self.resolver.class_of_binding(self.resolver.binding_at(resolved, None)) if resolved else None

    def _only_pytree_class_with(self, method_name: str) -> Optional[Scope]:
        if self._pytree_classes is None:
            self._pytree_classes = list(self._registered_pytree_classes())
        owners = [cls for cls in self._pytree_classes if self.resolver.methods(cls, method_name) is not None]
        return owners[0] if len(owners) == 1 else None

    def _registered_pytree_classes(self) -> Iterator[Scope]:
        """Module-level classes made pytrees: `@register_pytree_node_class` (or a sibling) on the class,
        or `register_pytree_node(Cls, ...)` called at module level."""
        module = self.resolver.module
        registered: set[str] = set()
        for effect in module.effects:
            call = effect.call
            if effect.kind is EffectKind.CALL and call is not None and call.args:
                first = call.args[0].value
                if isinstance(first, cst.Name) and self.resolver.qualify(module, call.func) in jax_api.PYTREE_REGISTRATIONS:
                    registered.add(first.value)
        for name, bindings in module.bindings.items():
            if len(bindings) != 1 or bindings[0].kind is not BindingKind.CLASS or bindings[0].scope is None:
                continue
            cls = bindings[0].scope
            decorated = any(
                self.resolver.qualify(module, d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
                in jax_api.PYTREE_REGISTRATIONS
                for d in cls.decorators
            )
            if decorated or name in registered:
                yield cls

    def _construction_callees(
        self, scope: Scope, root: str, order: int
    ) -> Iterator[tuple[Scope, str, Optional[SelfMode], Optional[str]]]:
        resolver = self.resolver
        resolved = resolver.resolve(scope, root)
        if resolved is None:
            return
        binding = resolver.binding_at(resolved, order if resolved.scope is scope else None)
        cls = resolver.class_of_binding(binding)
        if cls is not None:
            for name in _CONSTRUCTION_METHODS:
                found = resolver.methods(cls, name)
                if found is not None:
                    yield found, f"{root}()", SelfMode.FRESH, None
            return
        cls = resolver.instance_class(resolved.scope, binding) if resolved.is_global else None
        if cls is not None:  # `obj(x)` on a module-level object: its __call__
            found = resolver.methods(cls, "__call__")
            if found is not None:
                yield found, f"{root}()", SelfMode.GLOBAL, root


def call_parameters(entry: Scope, context: TraceContext) -> list[str]:
    """The parameters of the traced entry that a call of the compiled function fills, in order:
    `jax.jit(obj.method)` is called without the bound `self`."""
    if entry.self_name is not None and context.self_mode is SelfMode.FROZEN:
        return entry.params[1:]
    return entry.params


def is_static_parameter(entry: Scope, context: TraceContext, parameter: str) -> bool:
    """The transformation takes `parameter` of the traced entry as a static argument: the caller's
    object itself reaches the trace, hashed, and a later call with the same object reuses the trace."""
    transform = context.site.transform
    params = call_parameters(entry, context)
    return parameter in transform.static_argnames or (
        parameter in params and params.index(parameter) in transform.static_argnums
    )


# `Solver(..., callback=report)`: a library given a callback decides when it runs, and under jit that
# is through a host callback (or outside the trace), so the function is not taken as run by the trace.
_CALLBACK_KEYWORD = re.compile(r"(^|_)callbacks?$")


def _library_callbacks(call: cst.Call) -> Iterator[int]:
    """The values of a call's callback keywords (`callback=`, `step_callback=`, `callbacks=[...]`)."""
    for arg in call.args:
        if arg.keyword is not None and _CALLBACK_KEYWORD.search(arg.keyword.value):
            yield id(arg.value)
            if isinstance(arg.value, (cst.List, cst.Tuple)):
                yield from (id(element.value) for element in arg.value.elements)
