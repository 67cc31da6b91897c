"""The fallback: no code change, a comment above the finding saying how to make the state explicit.

Used for JPL402 (the loop feeding the data has to move out of the traced code) and whenever a
builder cannot produce a rewrite. It is never safe: it changes nothing but the comment.
"""

from __future__ import annotations

from .context import RewriteContext
from .model import Draft, Group

HOW = {
    "JPL100": "pass the global as an argument: `f(x, g)`",
    "JPL101": "take the value as an argument and return the new value with the output",
    "JPL102": "return the value to record and update the container outside the traced code",
    "JPL103": "pass the closure variable as an argument (and return its new value)",
    "JPL200": "keep the state outside the object: `method(self, state, ...) -> (out, new_state)`",
    "JPL201": "return the value to record; update the container outside the traced code",
    "JPL202": "pass the attribute as an argument: `method(self, x, attr)`",
    "JPL300": "return the updated argument (`return out, new_state`) instead of changing it",
    "JPL400": "use `jax.debug.print` (or `jax.debug.callback`) for output at run time",
    "JPL401": "pass a `jax.random` key as an argument, split it, and return the new key",
    "JPL402": "draw the item outside the traced code and pass it in: `step(x, next(it))`",
}


def build_advice(context: RewriteContext, group: Group) -> Draft:
    view = context.view
    first = group.first
    nodes = view.nodes_at(first.line, first.col)
    anchor = view.statement_of(nodes[0]) if nodes else None
    how = HOW.get(first.code, "make the state explicit: pass it in and return its new value")
    return Draft(
        context.edits,
        summary=f"no automatic rewrite for `{first.state}`",
        problems=["this needs a design decision a rewrite cannot make"],
        todo=[how],
        anchor=anchor,
        advice_only=True,
    )
