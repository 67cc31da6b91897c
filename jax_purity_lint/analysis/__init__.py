"""Static analysis of trace-caching sites and the Python state they touch (libcst only; never imports JAX)."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from ..settings import Settings
from . import jax_api
from .cache_life import CacheLives, ModuleFacts
from .collector import collect
from .reachability import Reachability, TraceContext
from .resolution import Resolver
from .scopes import Scope
from .sites import SiteFinder, TraceSite
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


def analyse_module(module: cst.Module, settings: Settings) -> ModuleAnalysis:
    collected = collect(module)
    resolver = Resolver(collected)
    finder = SiteFinder(
        resolver, settings.jit_functions, settings.state_aware_functions, frozenset(collected.applied_calls)
    )
    sites = finder.find(collected.all_scopes)
    traced = Reachability(resolver).traced_scopes(sites) if sites else {}
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
    return ModuleAnalysis(module, resolver, sites, traced, state, collected.turns_on_hijax, lives)


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
