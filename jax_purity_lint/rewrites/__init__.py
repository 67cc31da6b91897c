"""Explicit-state rewrites: a concrete, verified suggestion for every diagnosis (`jax-purity-lint fix`)."""

from .model import ModuleFix, Rewrite
from .planner import fix_source

__all__ = ["fix_source", "ModuleFix", "Rewrite"]
