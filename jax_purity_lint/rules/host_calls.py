"""Which calls in traced code reach host-side Python effects (printing, host randomness, clocks)."""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from ..analysis import jax_api
from ..analysis.scopes import BindingKind, EffectKind, Scope
from .base import RuleContext, traced_effects


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
            factory = _global_factory(context, scope, call.func.value.value)
        yield scope, trace, effect, qualified or "", factory


def _global_factory(context: RuleContext, scope: Scope, name: str) -> Optional[str]:
    """For `rng.normal()` with `rng = np.random.default_rng(0)` outside the trace: "numpy.random.default_rng"."""
    resolver = context.resolver
    resolved = resolver.resolve(scope, name)
    if resolved is None or resolved.scope is scope:
        return None
    binding = resolver.binding_at(resolved, None)
    if binding is None or binding.kind is not BindingKind.ASSIGNMENT or not isinstance(binding.value, cst.Call):
        return None
    return resolver.qualify(resolved.scope, binding.value.func)


def print_like(qualified: str, factory: Optional[str], method: Optional[str]) -> bool:
    if qualified in jax_api.PRINT_FUNCTIONS:
        return True
    if qualified.startswith("logging.") and qualified.rsplit(".", 1)[-1] in jax_api.LOGGER_METHODS:
        return True
    if qualified.startswith("absl.logging.") and qualified.rsplit(".", 1)[-1] in jax_api.LOGGER_METHODS:
        return True
    return factory in jax_api.LOGGER_FACTORIES and method in jax_api.LOGGER_METHODS


def host_random(qualified: str, factory: Optional[str]) -> bool:
    return (bool(qualified) and jax_api.is_host_randomness(qualified)) or factory in jax_api.HOST_GENERATOR_FACTORIES
