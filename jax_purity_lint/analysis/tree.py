"""Small questions about libcst nodes that the analysis, the rewrites and the runtime all ask."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from .jax_api import FUNCTION_KEYWORDS


def dotted_name(node: Optional[cst.CSTNode]) -> str:
    """`a.b.c` for a chain of names and attributes; "" for anything else (a call, a subscript, None)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base else ""
    return ""


def argument_for(call: cst.Call, params: list[str], parameter: str) -> Optional[cst.BaseExpression]:
    """What `call` passes for `parameter` of a function with these parameters: the keyword argument of
    that name, else the positional one at its index when no `*args`/`**kwargs` comes before it."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == parameter:
            return arg.value
    index = params.index(parameter)
    positional = [arg for arg in call.args if arg.keyword is None]
    for arg in positional[: index + 1]:
        if arg.star:
            return None
    return positional[index].value if index < len(positional) else None


def function_argument(call: cst.Call) -> Optional[cst.Arg]:
    """The argument holding the function a transformation is given: the first positional one, else one
    passed under a function keyword (`fun=`, `body_fun=`, ...); None behind `*args` or `**kwargs`,
    where it is not known."""
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            return arg
    return next((arg for arg in call.args if arg.keyword is not None and arg.keyword.value in FUNCTION_KEYWORDS), None)
