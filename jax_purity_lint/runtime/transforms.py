"""What a trace site's transformation is, from the runtime's point of view (by qualified name only;
shared by the parent and the child, so it imports nothing).

- function transforms (``jax.jit``, ``jax.pmap``, ``jax.checkpoint``, ``equinox.filter_jit``, ...)
  return a new function: the runtime records what each call of that function returns;
- immediate transforms (``jax.lax.scan``, ``fori_loop``, ``while_loop``, ``cond``, ``switch``,
  ``jax.eval_shape``) run at once: the runtime records what the call itself returns;
- ``jax.make_jaxpr`` only traces: its value is a jaxpr, which no eager run can produce.
"""

from __future__ import annotations

IMMEDIATE = frozenset({"scan", "fori_loop", "while_loop", "cond", "switch", "eval_shape", "map", "associative_scan"})
TRACE_ONLY = frozenset({"make_jaxpr"})
# Switching these off needs an eager implementation, not just the bare function.
NEEDS_STAND_IN = frozenset({"pmap", "filter_pmap"}) | IMMEDIATE
LAX_CONTROL_FLOW = frozenset({"scan", "fori_loop", "while_loop", "cond", "switch", "map", "associative_scan"})


def short_name(transform: str) -> str:
    return transform.rsplit(".", 1)[-1]


def is_immediate(transform: str) -> bool:
    return short_name(transform) in IMMEDIATE


def is_trace_only(transform: str) -> bool:
    return short_name(transform) in TRACE_ONLY


def needs_stand_in(transform: str) -> bool:
    return short_name(transform) in NEEDS_STAND_IN


def is_lax_control_flow(transform: str) -> bool:
    return short_name(transform) in LAX_CONTROL_FLOW
