"""Editing a function that takes its state explicitly: new parameters, state returned with the output,
declarations that no longer apply, statements at the start of the body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import libcst as cst

from .edits import Edits, Lookup, tuple_of
from .view import FunctionNode, ModuleView, own_nodes, walk


@dataclass
class Slot:
    """One value a converted function takes and/or returns, under the name ``local`` in its body."""

    local: str
    annotation: Optional[str] = None  # e.g. `CounterState`


@dataclass
class Conversion:
    """What changes in one function's signature."""

    function: FunctionNode
    inputs: list[Slot] = field(default_factory=list)
    outputs: list[Slot] = field(default_factory=list)

    def add_input(self, slot: Slot) -> bool:
        if any(s.local == slot.local for s in self.inputs):
            return False
        self.inputs.append(slot)
        return True

    def add_output(self, slot: Slot) -> bool:
        if any(s.local == slot.local for s in self.outputs):
            return False
        self.outputs.append(slot)
        return True

    @property
    def by_keyword(self) -> bool:
        return new_parameters_are_keyword_only(self.function)

    @property
    def has_output(self) -> bool:
        return has_own_output(self.function)

    def problems(self) -> list[str]:
        found = []
        function = self.function
        name = function.name.value if isinstance(function, cst.FunctionDef) else "lambda"
        if isinstance(function, cst.Lambda) and self.outputs:
            found.append(f"`{name}` is a lambda: it cannot unpack a returned state (make it a def)")
        if isinstance(function, cst.FunctionDef) and not isinstance(function.body, cst.IndentedBlock):
            found.append(f"`{name}` has a one-line body")
        if isinstance(function, cst.FunctionDef) and any(isinstance(n, cst.Yield) for n in own_nodes(function)):
            found.append(f"`{name}` is a generator")
        if isinstance(function, cst.FunctionDef) and function.asynchronous is not None:
            found.append(f"`{name}` is async")
        return found


# -- parameters ------------------------------------------------------------------------------------------------


def new_parameters_are_keyword_only(function: FunctionNode) -> bool:
    """Appended parameters must be keyword-only after defaults or `*args`."""
    params = function.params
    has_default = any(p.default is not None for p in params.params)
    return has_default or isinstance(params.star_arg, cst.Param) or bool(params.kwonly_params)


def add_parameters(edits: Edits, function: FunctionNode, slots: Sequence[Slot]) -> None:
    if not slots:
        return
    keyword_only = new_parameters_are_keyword_only(function)
    with_annotations = isinstance(function, cst.FunctionDef)

    def change(node: Union[cst.FunctionDef, cst.Lambda]):
        params = node.params
        new = [cst.Param(cst.Name(slot.local), annotation=_annotation(slot, with_annotations)) for slot in slots]
        if keyword_only:
            star = params.star_arg if isinstance(params.star_arg, (cst.Param, cst.ParamStar)) else cst.ParamStar()
            params = params.with_changes(star_arg=star, kwonly_params=[*params.kwonly_params, *new])
        else:
            params = params.with_changes(params=[*params.params, *new])
        return node.with_changes(params=params)

    edits.transform(function, change)


def _annotation(slot: Slot, wanted: bool) -> Optional[cst.Annotation]:
    return cst.Annotation(cst.parse_expression(slot.annotation)) if slot.annotation and wanted else None


# -- returns --------------------------------------------------------------------------------------------------


def own_returns(function: cst.FunctionDef) -> list[cst.Return]:
    return [node for node in own_nodes(function) if isinstance(node, cst.Return)]


def has_own_output(function: FunctionNode) -> bool:
    if isinstance(function, cst.Lambda):
        return True
    return any(r.value is not None and not _is_none(r.value) for r in own_returns(function))


def falls_off_end(function: cst.FunctionDef) -> bool:
    body = function.body
    if not isinstance(body, cst.IndentedBlock) or not body.body:
        return True
    last = body.body[-1]
    if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], (cst.Return, cst.Raise)):
        return False
    return not _always_leaves(last)


def _always_leaves(statement: cst.BaseStatement) -> bool:
    """An if/else (or try) whose every branch ends in return/raise."""
    if isinstance(statement, cst.SimpleStatementLine):
        return isinstance(statement.body[-1], (cst.Return, cst.Raise))
    if isinstance(statement, cst.If):
        if statement.orelse is None:
            return False
        other = statement.orelse
        other_leaves = _always_leaves(other) if isinstance(other, cst.If) else _block_leaves(other.body)
        return _block_leaves(statement.body) and other_leaves
    return False


def _block_leaves(block) -> bool:
    return isinstance(block, cst.IndentedBlock) and bool(block.body) and _always_leaves(block.body[-1])


def returned_value(
    original: Optional[cst.BaseExpression], outputs: Sequence[Slot], has_output: bool
) -> cst.BaseExpression:
    states = [cst.Name(slot.local) for slot in outputs]
    if has_output:
        return tuple_of([original if original is not None else cst.Name("None"), *states])
    return states[0] if len(states) == 1 else tuple_of(states)


def return_states(
    edits: Edits, function: cst.FunctionDef, outputs: Sequence[Slot], has_output: bool, assigns=None
) -> None:
    """Every `return x` becomes `return x, state` (or `return state` when the function returned nothing)."""
    if not outputs:
        return
    for node in own_returns(function):
        edits.transform(node, lambda r: r.with_changes(
            value=returned_value(r.value, outputs, has_output),
            whitespace_after_return=cst.SimpleWhitespace(" "),
        ))
    if not falls_off_end(function):
        return
    last = function.body.body[-1]
    final_assignment = _final_assignment(last, outputs, has_output, assigns)
    if final_assignment is not None:
        # `n = 0` then `return n`: just `return 0`, as the tutorial's `reset` does.
        edits.transform(final_assignment, _return_its_value)
        return
    final = cst.SimpleStatementLine([cst.Return(returned_value(None, outputs, has_output))])
    edits.insert_after(last, [final])


def _return_its_value(assignment: cst.Assign) -> cst.Return:
    return cst.Return(assignment.value, whitespace_after_return=cst.SimpleWhitespace(" "))


def _final_assignment(last, outputs, has_output: bool, assigns) -> Optional[cst.Assign]:
    if has_output or len(outputs) != 1 or not isinstance(last, cst.SimpleStatementLine) or len(last.body) != 1:
        return None
    small = last.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    target = small.targets[0].target
    local = outputs[0].local
    if (isinstance(target, cst.Name) and target.value == local) or (assigns is not None and assigns(target)):
        if not any(isinstance(n, cst.Name) and n.value == local for n in walk(small.value)):
            return small
    return None


def return_annotation(edits: Edits, function: cst.FunctionDef, outputs: Sequence[Slot], has_output: bool) -> None:
    if function.returns is None or not outputs:
        return
    if any(slot.annotation is None for slot in outputs):
        edits.transform(function, lambda f: f.with_changes(returns=None))
        return
    states = ", ".join(slot.annotation for slot in outputs)

    def change(node: cst.FunctionDef):
        original = cst.Module([]).code_for_node(node.returns.annotation)
        if has_output:
            text = f"tuple[{original}, {states}]"
        else:
            text = states if len(outputs) == 1 else f"tuple[{states}]"
        return node.with_changes(returns=cst.Annotation(cst.parse_expression(text)))

    edits.transform(function, change)


def annotate_returns(edits: Edits, function: cst.FunctionDef, text: str) -> None:
    edits.transform(function, lambda f: f.with_changes(returns=cst.Annotation(cst.parse_expression(text))))


# -- the start of the body and declarations ---------------------------------------------------------------------------


def first_statement_after_docstring(function: cst.FunctionDef) -> tuple[Optional[cst.BaseStatement], bool]:
    """(statement, True) to insert before it; (docstring, False) to insert after it."""
    statements = list(function.body.body)
    if statements and _is_docstring(statements[0]):
        if len(statements) > 1:
            return statements[1], True
        return statements[0], False
    return (statements[0], True) if statements else (None, True)


def insert_at_entry(edits: Edits, function: cst.FunctionDef, make) -> None:
    anchor, before = first_statement_after_docstring(function)
    if anchor is None:
        return
    if before:
        edits.insert_before(anchor, make)
    else:
        edits.insert_after(anchor, make)


def drop_declarations(edits: Edits, function: cst.FunctionDef, names: set[str]) -> None:
    """`global n` / `nonlocal n` for names that became parameters or locals."""
    for node in own_nodes(function):
        if isinstance(node, (cst.Global, cst.Nonlocal)):
            kept = [item for item in node.names if item.name.value not in names]
            if len(kept) == len(node.names):
                continue
            if kept:
                kept = [item.with_changes(comma=cst.MaybeSentinel.DEFAULT) for item in kept]
                edits.transform(node, lambda n, kept=kept: n.with_changes(names=kept))
            else:
                edits.remove(node)


def declares(function: cst.FunctionDef, kind: type, name: str) -> bool:
    return any(
        isinstance(node, kind) and any(item.name.value == name for item in node.names) for node in own_nodes(function)
    )


def binds_locally(view: ModuleView, function: FunctionNode, name: str) -> bool:
    """``name`` is a parameter or assigned in ``function`` (without a global declaration)."""
    if isinstance(function, cst.FunctionDef) and declares(function, cst.Global, name):
        return False
    params = function.params
    all_params = [*params.params, *params.kwonly_params, *params.posonly_params]
    for extra in (params.star_arg, params.star_kwarg):
        if isinstance(extra, cst.Param):
            all_params.append(extra)
    if any(p.name.value == name for p in all_params):
        return True
    return any(
        isinstance(node, cst.Name) and node.value == name and view.is_store(node) for node in own_nodes(function)
    )


def _is_docstring(statement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_none(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def reads_name(view: ModuleView, function: FunctionNode, name: str) -> bool:
    """``name`` is read (or updated with `+=`) in ``function``'s own body."""
    for node in own_nodes(function):
        if isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name) and node.target.value == name:
            return True
        if isinstance(node, cst.Name) and node.value == name and view.is_load(node):
            return True
    return False


def is_top_level(view: ModuleView, function: cst.FunctionDef, node: cst.CSTNode) -> bool:
    """``node`` runs unconditionally: its statement sits directly in the function's body."""
    statement = view.statement_of(node)
    return statement is not None and view.parent(statement) is function.body


CONCRETIZING_CALLS = frozenset({"range", "int", "bool", "float", "len", "complex"})
# Functions and methods whose arguments are shapes or sizes: they need Python values under jit.
SHAPE_TAKING = frozenset(
    {"zeros", "ones", "full", "empty", "arange", "linspace", "eye", "identity", "reshape", "broadcast_to", "tile",
     "repeat", "split", "one_hot"}
)


def python_control_use(view: ModuleView, node: cst.CSTNode, function: FunctionNode) -> Optional[str]:
    """Where a traced value would be turned into a Python value (and fail to trace): an `if`/`while` test,
    `and`/`or`, a conditional expression, `range(...)`, `int(...)`. `x is None` is fine (no value needed)."""
    child = node
    for ancestor in view.ancestors(node):
        if ancestor is function:
            return None
        if isinstance(ancestor, cst.Comparison) and all(
            isinstance(t.operator, (cst.Is, cst.IsNot)) for t in ancestor.comparisons
        ):
            return None
        if isinstance(ancestor, (cst.If, cst.While, cst.Assert)) and child is ancestor.test:
            return f"{view.place(node)}: it decides a Python `{type(ancestor).__name__.lower()}`"
        if isinstance(ancestor, cst.IfExp) and child is ancestor.test:
            return f"{view.place(node)}: it decides a conditional expression"
        if isinstance(ancestor, cst.BooleanOperation) and child is ancestor.left:
            return f"{view.place(node)}: it is tested by `and`/`or`"
        if isinstance(ancestor, cst.Call) and child is not ancestor.func:
            called = _called_name(ancestor)
            if called in CONCRETIZING_CALLS or called in SHAPE_TAKING:
                return f"{view.place(node)}: it is passed to `{called}()`, which needs a Python value"
        if isinstance(ancestor, cst.Slice):
            return f"{view.place(node)}: it is a slice bound, which needs a Python value"
        if isinstance(ancestor, (cst.BaseSmallStatement, cst.BaseCompoundStatement)) and not isinstance(
            ancestor, (cst.If, cst.While, cst.Assert)
        ):
            return None
        child = ancestor
    return None


def _called_name(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return ""


__all__ = [
    "Conversion", "Slot", "Lookup", "add_parameters", "return_states", "return_annotation", "insert_at_entry",
    "drop_declarations", "declares", "binds_locally", "has_own_output", "own_returns", "reads_name", "is_top_level",
]
