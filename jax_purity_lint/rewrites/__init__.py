"""Explicit-state rewrites: a concrete, verified suggestion for every diagnosis (`jax-purity-lint fix`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import ModuleFix, Rewrite
    from .planner import fix_source

__all__ = ["fix_source", "ModuleFix", "Rewrite"]
_HOMES = {"fix_source": "planner", "ModuleFix": "model", "Rewrite": "model"}


def __getattr__(name: str) -> Any:
    """Loaded on first use: the main CLI registers `fix` on every run, `check` never needs libcst's
    rewriting machinery."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
