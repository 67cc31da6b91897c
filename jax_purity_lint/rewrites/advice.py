"""The fallback: no code change, a comment above the finding saying how to make the state explicit
(each rule's ADVICE).

Used for rules without a rewrite (JPL402: the loop feeding the data has to move out of the traced
code) and whenever a builder cannot produce a rewrite. It is never safe: it changes nothing but the comment.
"""

from __future__ import annotations

from ..rules import RULES_BY_CODE
from .context import RewriteContext
from .model import Draft, Group


def build_advice(context: RewriteContext, group: Group) -> Draft:
    view = context.view
    first = group.first
    nodes = view.nodes_of(first)
    anchor = view.statement_of(nodes[0]) if nodes else None
    how = RULES_BY_CODE[first.code].ADVICE
    return Draft(
        context.edits,
        summary=f"no automatic rewrite for `{first.state}`",
        problems=["this needs a design decision a rewrite cannot make"],
        todo=[how],
        anchor=anchor,
        advice_only=True,
    )
