"""Access paths: `g`, `settings.l2`, `CONFIG["temperature"]`, `self.limit` -- the state a read names."""

from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from .view import FunctionNode, ModuleView, walk


def root_name(node: cst.BaseExpression) -> Optional[str]:
    while isinstance(node, (cst.Attribute, cst.Subscript)):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None


def constant_index(node: cst.Subscript) -> bool:
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return False
    value = node.slice[0].slice.value
    return isinstance(value, (cst.SimpleString, cst.Integer))


def longest_read_path(view: ModuleView, name: cst.Name) -> cst.BaseExpression:
    """From the name read, up through `.attr` and `[constant]` -- but not into a method being called."""
    node: cst.BaseExpression = name
    while True:
        parent = view.parent(node)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            grand = view.parent(parent)
            if isinstance(grand, cst.Call) and grand.func is parent:
                return node
            node = parent
        elif isinstance(parent, cst.Subscript) and parent.value is node and constant_index(parent):
            if view.is_store(parent):
                return node
            node = parent
        else:
            return node


def path_text(view: ModuleView, node: cst.CSTNode) -> str:
    return "".join(view.code(node).split())


def matching_paths(
    view: ModuleView, function: FunctionNode, text: str, loads_only: bool = True
) -> Iterator[cst.BaseExpression]:
    """Nodes in ``function`` (nested scopes included) spelling the same access path."""
    for node in walk(function.body):
        if isinstance(node, (cst.Name, cst.Attribute, cst.Subscript)) and path_text(view, node) == text:
            if loads_only and not view.is_load(node):
                continue
            yield node


def copy_of(view: ModuleView, node: cst.CSTNode) -> cst.BaseExpression:
    """A fresh node with the same code (nodes must not be shared between two places in a tree)."""
    return cst.parse_expression(view.code(node).strip())
