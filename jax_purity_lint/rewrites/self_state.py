"""JPL200 / JPL201: the tutorial's cure, `Counter` -> `CounterV2`.

The attributes that traced methods change (the *state*) move out of the object:

- the state is the attribute's own value when there is one (`CounterState = int`), else a NamedTuple
  of them (`LayerState(calls, last_input)`);
- every method that reads or writes it takes it and returns it: `count(self)` -> `count(self, n)`
  returning `(output, n)`, `reset(self)` -> returning just the new state;
- `init_state(self)` returns the initial state, built from what `__init__` assigned (the assignments
  move there; `__init__` goes away if nothing else is left in it);
- each object of the class gets a state variable next to it (`state = counter.init_state()`) and every
  call is updated: `v = c.count()` -> `v, state = c.count(state)`; reading `c.n` outside the class reads
  the state.

`del self.x` / `hasattr` / `getattr(self, "x", default)` are expressed with `None` for "absent", which is
only done when the attribute is never `None` otherwise. A container that grows on every call (append,
new keys) is threaded too, but not marked safe: jit retraces on every call, and a log is better
returned and recorded by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from ..analysis.container_methods import GROWING_METHODS, MUTATING_METHODS
from .calls import _pure
from .context import RewriteContext
from .edits import keyword_arg, tuple_of
from .functions import Slot, annotate_returns, is_top_level
from .model import Draft, Group
from .names import variables_in
from .threading import OuterTarget, Thread, method_uses
from .uses import Instance, UseFinder, UseKind, methods, self_parameter
from .view import ModuleView, walk

CONSTRUCTORS = ("__init__", "__post_init__", "setup")
TYPE_OF_LITERAL = {
    cst.Integer: "int", cst.Float: "float", cst.SimpleString: "str",
    cst.Dict: "dict", cst.List: "list", cst.Tuple: "tuple",
}
ATTRIBUTE_FUNCTIONS = ("setattr", "getattr", "hasattr")


@dataclass
class LeafUse:
    """One place a method touches a state attribute."""

    node: cst.CSTNode  # the `self.x` attribute, or the setattr/getattr/hasattr call
    leaf: tuple[str, ...]
    reads: bool
    writes: bool
    kind: str = "attribute"  # attribute | setattr | getattr | hasattr | del
    grows: bool = False
    in_place: bool = False


@dataclass
class MethodState:
    method: cst.FunctionDef
    uses: list[LeafUse] = field(default_factory=list)
    takes: bool = False
    gives: bool = False


class SelfStateRewrite:
    def __init__(self, context: RewriteContext, group: Group) -> None:
        self.context = context
        self.view: ModuleView = context.view
        self.group = group
        self.problems: list[str] = []
        self.finder = UseFinder(self.view)

    # -- what the state is -----------------------------------------------------------------------------------

    def build(self) -> Draft:
        view = self.view
        first_method = view.function_of(self.group.first)
        owner = view.enclosing_class(first_method) if first_method is not None else None
        # A method run on the traced function's argument changes the caller's object: the state has to
        # be returned by the traced function, a decision for the caller's code, not the class.
        if owner is None or any(d.variant == "argument" for d in self.group.diagnostics):
            from .advice import build_advice

            return build_advice(self.context, self.group)
        self.owner = owner
        self.leaves = self._leaves()
        self.states = self._methods_with_state()
        self._close_over_self_calls()
        self._decide_takes_gives()
        init = self._initial_values()
        self.single = len(self.leaves) == 1
        self.type_name, type_statement = self._state_type(init)
        self.local = self._local_name()
        self._rewrite_method_bodies()
        self._add_state_type(type_statement)
        self._add_init_state(init)
        instances = self._instance_variables()
        thread = self._thread(instances)
        threader = self.context.threader()
        for state in self.states.values():
            threader.seed(state.method, thread, takes=state.takes, gives=state.gives)
        threader.emit()
        for state in self.states.values():
            if state.gives and not state.method.returns and not _has_value_return(state.method) and self.type_name:
                annotate_returns(self.context.edits, state.method, self.type_name)
        self.problems.extend(threader.problems)
        method_names = sorted(s.method.name.value for s in self.states.values())
        names = ", ".join(f"`{m}`" for m in method_names)
        verb = "takes" if len(method_names) == 1 else "take"
        summary = (
            f"the state of `{owner.name.value}` ({self._leaves_text()}) is passed explicitly: "
            f"{names} {verb} and return{'s' if len(method_names) == 1 else ''} it, `{self.init_state_name}` makes it, "
            f"and every call threads it"
        )
        todo = [f"thread the state through uses of `{owner.name.value}` objects in other modules"]
        return Draft(self.context.edits, summary, list(dict.fromkeys(self.problems)), todo, owner)

    def _leaves(self) -> list[tuple[str, ...]]:
        leaves: list[tuple[str, ...]] = []
        for diagnostic in self.group.diagnostics:
            parts = tuple(diagnostic.state.split(".")[1:]) if diagnostic.state.startswith("self.") else ()
            if not parts:
                self.problems.append(f"{self.view.place_of_line(diagnostic.line)}: `{diagnostic.state}` is not an attribute of `self`")
                continue
            if parts not in leaves:
                leaves.append(parts)
        # An attribute and one of its parts: the whole attribute is the state.
        return [leaf for leaf in leaves if not any(other != leaf and leaf[: len(other)] == other for other in leaves)]

    # -- where methods touch it ------------------------------------------------------------------------------------

    def _methods_with_state(self) -> dict[int, MethodState]:
        found: dict[int, MethodState] = {}
        for method in methods(self.owner):
            self_name = self_parameter(method)
            if self_name is None:
                continue
            if method.name.value in CONSTRUCTORS:
                continue  # the initial state: see _initial_values
            uses = list(self._leaf_uses(method, self_name))
            if not uses:
                continue
            if any(isinstance(d.decorator, cst.Name) and d.decorator.value == "property" for d in method.decorators):
                self.problems.append(f"the property `{method.name.value}` reads the state")
            found[id(method)] = MethodState(method, uses)
        return found

    def _leaf_uses(self, method: cst.FunctionDef, self_name: str):
        view = self.view
        handled: set[int] = set()  # the `self` of setattr(self, "x", ...) and friends
        for node in walk(method.body):
            attribute_call = isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
            if attribute_call and node.func.value in ATTRIBUTE_FUNCTIONS:
                leaf = self._constant_attribute(node, self_name)
                if leaf is not None:
                    kind = node.func.value
                    handled.add(id(node.args[0].value))
                    yield LeafUse(node, leaf, reads=kind != "setattr", writes=kind == "setattr", kind=kind)
                continue
            is_self = isinstance(node, cst.Name) and node.value == self_name and view.is_load(node)
            if not is_self or id(node) in handled:
                continue
            top, path = _self_chain(view, node)
            if top is None:
                continue
            leaf = self._leaf_of(path)
            if leaf is None:
                if any(known[: len(path)] == path for known in self.leaves) and path:
                    self.problems.append(f"{view.place(node)}: `{view.code(top)}` is used as a whole")
                elif not path and not self._is_method_call(node):
                    self.problems.append(
                        f"{view.place(node)}: `{self_name}` is passed on: the state would have to travel with it"
                    )
                continue
            leaf_node = _prefix_node(view, node, len(leaf))
            yield self._classify(leaf_node, leaf)

    def _leaf_of(self, path: tuple[str, ...]) -> Optional[tuple[str, ...]]:
        """The state attribute an attribute path starts with (`self.stats.count` -> ("stats", "count"))."""
        return next((known for known in self.leaves if path[: len(known)] == known), None)

    def _leaves_text(self) -> str:
        return ", ".join(".".join(known) for known in self.leaves)

    def _is_method_call(self, self_node: cst.Name) -> bool:
        parent = self.view.parent(self_node)
        return isinstance(parent, cst.Attribute) and parent.value is self_node

    def _constant_attribute(self, call: cst.Call, self_name: str) -> Optional[tuple[str, ...]]:
        args = call.args
        if len(args) < 2 or not (isinstance(args[0].value, cst.Name) and args[0].value.value == self_name):
            return None
        if not isinstance(args[1].value, cst.SimpleString):
            return None
        leaf = (args[1].value.evaluated_value,)
        return leaf if leaf in self.leaves else None

    def _classify(self, node: cst.CSTNode, leaf: tuple[str, ...]) -> LeafUse:
        view = self.view
        parent = view.parent(node)
        if isinstance(parent, cst.AssignTarget):
            return LeafUse(node, leaf, reads=False, writes=True)
        if isinstance(parent, cst.AugAssign) and parent.target is node:
            return LeafUse(node, leaf, reads=True, writes=True)
        if isinstance(parent, cst.Del):
            return LeafUse(node, leaf, reads=False, writes=True, kind="del")
        if isinstance(parent, cst.Attribute) and parent.value is node:
            call = view.parent(parent)
            if isinstance(call, cst.Call) and call.func is parent and parent.attr.value in MUTATING_METHODS:
                return LeafUse(node, leaf, True, True, in_place=True, grows=parent.attr.value in GROWING_METHODS)
            if view.is_store(parent):
                self.problems.append(f"{view.place(node)}: an attribute of `{view.code(node)}` is changed in place")
                return LeafUse(node, leaf, True, True, in_place=True)
        changed_item = isinstance(parent, cst.Subscript) and (view.is_store(parent) or _is_aug_target(view, parent))
        if changed_item and parent.value is node:
            constant = _constant_key(parent)
            return LeafUse(node, leaf, True, True, in_place=True, grows=not constant)
        return LeafUse(node, leaf, reads=True, writes=False)

    def _close_over_self_calls(self) -> None:
        """Methods calling converted methods through `self` hold the state too."""
        aliases = {alias: target for alias, (target, _call) in self.finder.attribute_aliases(self.owner).items()}
        changed = True
        while changed:
            changed = False
            converted = {s.method.name.value for s in self.states.values()}
            for method in methods(self.owner):
                self_name = self_parameter(method)
                if self_name is None or id(method) in self.states:
                    continue
                if any(
                    isinstance(n, cst.Attribute) and isinstance(n.value, cst.Name) and n.value.value == self_name
                    and (n.attr.value in converted or aliases.get(n.attr.value) in converted)
                    and isinstance(self.view.parent(n), cst.Call)
                    for n in walk(method.body)
                ):
                    if method.name.value in CONSTRUCTORS:
                        self.problems.append(f"`{method.name.value}` calls a method that changes the state")
                        continue
                    self.states[id(method)] = MethodState(method)
                    changed = True

    def _decide_takes_gives(self) -> None:
        for _ in range(len(self.states) + 1):
            for state in self.states.values():
                callees = self._converted_callees(state.method)
                writes = any(u.writes for u in state.uses)
                reads = any(u.reads for u in state.uses)
                hidden = any(u.writes and not is_top_level(self.view, state.method, u.node) for u in state.uses)
                state.gives = writes or any(c.gives for c, _ in callees)
                state.takes = (
                    reads or hidden or len(self.leaves) > 1
                    or any(c.takes or not is_top_level(self.view, state.method, call) for c, call in callees)
                )
        for state in self.states.values():
            for use in state.uses:
                if use.grows:
                    self.problems.append(
                        f"`self.{'.'.join(use.leaf)}` grows on every call: jit retraces each time; "
                        "better return the value and record it outside"
                    )
                if use.in_place and len(self.leaves) > 1:
                    self.problems.append(f"`self.{'.'.join(use.leaf)}` is changed in place inside a multi-part state")

    def _converted_callees(self, method: cst.FunctionDef) -> list[tuple[MethodState, cst.Call]]:
        self_name = self_parameter(method)
        by_name = {s.method.name.value: s for s in self.states.values()}
        aliases = {alias: target for alias, (target, _call) in self.finder.attribute_aliases(self.owner).items()}
        found = []
        for node in walk(method.body):
            is_method_call = isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            if is_method_call and isinstance(node.func.value, cst.Name):
                if node.func.value.value != self_name:
                    continue
                name = node.func.attr.value
                target = by_name.get(name) or by_name.get(aliases.get(name, ""))
                if target is not None:
                    found.append((target, node))
        return found

    # -- the initial state -----------------------------------------------------------------------------------------

    def _initial_values(self) -> dict[tuple[str, ...], tuple[cst.BaseExpression, Optional[cst.SimpleStatementLine]]]:
        """For each leaf: the expression of its initial value, and the `__init__` line it comes from (to move)."""
        init = next((m for m in methods(self.owner) if m.name.value == "__init__"), None)
        self.init_method = init
        values = {}
        for leaf in self.leaves:
            found = self._init_assignment(init, leaf) if init is not None else None
            if found is not None:
                values[leaf] = found
            else:
                values[leaf] = (cst.parse_expression("self." + ".".join(leaf)), None)
                if not self._init_sets(init, leaf):
                    dotted = ".".join(leaf)
                    self.problems.append(f"`__init__` does not set `self.{dotted}`: its initial value is unknown")
        return values

    def _init_assignment(self, init: cst.FunctionDef, leaf: tuple[str, ...]):
        if len(leaf) != 1:
            return None
        self_name = self_parameter(init)
        params = {p.name.value for p in init.params.params} | {p.name.value for p in init.params.kwonly_params}
        for statement in init.body.body:
            if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
                continue
            small = statement.body[0]
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                if (
                    isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                    and target.value.value == self_name and target.attr.value == leaf[0]
                ):
                    names = {n.value for n in walk(small.value) if isinstance(n, cst.Name)}
                    if names & (params | {self_name}):
                        return None  # depends on the arguments: read it from the object instead
                    return small.value, statement
        return None

    def _init_sets(self, init: Optional[cst.FunctionDef], leaf: tuple[str, ...]) -> bool:
        """`__init__` assigns it, or the class declares it (a dataclass field, a class attribute)."""
        text = "self." + ".".join(leaf[:1])
        if init is not None and any(
            isinstance(n, cst.AssignTarget) and self.view.code(n.target).strip() == text for n in walk(init.body)
        ):
            return True
        return any(_declares(statement, leaf[0]) for statement in self.owner.body.body)

    def _state_type(self, init) -> tuple[Optional[str], Optional[cst.BaseStatement]]:
        owner_name = self.owner.name.value
        types = {leaf: _literal_type(value) for leaf, (value, _line) in init.items()}
        for state in self.states.values():
            for use in state.uses:
                if use.kind in ("del", "hasattr", "getattr"):
                    types[use.leaf] = "Any"  # None stands for "deleted"
        wanted = f"{owner_name}State"
        if self.single:
            kind = types[self.leaves[0]]
            if kind is None or kind == "Any":
                return None, None
            return self._alias_name(wanted, kind), self._alias_statement
        named_tuple = self.context.imports.name("typing", "NamedTuple")
        any_name = None
        fields = []
        for leaf in self.leaves:
            kind = types[leaf]
            if kind is None or kind == "Any":
                any_name = any_name or self.context.imports.name("typing", "Any")
                kind = any_name
            fields.append(f"    {'_'.join(leaf)}: {kind}\n")
        name = self.context.pool.fresh(self.view.module, wanted, f"{owner_name}StateV2")
        code = f"class {name}({named_tuple}):\n" + "".join(fields)
        return name, cst.parse_statement(code)

    def _alias_name(self, wanted: str, kind: str) -> str:
        """Reuse an identical `CounterState = int` that the module already has (moved before the class)."""
        self._alias_statement = None
        self._moved_alias = None
        for statement in self.view.module.body:
            if (
                isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and isinstance(statement.body[0], cst.Assign) and len(statement.body[0].targets) == 1
                and isinstance(statement.body[0].targets[0].target, cst.Name)
                and statement.body[0].targets[0].target.value == wanted
            ):
                if self.view.code(statement.body[0].value).strip() != kind:
                    break
                if self.view.line(statement) > self.view.line(self.owner):
                    self._moved_alias = statement
                    self._alias_statement = statement
                return wanted
        name = self.context.pool.fresh(self.view.module, wanted, f"{wanted}V2")
        self._alias_statement = cst.parse_statement(f"{name} = {kind}\n")
        return name

    def _local_name(self) -> str:
        taken: set[str] = set()
        for state in self.states.values():
            taken |= variables_in(state.method)
        base = "_".join(self.leaves[0]) if self.single else "state"
        for candidate in (base, f"{base}_state", f"{self.owner.name.value.lower()}_state"):
            if candidate not in taken:
                return candidate
        return base + "_value"

    # -- the class -------------------------------------------------------------------------------------------------

    def _rewrite_method_bodies(self) -> None:
        edits = self.context.edits
        for state in self.states.values():
            for use in state.uses:
                self._rewrite_leaf_use(use)
            if self.single and any(u.in_place for u in state.uses) and state.takes:
                copy = self.context.imports.module("copy") + ".copy"
                comment = "# a copy: the state passed in stays unchanged"
                line = cst.parse_statement(f"{self.local} = {copy}({self.local})  {comment}\n")
                from .functions import insert_at_entry

                insert_at_entry(edits, state.method, [line])
        self._check_none_means_absent()

    def _rewrite_leaf_use(self, use: LeafUse) -> None:
        edits = self.context.edits
        view = self.view
        field_name = "_".join(use.leaf)
        current = cst.Name(self.local) if self.single else cst.Attribute(cst.Name(self.local), cst.Name(field_name))
        if use.kind == "getattr":
            args = use.node.args
            if len(args) > 2:
                edits.transform(use.node, lambda call: _present_or(current, call.args[2].value))
            else:
                edits.substitute(use.node, current)
            return
        if use.kind == "hasattr":
            edits.substitute(use.node, cst.Comparison(current, [cst.ComparisonTarget(cst.IsNot(), cst.Name("None"))]))
            return
        if use.kind == "setattr":
            small = view.parent(use.node)
            if not isinstance(small, cst.Expr):
                self.problems.append(f"{view.place(use.node)}: the result of `setattr` is used")
                return
            edits.transform(small, lambda expr: self._write(field_name, expr.value.args[2].value))
            return
        if use.kind == "del":
            small = view.parent(use.node)
            edits.transform(small, lambda _del: self._write(field_name, cst.Name("None")))
            return
        parent = view.parent(use.node)
        if self.single:
            edits.substitute(use.node, cst.Name(self.local))
            return
        if isinstance(parent, cst.AssignTarget):
            assign = view.parent(parent)
            if len(assign.targets) != 1:
                self.problems.append(f"{view.place(use.node)}: a chained assignment to the state")
                return
            edits.transform(assign, lambda a: self._write(field_name, a.value))
            return
        if isinstance(parent, cst.AugAssign) and parent.target is use.node:
            current_field = cst.Attribute(cst.Name(self.local), cst.Name(field_name))
            edits.transform(parent, lambda a: self._write(
                field_name, cst.BinaryOperation(current_field, _binary(a.operator), _parenthesized(a.value))))
            return
        edits.substitute(use.node, current)

    def _write(self, field_name: str, value: cst.BaseExpression) -> cst.BaseSmallStatement:
        if self.single:
            return cst.Assign([cst.AssignTarget(cst.Name(self.local))], value)
        replace = cst.Call(cst.Attribute(cst.Name(self.local), cst.Name("_replace")), [keyword_arg(field_name, value)])
        return cst.Assign([cst.AssignTarget(cst.Name(self.local))], replace)

    def _check_none_means_absent(self) -> None:
        """`del`/`hasattr`/`getattr(default)` use None for "absent": the attribute must never be None otherwise."""
        presence = {u.leaf for s in self.states.values() for u in s.uses if u.kind in ("del", "hasattr", "getattr")}
        for leaf in presence:
            text = "self." + ".".join(leaf)
            for node in walk(self.owner):
                if isinstance(node, cst.Assign) and any(self.view.code(t.target).strip() == text for t in node.targets):
                    if isinstance(node.value, cst.Name) and node.value.value == "None":
                        self.problems.append(f"`{text}` is sometimes None: None cannot stand for \"deleted\"")

    def _add_state_type(self, statement: Optional[cst.BaseStatement]) -> None:
        if statement is None:
            return
        edits = self.context.edits
        moved = getattr(self, "_moved_alias", None)
        if moved is not None:
            _remove_keeping_comments(edits, self.view, moved)
        if moved is None and isinstance(statement, cst.SimpleStatementLine) and statement in self.view.module.body:
            return  # an identical alias already precedes the class

        edits.insert_before(self.owner, [statement.with_changes(leading_lines=[])], blank_lines=2)

    def _add_init_state(self, init) -> None:
        edits = self.context.edits
        values = []
        for leaf in self.leaves:
            value, line = init[leaf]
            values.append((leaf, value))
            if line is not None:
                edits.remove(line)
        returns = f" -> {self.type_name}" if self.type_name else ""
        if self.single:
            body = f"return {_code(values[0][1])}"
        else:
            fields = ", ".join(f"{'_'.join(leaf)}={_code(value)}" for leaf, value in values)
            body = f"return {self.type_name}({fields})"
        name = self.context.pool.fresh(self.owner, "init_state", "initial_state")
        self.init_state_name = name
        method = cst.parse_statement(f"def {name}(self){returns}:\n    {body}\n")
        init_method = self.init_method
        moved_lines = {id(line) for _leaf, (_value, line) in init.items() if line is not None}
        if init_method is not None and _only_moved(init_method, moved_lines):
            edits.replace_statement(
                init_method, lambda updated, lookup: [method.with_changes(leading_lines=updated.leading_lines)]
            )
        elif init_method is not None:
            edits.insert_after(init_method, [method.with_changes(leading_lines=[cst.EmptyLine(indent=False)])])
        else:
            first = next(iter(methods(self.owner)), None)
            if first is not None:
                edits.insert_before(first, [method.with_changes(leading_lines=[])], blank_lines=1)
            else:
                self.problems.append("the class has no methods to place `init_state` next to")

    # -- the objects of the class -------------------------------------------------------------------------------

    def _instance_variables(self) -> dict[int, tuple[Instance, str]]:
        """Each object gets a state variable beside it; reads of its state attributes read the variable."""
        instances, problems = self.finder.instances(self.owner)
        self.problems.extend(problems)
        by_reference: dict[int, tuple[Instance, str]] = {}
        used_names: dict[int, set[str]] = {}
        converted = {s.method.name.value for s in self.states.values()}
        aliases = set(self.finder.attribute_aliases(self.owner))
        for instance in instances:
            region = instance.region
            taken = used_names.setdefault(id(region), set())
            name = self._state_variable(instance, taken)
            taken.add(name)
            for line in instance.bindings:
                statement = cst.parse_statement(f"{name} = {instance.name}.{self.init_state_name}()\n")
                self.context.edits.insert_after(line, [statement])
            for reference in instance.references:
                by_reference[id(reference)] = (instance, name)
                self._instance_reference(reference, instance, name, converted | aliases)
        return by_reference

    def _state_variable(self, instance: Instance, taken: set[str]) -> str:
        pool = self.context.pool
        if not instance.at_module_level and "state" not in taken and pool.is_free(instance.region, "state"):
            pool.reserve(instance.region, "state")
            return "state"
        return pool.fresh(self.view.module if instance.at_module_level else instance.region, f"{instance.name}_state")

    def _instance_reference(
        self, reference: cst.Name, instance: Instance, variable: str, methods_with_state: set[str]
    ) -> None:
        view = self.view
        parent = view.parent(reference)
        if isinstance(parent, cst.Attribute) and parent.value is reference:
            top, path = _self_chain(view, reference)
            leaf = self._leaf_of(path) if top is not None else None
            if leaf is not None:
                node = _prefix_node(view, reference, len(leaf))
                if view.is_store(node) or isinstance(view.parent(node), cst.AugAssign):
                    if not self.single:
                        self._problem_at(node, f" `{view.code(node)}` is assigned outside the class")
                        return
                    function = view.enclosing_function(node)
                    if instance.at_module_level and function is not None:
                        self._problem_at(node, f"`{view.code(node)}` is assigned in `{function.name.value}`")
                        return
                field_node = cst.Attribute(cst.Name(variable), cst.Name("_".join(leaf)))
                replacement = cst.Name(variable) if self.single else field_node
                self.context.edits.substitute(node, replacement)
            elif path and any(known[: len(path)] == path for known in self.leaves):
                self.problems.append(f"{view.place(reference)}: `{view.code(parent)}` is used as a whole")
            return
        if isinstance(parent, cst.Call) and parent.func is reference:
            return  # `obj(...)`: a use of `__call__`, handled with the other calls
        self.problems.append(
            f"{view.place(reference)}: `{instance.name}` is passed on: its state would have to travel with it"
        )

    def _problem_at(self, node: cst.CSTNode, text: str) -> None:
        self.problems.append(f"{self.view.place(node)}: {text}")

    def _thread(self, by_reference: dict[int, tuple[Instance, str]]) -> Thread:
        view = self.view

        def instance_for(use):
            receiver = use.receiver
            found = by_reference.get(id(receiver)) if receiver is not None else None
            if found is None:
                return None, "the object it is called on is not a variable of this module"
            site = use.call if use.call is not None else use.node
            caller = view.enclosing_function(site)
            if caller is not None and view.is_traced(caller) and view.enclosing_class(caller) is not self.owner:
                return None, "it is called from traced code: the state would be frozen there"
            return found, None

        def outer_value(use):
            found, problem = instance_for(use)
            return problem if problem else cst.Name(found[1])

        def outer_target(use):
            found, problem = instance_for(use)
            if problem:
                return problem
            instance, variable = found
            site = use.call if use.call is not None else use.node
            declare = variable if instance.at_module_level and view.enclosing_function(site) is not None else None
            return OuterTarget(cst.Name(variable), declare_global=declare)

        leaf_targets = {id(u.node) for s in self.states.values() for u in s.uses if u.kind == "attribute" and u.writes}

        def assigns_state(target) -> bool:
            return self.single and id(target) in leaf_targets

        def state_nodes(method) -> list[cst.CSTNode]:
            state = self.states.get(id(method))
            return [u.node for u in state.uses if u.kind not in ("hasattr", "del")] if state else []

        return Thread(
            Slot(self.local, annotation=self.type_name), outer_value, outer_target, describe="state",
            assigns_state=assigns_state, state_nodes=state_nodes,
        )


def build_self_state(context: RewriteContext, group: Group) -> Draft:
    return SelfStateRewrite(context, group).build()


# -- helpers ----------------------------------------------------------------------------------------------------


def _declares(statement: cst.BaseStatement, name: str) -> bool:
    """`name: int = 0` or `name = 0` in a class body."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.target.value == name:
            return True
        if isinstance(small, cst.Assign) and any(_is_name(t.target, name) for t in small.targets):
            return True
    return False


def _is_name(node: cst.CSTNode, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _remove_keeping_comments(edits, view: ModuleView, statement: cst.BaseStatement) -> None:
    """Remove a statement; the comments above it stay, above the statement that follows."""
    edits.remove(statement)
    comments = [line for line in statement.leading_lines if line.comment is not None]
    body = view.body_of(statement)
    siblings = list(body.body) if body is not None else []
    index = next((i for i, s in enumerate(siblings) if s is statement), None)
    if not comments or index is None or index + 1 >= len(siblings):
        return
    following = siblings[index + 1]
    edits.transform(following, lambda s: s.with_changes(leading_lines=list(statement.leading_lines)))


def _self_chain(view: ModuleView, name: cst.Name) -> tuple[Optional[cst.CSTNode], tuple[str, ...]]:
    """`self.a.b` from the `self` name: (the outermost attribute, ("a", "b")); a called method is not part."""
    node: cst.CSTNode = name
    path: list[str] = []
    while True:
        parent = view.parent(node)
        if not (isinstance(parent, cst.Attribute) and parent.value is node):
            break
        grand = view.parent(parent)
        if isinstance(grand, cst.Call) and grand.func is parent:
            break
        path.append(parent.attr.value)
        node = parent
    return node, tuple(path)


def _prefix_node(view: ModuleView, name: cst.Name, depth: int) -> cst.CSTNode:
    node: cst.CSTNode = name
    for _ in range(depth):
        node = view.parent(node)
    return node


def _is_aug_target(view: ModuleView, node: cst.CSTNode) -> bool:
    parent = view.parent(node)
    return isinstance(parent, cst.AugAssign) and parent.target is node


def _constant_key(subscript: cst.Subscript) -> bool:
    if len(subscript.slice) != 1 or not isinstance(subscript.slice[0].slice, cst.Index):
        return False
    return isinstance(subscript.slice[0].slice.value, (cst.SimpleString, cst.Integer))


def _literal_type(value: cst.BaseExpression) -> Optional[str]:
    if isinstance(value, cst.Name) and value.value in ("True", "False"):
        return "bool"
    if isinstance(value, cst.Name) and value.value == "None":
        return "Any"
    for kind, name in TYPE_OF_LITERAL.items():
        if isinstance(value, kind):
            return name
    return None


def _present_or(current: cst.BaseExpression, default: cst.BaseExpression) -> cst.BaseExpression:
    test = cst.Comparison(current, [cst.ComparisonTarget(cst.IsNot(), cst.Name("None"))])
    return cst.IfExp(test, current, default, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _binary(operator: cst.BaseAugOp) -> cst.BaseBinaryOp:
    name = type(operator).__name__.replace("Assign", "")
    return getattr(cst, name)()


def _parenthesized(value: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(value, (cst.Name, cst.Attribute, cst.Integer, cst.Float, cst.Call, cst.Subscript, cst.SimpleString)):
        return value
    return value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _has_value_return(method: cst.FunctionDef) -> bool:
    from .functions import has_own_output

    return has_own_output(method)


def _only_moved(init: cst.FunctionDef, moved: set[int]) -> bool:
    """Nothing but the moved assignments (and a docstring) in `__init__`."""
    statements = list(init.body.body)
    rest = [s for s in statements if id(s) not in moved]
    if rest and _is_docstring(rest[0]) and rest[0] is statements[0]:
        rest = rest[1:]
    return not rest


def _is_docstring(statement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr) and isinstance(statement.body[0].value, cst.SimpleString)
    )


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node).strip()


__all__ = ["build_self_state", "tuple_of", "UseKind", "method_uses", "_pure"]
