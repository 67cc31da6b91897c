"""JPL202: an attribute read from a frozen `self` becomes an argument.

`def clip(self, x): return jnp.minimum(x, self.limit)` -> `def clip(self, x, limit): ...minimum(x, limit)`,
and every call passes the object's current value: `fast_clip(x)` -> `fast_clip(x, clipper.limit)`.
The object keeps its attribute (other methods still change it, eagerly); the traced method now sees
it as a traced argument instead of a constant frozen with `self`. Traced helpers called through
`self` take it too and receive it from their caller.

Safe when every call of the method (and of its traced callers) is on an object we can name at the
call: a variable holding an object of the class, or `self` inside the class.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from .access import longest_read_path, path_text, root_name
from .context import RewriteContext
from .functions import Slot
from .model import Draft, Group
from .names import python_identifier, variables_in
from .threading import Thread
from .uses import Use, self_parameter
from .view import FunctionNode, ModuleView, walk


def build_stale_self_read(context: RewriteContext, group: Group) -> Draft:
    view = context.view
    if any(d.variant == "static-argument" for d in group.diagnostics):
        # `m.data` on a static argument: its callers would pass the attribute too; advice only.
        from .advice import build_advice

        return build_advice(context, group)
    threader = context.threader()
    problems: list[str] = []
    seeds: list[tuple[cst.FunctionDef, str]] = []
    for diagnostic in group.diagnostics:
        name = view.node_of(diagnostic, cst.Name)
        function = view.enclosing_function(name) if name is not None else None
        if function is None or not isinstance(function, cst.FunctionDef):
            problems.append(f"{view.place_of_line(diagnostic.line)}: cannot find the read of `{diagnostic.state}`")
            continue
        path = longest_read_path(view, name)
        attribute = path_text(view, path)[len(name.value) + 1:]  # `limit` from `self.limit`
        seeds.append((function, attribute))
    if not seeds:
        from .advice import build_advice

        return build_advice(context, group)
    attribute = seeds[0][1]
    thread = _attribute_thread(view, python_identifier(attribute), attribute)
    for function, _attribute in seeds:
        threader.seed(function, thread, takes=True, gives=False)
    threader.propagate()
    # Named once the converted functions are known: the name must be free in each of them.
    local = _parameter_name([e.conversion.function for e in threader.converted.values()], attribute)
    thread.slot.local = local
    threader.emit()
    problems.extend(threader.problems)
    converted = sorted({e.conversion.function.name.value for e in threader.converted.values()})
    listed = ", ".join(f"`{name}`" for name in converted)
    verb = "takes" if len(converted) == 1 else "take"
    summary = (
        f"{listed} {verb} `self.{attribute}` as the argument `{local}`; every call passes the object's current value"
    )
    todo = [f"pass `{local}` at the calls of {listed} in other modules"]
    return Draft(context.edits, summary, list(dict.fromkeys(problems)), todo, seeds[0][0])


def _parameter_name(functions: list, attribute: str) -> str:
    base = python_identifier(attribute)
    taken = set().union(*(variables_in(f) for f in functions)) if functions else set()
    for candidate in (base, f"{base}_value", f"current_{base}"):
        if candidate not in taken:
            return candidate
    return f"{base}_arg"


def _attribute_thread(view: ModuleView, local: str, attribute: str) -> Thread:
    def outer_value(use: Use):
        receiver = use.receiver
        if not isinstance(receiver, cst.Name):
            return "the object the method is called on is not a plain variable"
        site = use.call if use.call is not None else use.node
        problem = _receiver_problem(view, receiver, site)
        if problem:
            return problem
        return cst.parse_expression(f"{receiver.value}.{attribute}")

    def inside(function: FunctionNode) -> list[cst.CSTNode]:
        if not isinstance(function, cst.FunctionDef):
            return []
        self_name = self_parameter(function)
        text = f"{self_name}.{attribute}"
        return [
            node for node in walk(function.body)
            if isinstance(node, (cst.Attribute, cst.Subscript)) and view.is_load(node) and path_text(view, node) == text
            and root_name(node) == self_name
        ]

    return Thread(Slot(local), outer_value, inside=inside, describe=f"self.{attribute}")


def _receiver_problem(view: ModuleView, receiver: cst.Name, site: cst.CSTNode) -> Optional[str]:
    """The receiver must mean the same object where the call is as where the method was taken."""
    where_taken = view.enclosing_function(receiver)
    where_called = view.enclosing_function(site)
    if where_taken is where_called:
        return None
    if where_taken is None and where_called is not None:
        from .functions import binds_locally

        if binds_locally(view, where_called, receiver.value):
            return f"`{receiver.value}` means something else where the call is"
        return None
    return f"`{receiver.value}` is not visible where the call is"
