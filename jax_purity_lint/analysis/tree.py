"""Small questions about libcst nodes that the analysis, the rewrites and the runtime all ask."""

from __future__ import annotations

from typing import Optional

import libcst as cst


def dotted_name(node: Optional[cst.CSTNode]) -> str:
    """`a.b.c` for a chain of names and attributes; "" for anything else (a call, a subscript, None)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base else ""
    return ""
