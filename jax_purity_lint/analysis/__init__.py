"""Static analysis of trace-caching sites and the Python state they touch (libcst only; never imports JAX).

The modules load on first use: `jax_api`, the registry of transformations, is also read by the
runtime checker's child interpreter, which must not pay for (or need) libcst.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .module_analysis import ModuleAnalysis, analyse_module

__all__ = ["ModuleAnalysis", "analyse_module"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import module_analysis

    return getattr(module_analysis, name)
