"""Which calls in traced code reach host-side Python effects (printing, host randomness, clocks)."""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from ..analysis import jax_api
from ..analysis.collector import named_parameters
from ..analysis.scopes import BindingKind, EffectKind, Scope, ScopeKind
from ..analysis.tree import argument_for
from .base import RuleContext, if_statements, traced_effects


def qualified_calls(context: RuleContext) -> Iterator[tuple[Scope, object, object, str, Optional[str]]]:
    """(scope, trace, effect, qualified name of the callee, qualified name of a global receiver's factory)."""
    resolver = context.resolver
    for scope, trace, effect in traced_effects(context, EffectKind.CALL):
        call = effect.call
        if call is None:
            continue
        qualified = resolver.qualify(scope, call.func)
        factory = None
        if qualified is None and isinstance(call.func, cst.Attribute) and isinstance(call.func.value, cst.Name):
            factory = resolver.factory_of(scope, call.func.value.value)
        yield scope, trace, effect, qualified or "", factory


def host_random(qualified: str, factory: Optional[str]) -> bool:
    return (bool(qualified) and jax_api.is_host_randomness(qualified)) or factory in jax_api.HOST_GENERATOR_FACTORIES


def switched_off(context: RuleContext, scope: Scope, effect) -> bool:
    """`if verbose: print(...)` in a helper that every traced call passes `verbose=False` (a literal, or
    the parameter's falsy default): the call never runs while tracing."""
    if not effect.branch or scope.kind is not ScopeKind.FUNCTION or not isinstance(scope.node, cst.FunctionDef):
        return False
    flags = _guarding_parameters(scope, effect.branch)
    if not flags:
        return False
    calls = list(_traced_calls_of(context, scope))
    if not calls:
        return False  # reached some other way (passed on, stored): the arguments are not known
    defaults = {p.name.value: p.default for p in named_parameters(scope.node.params)}
    return any(all(_falsy(_argument(call, scope, flag, defaults)) for call in calls) for flag in flags)


def _guarding_parameters(scope: Scope, branch: tuple[tuple[int, int], ...]) -> list[str]:
    """Parameters `p` such that the effect sits in the body of an `if p:` (never rebound in the scope)."""
    tests = {id(node): node.test for node in if_statements(scope.node)}
    flags = []
    for statement, arm in branch:
        test = tests.get(statement)
        if arm == 0 and isinstance(test, cst.Name) and test.value in scope.params:
            if all(b.kind is BindingKind.ARGUMENT for b in scope.bindings.get(test.value, [])):
                flags.append(test.value)
    return flags


def _traced_calls_of(context: RuleContext, function: Scope) -> Iterator[cst.Call]:
    for scope in context.traced:
        for effect in scope.effects:
            call = effect.call
            if effect.kind is not EffectKind.CALL or call is None:
                continue
            func = call.func
            name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
            if name == function.name:
                yield call


def _argument(call: cst.Call, function: Scope, flag: str, defaults) -> Optional[cst.BaseExpression]:
    if any(arg.star for arg in call.args):
        return None  # `f(*args)`: not known
    passed = argument_for(call, function.params, flag)
    return passed if passed is not None else defaults.get(flag)


def _falsy(expr: Optional[cst.BaseExpression]) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in ("False", "None")
    if isinstance(expr, cst.Integer):
        return expr.value == "0"
    return False
