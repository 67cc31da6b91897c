"""Threading a value through a traced function and its traced callers.

A value that traced code reads (or writes) from Python state becomes a parameter (and/or a returned
value) of the function that touches it. Each call of that function is then updated: a call from
another traced function makes the caller take (and return) the value too, so it stays a traced
value all the way up; a call from ordinary Python code passes the state itself (`f(x, g)`) and
stores what comes back (`y, g = f(x, g)`), which is exactly what the eager program did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import libcst as cst

from .calls import OutputThreader, ResultShape, append_arguments, call_uses_keywords, output_and_states
from .edits import Edits, keyword_arg, tuple_of
from .functions import (
    Conversion,
    Slot,
    add_parameters,
    binds_locally,
    declares,
    drop_declarations,
    insert_at_entry,
    is_top_level,
    python_control_use,
    reads_name,
    return_annotation,
    return_states,
)
from .imports import Imports
from .names import NamePool
from .uses import Use, UseFinder, UseKind, methods, self_parameter
from .view import FunctionNode, ModuleView, function_name, own_nodes

Problem = str


@dataclass
class OuterTarget:
    """Where untraced code stores a returned state, and the `global` it needs for that."""

    target: cst.BaseAssignTargetExpression
    declare_global: Optional[str] = None


@dataclass
class Thread:
    """One value threaded through converted functions.

    ``outer_value(use)`` is what ordinary code passes at a call (an expression, or a problem);
    ``outer_target(use)`` where it stores the returned value; ``inside(function)`` the nodes that stand
    for the state in a converted function (they become the local name); ``undeclare`` the names whose
    `global`/`nonlocal` declarations go away; ``entry(function)`` statements to put first.
    """

    slot: Slot
    outer_value: Callable[[Use], Union[cst.BaseExpression, Problem]]
    outer_target: Callable[[Use], Union[OuterTarget, Problem]] = lambda use: "it cannot be stored back"
    inside: Callable[[FunctionNode], list[cst.CSTNode]] = lambda function: []
    undeclare: set[str] = field(default_factory=set)
    entry: Callable[[FunctionNode], list[cst.BaseStatement]] = lambda function: []
    describe: str = ""
    propagates: bool = True  # False: every caller stores the value itself (an argument it passed)
    # an assignment target that becomes the local (`self.n = 0` in `reset`)
    assigns_state: Callable[[cst.CSTNode], bool] = lambda target: False
    # where a converted body uses the state (default: `inside`)
    state_nodes: Optional[Callable[[FunctionNode], list[cst.CSTNode]]] = None


@dataclass
class _Converted:
    conversion: Conversion
    threads: list[Thread] = field(default_factory=list)
    carry: Optional[Use] = None  # threaded through a lax.scan / fori_loop carry instead of parameters


class Threader:
    def __init__(self, view: ModuleView, edits: Edits, pool: NamePool, imports: Imports) -> None:
        self.view = view
        self.edits = edits
        self.pool = pool
        self.imports = imports
        self.finder = UseFinder(view)
        self.outputs = OutputThreader(view, edits, pool)
        self.problems: list[str] = []
        self.converted: dict[int, _Converted] = {}
        self._uses: dict[int, list[Use]] = {}
        self._globals_declared: set[tuple[int, str]] = set()
        self._axes_done: set[int] = set()

    # -- what to convert -------------------------------------------------------------------------------------

    def seed(self, function: FunctionNode, thread: Thread, takes: bool, gives: bool) -> None:
        entry = self._entry(function)
        if thread not in entry.threads:
            entry.threads.append(thread)
        if takes:
            entry.conversion.add_input(thread.slot)
        if gives:
            entry.conversion.add_output(thread.slot)

    def _entry(self, function: FunctionNode) -> _Converted:
        key = id(function)
        if key not in self.converted:
            self.converted[key] = _Converted(Conversion(function))
        return self.converted[key]

    def uses(self, function: FunctionNode) -> list[Use]:
        key = id(function)
        if key not in self._uses:
            self._uses[key] = self._find_uses(function)
        return self._uses[key]

    def _find_uses(self, function: FunctionNode) -> list[Use]:
        view = self.view
        owner = view.enclosing_class(function) if isinstance(function, cst.FunctionDef) else None
        if owner is None:
            return self.finder.of_function(function)
        return method_uses(self.finder, owner, function)

    def propagate(self) -> None:
        """Traced callers of converted functions are converted too, until nothing changes."""
        queue = list(self.converted.values())
        while queue:
            current = queue.pop(0)
            function = current.conversion.function
            for use in self.uses(function):
                if use.kind is UseKind.ESCAPE:
                    self.problems.append(f"`{function_name(function)}` cannot be followed: {use.reason}")
                    continue
                caller = self._traced_caller(use)
                if caller is None or not any(t.propagates for t in current.threads):
                    continue
                if caller is function:
                    self.problems.append(f"`{function_name(function)}` calls itself")
                    continue
                if self._extend(caller, current, use):
                    queue.append(self.converted[id(caller)])

    def _traced_caller(self, use: Use) -> Optional[FunctionNode]:
        site = use.call if use.call is not None else use.node
        caller = self.view.enclosing_function(site)
        return caller if caller is not None and self.view.is_traced(caller) else None

    def _extend(self, caller: FunctionNode, callee: _Converted, use: Use) -> bool:
        entry = self._entry(caller)
        before = (len(entry.conversion.inputs), len(entry.conversion.outputs))
        for thread in callee.threads:
            if thread not in entry.threads:
                entry.threads.append(thread)
        for slot in callee.conversion.inputs:
            entry.conversion.add_input(slot)
        for slot in callee.conversion.outputs:
            entry.conversion.add_output(slot)
            if not self._can_skip_input(caller, slot, use):
                entry.conversion.add_input(slot)
        return (len(entry.conversion.inputs), len(entry.conversion.outputs)) != before

    def _can_skip_input(self, caller: FunctionNode, slot: Slot, use: Use) -> bool:
        """A caller that only receives the state from an unconditional call needs no incoming value."""
        if not isinstance(caller, cst.FunctionDef) or use.kind is UseKind.LAX:
            return False  # a loop carry needs the state going in
        site = use.call if use.call is not None else use.node
        return is_top_level(self.view, caller, site) and not reads_name(self.view, caller, slot.local)

    # -- writing it down ---------------------------------------------------------------------------------------

    def emit(self) -> None:
        for entry in list(self.converted.values()):
            self.problems.extend(entry.conversion.problems())
            self._emit_function(entry)
        for entry in list(self.converted.values()):
            for use in self.uses(entry.conversion.function):
                self._emit_use(entry, use)
        self.problems.extend(self.outputs.problems)  # calls whose returned state could not be taken

    def _check_traceable(self, entry: _Converted) -> None:
        """The state becomes a traced value: Python control flow on it would no longer trace."""
        function = entry.conversion.function
        for thread in entry.threads:
            nodes = thread.state_nodes(function) if thread.state_nodes else thread.inside(function)
            if not nodes and thread.slot in entry.conversion.inputs:
                nodes = [n for n in own_nodes(function) if isinstance(n, cst.Name)
                         and n.value == thread.slot.local and self.view.is_load(n)]
            for node in nodes:
                problem = python_control_use(self.view, node, function)
                if problem:
                    name = thread.describe or thread.slot.local
                    self.problems.append(f"`{name}` becomes a traced value, but {problem}")

    def _emit_function(self, entry: _Converted) -> None:
        conversion = entry.conversion
        function = conversion.function
        self._check_traceable(entry)
        for thread in entry.threads:
            for node in thread.inside(function):
                self.edits.substitute(node, cst.Name(thread.slot.local))
        carry = self._carry_use(entry)
        if carry is not None and not self._emit_carry_function(entry, carry):
            return
        if isinstance(function, cst.FunctionDef):
            drop_declarations(self.edits, function, {name for t in entry.threads for name in t.undeclare})
            statements = [s for t in entry.threads for s in t.entry(function)]
            if statements:
                insert_at_entry(self.edits, function, statements)
        if carry is not None:
            return
        add_parameters(self.edits, function, conversion.inputs)
        if isinstance(function, cst.FunctionDef):
            has_output = conversion.has_output
            assigns = lambda target: any(t.assigns_state(target) for t in entry.threads)  # noqa: E731
            return_states(self.edits, function, conversion.outputs, has_output, assigns)
            return_annotation(self.edits, function, conversion.outputs, has_output)

    def _emit_use(self, entry: _Converted, use: Use) -> None:
        if use.kind is UseKind.ESCAPE:
            return
        caller = self.view.enclosing_function(use.call if use.call is not None else use.node)
        inner = caller is not None and id(caller) in self.converted  # a converted caller has the state as a variable
        conversion = entry.conversion
        if use.kind is UseKind.LAX:
            self._emit_lax_use(entry, use, inner)
            return
        values = self._values(entry, use, inner)
        if values is None:
            return
        keyword = conversion.by_keyword or call_uses_keywords(use.call)
        arguments = [(slot.local if keyword else None, value) for slot, value in zip(conversion.inputs, values)]
        if arguments:
            self.edits.transform(use.call, lambda call, arguments=arguments: append_arguments(call, arguments))
        self._adjust_pmap_axes(entry, use, keyword)
        if conversion.outputs:
            targets = self._targets(entry, use, inner)
            if targets is None:
                return
            self.outputs.thread(use.call, output_and_states(targets, conversion.has_output, "_"))

    def _values(self, entry: _Converted, use: Use, inner: bool) -> Optional[list[cst.BaseExpression]]:
        values = []
        for slot in entry.conversion.inputs:
            if inner:
                values.append(cst.Name(slot.local))
                continue
            thread = self._thread_of(entry, slot)
            value = thread.outer_value(use)
            if isinstance(value, str):
                self.problems.append(f"{self.view.place(use.node)}: cannot pass `{slot.local}`: {value}")
                return None
            values.append(value)
        return values

    def _targets(self, entry: _Converted, use: Use, inner: bool) -> Optional[list[cst.BaseAssignTargetExpression]]:
        targets = []
        site = use.call if use.call is not None else use.node
        caller = self.view.enclosing_function(site)
        for slot in entry.conversion.outputs:
            if inner:
                targets.append(cst.Name(slot.local))
                continue
            found = self._thread_of(entry, slot).outer_target(use)
            if isinstance(found, str):
                self.problems.append(f"{self.view.place(site)}: cannot store the new `{slot.local}`: {found}")
                return None
            if found.declare_global and caller is not None:
                if not self.declare_global(caller, found.declare_global):
                    return None
            targets.append(found.target)
        return targets

    def _thread_of(self, entry: _Converted, slot: Slot) -> Thread:
        return next(t for t in entry.threads if t.slot.local == slot.local)

    def declare_global(self, function: FunctionNode, name: str) -> bool:
        if not isinstance(function, cst.FunctionDef):
            self.problems.append(f"a lambda cannot assign the global `{name}`")
            return False
        if declares(function, cst.Global, name) or (id(function), name) in self._globals_declared:
            return True
        if binds_locally(self.view, function, name):
            self.problems.append(f"`{function.name.value}` has its own variable `{name}`")
            return False
        self._globals_declared.add((id(function), name))
        insert_at_entry(self.edits, function, [cst.SimpleStatementLine([cst.Global([cst.NameItem(cst.Name(name))])])])
        return True

    # -- pmap maps every argument and result over devices: the state is not mapped ----------------------------

    def _adjust_pmap_axes(self, entry: _Converted, use: Use, keyword: bool) -> None:
        conversion = entry.conversion
        for transform in use.transforms:
            if not isinstance(transform, cst.Call) or self.finder.call_preserving(transform) != "jax.pmap":
                if isinstance(transform, cst.Decorator) and self.finder.decorator_transform(transform) == "jax.pmap":
                    self.problems.append("a `@pmap` decorator needs in_axes/out_axes for the state: add them by hand")
                continue
            if id(transform) in self._axes_done:
                continue
            self._axes_done.add(id(transform))
            if keyword and conversion.inputs:
                self.problems.append("pmap maps keyword arguments over devices: pass the state positionally")
                continue
            function = conversion.function
            original = len(function.params.params) - (1 if self.view.enclosing_class(function) else 0)
            self.edits.transform(transform, lambda call, n=original: _with_axes(call, n, conversion, self.problems))

    # -- lax primitives -----------------------------------------------------------------------------------------

    def _carry_use(self, entry: _Converted) -> Optional[Use]:
        if not entry.conversion.outputs:
            return None
        lax = [u for u in self.uses(entry.conversion.function) if u.kind is UseKind.LAX]
        return lax[0] if lax else None

    def _emit_lax_use(self, entry: _Converted, use: Use, inner: bool) -> None:
        conversion = entry.conversion
        if conversion.outputs:
            self._emit_carry_call(entry, use, inner)
            return
        values = self._values(entry, use, inner)
        if values is None or not values:
            return
        partial = self.imports.name("functools", "partial")
        bound = [keyword_arg(slot.local, value) for slot, value in zip(conversion.inputs, values)]
        self.edits.substitute(use.node, lambda node: cst.Call(cst.parse_expression(partial), [cst.Arg(node), *bound]))

    def _emit_carry_function(self, entry: _Converted, use: Use) -> bool:
        """The state rides in the loop carry: `carry, s = carry` first, `(carry, s)` returned."""
        function = entry.conversion.function
        primitive = use.primitive
        if primitive not in ("jax.lax.scan", "jax.lax.fori_loop") or not isinstance(function, cst.FunctionDef):
            self.problems.append(f"the state cannot be threaded through `{primitive}` automatically")
            return False
        others = [u for u in self.uses(function) if u is not use and u.kind is not UseKind.ESCAPE]
        if others:
            self.problems.append(f"`{function.name.value}` is also used outside `{primitive}`")
        params = function.params.params
        index = 0 if primitive == "jax.lax.scan" else 1
        if len(params) <= index:
            self.problems.append(f"`{function.name.value}` does not take the loop carry")
            return False
        carry = params[index].name.value
        states = [cst.Name(slot.local) for slot in entry.conversion.outputs]
        unpacked = cst.AssignTarget(tuple_of([cst.Name(carry), *states]))
        unpack = cst.SimpleStatementLine([cst.Assign([unpacked], cst.Name(carry))])
        insert_at_entry(self.edits, function, [unpack])
        from .functions import own_returns  # local: only the carry needs it

        for node in own_returns(function):
            if primitive == "jax.lax.fori_loop":
                self.edits.transform(node, lambda r: r.with_changes(value=tuple_of([_paren(r.value), *states])))
            elif isinstance(node.value, cst.Tuple) and len(node.value.elements) == 2:
                self.edits.transform(node, lambda r: r.with_changes(value=_carry_and_states(r.value, states)))
            else:
                self.problems.append(f"{self.view.place(node)}: the scan body's return is not a `carry, y` pair")
        return True

    def _emit_carry_call(self, entry: _Converted, use: Use, inner: bool) -> None:
        primitive = use.primitive
        if primitive not in ("jax.lax.scan", "jax.lax.fori_loop"):
            return
        values = []
        for slot in entry.conversion.outputs:
            value = cst.Name(slot.local) if inner else self._thread_of(entry, slot).outer_value(use)
            if isinstance(value, str):
                self.problems.append(f"cannot pass `{slot.local}` into the loop: {value}")
                return
            values.append(value)
        init_index, keyword = (1, "init") if primitive == "jax.lax.scan" else (3, "init_val")
        init = _argument(use.call, init_index, keyword)
        if init is None:
            self.problems.append(f"{self.view.place(use.call)}: cannot find the loop's initial value")
            return
        self.edits.substitute(init.value, lambda node: tuple_of([node, *values], parenthesized=True))
        targets = self._targets(entry, use, inner)
        if targets is None:
            return
        if primitive == "jax.lax.fori_loop":
            shape = output_and_states(targets, True, "_")
        else:
            shape = _scan_shape(targets)
        self.outputs.thread(use.call, shape)


def method_uses(finder: UseFinder, owner: cst.ClassDef, method: cst.FunctionDef) -> list[Use]:
    """Calls of a method: `self.m(...)` in the class, `obj.m(...)` on its objects, jit aliases of both."""
    view = finder.view
    name = method.name.value
    uses, transforms = finder.decorator_uses(method)
    aliases = {alias: call for alias, (target, call) in finder.attribute_aliases(owner).items() if target == name}
    for _method, attribute in finder.self_references(owner):
        if attribute.attr.value == name and not _is_alias_source(view, attribute, aliases):
            uses.extend(finder.classify(attribute, tuple(transforms), attribute.value))
        elif attribute.attr.value in aliases and not view.is_store(attribute):
            uses.extend(finder.classify(attribute, (*transforms, aliases[attribute.attr.value]), attribute.value))
    instances, problems = finder.instances(owner)
    uses.extend(Use(UseKind.ESCAPE, owner, reason=problem) for problem in problems)
    for reference in finder.references_to_binding(owner, owner.name.value):
        parent = view.parent(reference)
        if isinstance(parent, cst.Attribute) and parent.value is reference and parent.attr.value == name:
            uses.append(Use(UseKind.ESCAPE, parent, reason=f"it is reached through the class: `{view.code(parent)}`"))
    for instance in instances:
        for reference in instance.references:
            parent = view.parent(reference)
            if isinstance(parent, cst.Attribute) and parent.value is reference:
                if parent.attr.value == name:
                    uses.extend(finder.classify(parent, tuple(transforms), reference))
                elif parent.attr.value in aliases:
                    uses.extend(finder.classify(parent, (*transforms, aliases[parent.attr.value]), reference))
            elif isinstance(parent, cst.Call) and parent.func is reference:
                if name == "__call__":
                    uses.append(Use(UseKind.CALL, reference, parent, tuple(transforms), reference))
            else:
                uses.append(Use(UseKind.ESCAPE, reference, reason=(
                    f"the object `{instance.name}` is passed on ({view.place(reference)}): "
                    "calls made through it elsewhere cannot be updated")))
    return uses


def _is_alias_source(view: ModuleView, attribute: cst.Attribute, aliases: dict) -> bool:
    """`self._step` inside `self.step = jax.jit(self._step)`: followed through the alias instead."""
    parent = view.parent(attribute)
    call = view.parent(parent) if isinstance(parent, cst.Arg) else None
    return any(call is alias_call for alias_call in aliases.values())


def _argument(call: cst.Call, index: int, keyword: str) -> Optional[cst.Arg]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[index] if index < len(positional) else None


def _carry_and_states(pair: cst.Tuple, states) -> cst.Tuple:
    """`carry, y` -> `(carry, *states), y`."""
    carry, y = (element.value for element in pair.elements)
    return tuple_of([tuple_of([_paren(carry), *states], parenthesized=True), y])


def _scan_shape(targets) -> ResultShape:
    def make(temp):
        carry, ys = temp("carry"), temp("ys")
        target = tuple_of([tuple_of([cst.Name(carry), *targets], parenthesized=True), cst.Name(ys)])
        return target, tuple_of([cst.Name(carry), cst.Name(ys)], parenthesized=True)

    def discards():
        return tuple_of([tuple_of([cst.Name("_"), *targets], parenthesized=True), cst.Name("_")])

    return ResultShape(make, discards)


def _paren(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, cst.Tuple) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def _with_axes(call: cst.Call, positional: int, conversion: Conversion, problems: list[str]) -> cst.Call:
    args = list(call.args)
    new_inputs = len(conversion.inputs)
    new_outputs = len(conversion.outputs)

    def find(keyword):
        for index, arg in enumerate(args):
            if arg.keyword is not None and arg.keyword.value == keyword:
                return index
        return None

    def keyword_arg(keyword, code):
        return cst.Arg(cst.parse_expression(code), keyword=cst.Name(keyword),
                       equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))

    if new_inputs:
        index = find("in_axes")
        if index is None:
            axes = ", ".join(["0"] * positional + ["None"] * new_inputs)
            args.append(keyword_arg("in_axes", f"({axes},)" if positional + new_inputs == 1 else f"({axes})"))
        else:
            problems.append("pmap already has in_axes: add `None` for the state by hand")
    if new_outputs:
        index = find("out_axes")
        nones = ", ".join(["None"] * new_outputs)
        if index is None:
            code = f"(0, {nones})" if conversion.has_output else (f"({nones},)" if new_outputs > 1 else "None")
            args.append(keyword_arg("out_axes", code))
        else:
            problems.append("pmap already has out_axes: add `None` for the state by hand")
    return call.with_changes(args=args)


__all__ = ["Thread", "Threader", "OuterTarget", "method_uses", "methods", "self_parameter"]
