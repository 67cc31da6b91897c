"""What a trace site's transformation is, from the runtime's point of view, by qualified name: the
registry's runtime view (analysis/jax_api.py, which imports nothing, so the parent and the child
both read it).

- function transforms (``jax.jit``, ``jax.pmap``, ``jax.checkpoint``, ``equinox.filter_jit``, ...)
  return a new function: the runtime records what each call of that function returns;
- immediate transforms (``jax.lax.scan``, ``fori_loop``, ``while_loop``, ``cond``, ``switch``,
  ``jax.eval_shape``) run at once: the runtime records what the call itself returns;
- ``jax.make_jaxpr`` only traces: its value is a jaxpr, which no eager run can produce.

A transform the registry does not know is a configured jit function (`jit-functions`): the analysis
reports no other kind of site. It caches traces like ``jax.jit`` and is switched off and recorded the
way ``jax.jit`` is, whatever its last name (`mylib.map` is not `jax.lax.map`).
"""

from __future__ import annotations

from ..analysis import jax_api
from ..analysis.jax_api import RuntimeView, Transformation

LIKE_A_CONFIGURED_JIT_FUNCTION = jax_api.BY_NAME["jax.jit"]


def record_of(transform: str) -> Transformation:
    """The registry's record, or jax.jit's for a configured jit function."""
    return jax_api.transformation(transform) or LIKE_A_CONFIGURED_JIT_FUNCTION


def is_immediate(transform: str) -> bool:
    return record_of(transform).runtime is RuntimeView.IMMEDIATE


def is_trace_only(transform: str) -> bool:
    return record_of(transform).runtime is RuntimeView.TRACE_ONLY


def needs_stand_in(transform: str) -> bool:
    return record_of(transform).needs_stand_in
