"""One module's analysis: its trace-caching sites, what they trace, and the Python state they touch."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional, Union

import libcst as cst

from ..settings import Settings
from . import jax_api
from .cache_life import CacheLives, ModuleFacts
from .collector import collect
from .reachability import Reachability, TraceContext
from .resolution import Resolver
from .scopes import EffectKind, Scope, release_scopes
from .sites import SiteFinder, TraceSite, Transform
from .state import StateModel


@dataclass
class ModuleAnalysis:
    module: cst.Module
    resolver: Resolver
    sites: list[TraceSite]
    traced: dict[Scope, TraceContext]
    state: StateModel
    hijax: bool  # the module turns on flax nnx's hijax mode: Variables are refs jit carries out
    lives: CacheLives  # when a change of state can still reach a compiled cache
    finder: SiteFinder  # how sites were recognised, with the settings' jit functions
    scopes: list[Scope] = field(default_factory=list)  # every scope, in the order they were collected
    loop_ends: dict[int, int] = field(default_factory=dict)

    def release(self) -> None:
        """Let go of the links that make reference cycles (scope parents and children, the cache-life
        timelines), once nothing reads this analysis again: its tree is then freed at once, by
        reference counting, while the collector is paused (scopes.release_scopes)."""
        release_scopes(self.scopes)
        self.lives.release()

    def transformation_of(self, node: Union[cst.Call, cst.Decorator]) -> Optional[Transform]:
        """The transformation a call or a function's decorator applies to a function, recognised as
        trace sites are (aliases, `partial`, configured jit functions): a caching one with its
        options, or a primitive that caches by function identity (`lax.scan`, `jax.checkpoint`).
        The rewrites ask this, so that they follow what the analysis diagnosed."""
        if isinstance(node, cst.Decorator):
            return self._decorator_transformation(node.decorator)
        scope = self._scope_of_expression.get(id(node))
        if scope is None:
            return None
        transform = self.finder.applied_transform(scope, node)
        primitive = None if transform else self.finder.identity_cached_primitive(scope, node.func)
        return transform or (Transform(primitive) if primitive else None)

    def _decorator_transformation(self, expression: cst.BaseExpression) -> Optional[Transform]:
        scope = self._scope_of_expression.get(id(expression))
        if scope is None:
            return None
        transform = self.finder.caching_transform(scope, expression)
        callee = expression.func if isinstance(expression, cst.Call) else expression
        primitive = None if transform else self.finder.identity_cached_primitive(scope, callee)
        return transform or (Transform(primitive) if primitive else None)

    @cached_property
    def _scope_of_expression(self) -> dict[int, Scope]:
        """Each call's scope, and each decorator's: the scope the def is in."""
        found: dict[int, Scope] = {}
        for scope in self.resolver.scope_of_node.values():
            for effect in scope.effects:
                if effect.kind is EffectKind.CALL and effect.call is not None:
                    found[id(effect.call)] = scope
            for decorator in scope.decorators:
                if scope.parent is not None:
                    found[id(decorator.decorator)] = scope.parent
        return found


def analyse_module(module: cst.Module, settings: Settings) -> ModuleAnalysis:
    collected = collect(module)
    resolver = Resolver(collected)
    finder = SiteFinder(
        resolver, settings.jit_functions, settings.state_aware_functions, frozenset(collected.applied_calls)
    )
    sites = finder.find(collected.all_scopes)
    traced = Reachability(resolver).traced_scopes(sites) if sites else {}
    sites = [s for s in sites if not (s.fresh_per_call and s.scope in traced)]  # within another trace
    first_site_order = min((site.order for site in sites), default=0)
    # State is only worth sweeping when something is traced.
    state = StateModel(resolver, collected.all_scopes if traced else [], first_site_order, collected.loop_ends)
    lives = CacheLives(
        ModuleFacts(
            resolver,
            lambda scope, expr: _keeps_no_reference(finder, resolver, scope, expr),
            frozenset(collected.try_statements),
        )
    )
    return ModuleAnalysis(
        module, resolver, sites, traced, state, collected.turns_on_hijax, lives, finder,
        collected.all_scopes, collected.loop_ends,
    )


# Decorators that wrap a function without registering it anywhere else.
_PLAIN_DECORATORS = frozenset(
    {"staticmethod", "classmethod", "property", "functools.wraps", "functools.lru_cache", "functools.cache",
     "typing.overload", "abc.abstractmethod"}
)


def _keeps_no_reference(finder: SiteFinder, resolver: Resolver, scope: Scope, expr: cst.BaseExpression) -> bool:
    if finder.caching_transform(scope, expr) is not None:
        return True
    qualified = resolver.qualify(scope, expr.func if isinstance(expr, cst.Call) else expr)
    if qualified is None:
        return False
    qualified = jax_api.canonical(qualified)
    return (
        qualified in jax_api.WRAPS_WITHOUT_CALLING
        or qualified in jax_api.IDENTITY_CACHED_ARGUMENTS
        or qualified in _PLAIN_DECORATORS
    )
