"""JPL101 / JPL102 / JPL103 writes / JPL300: the new value is returned with the output.

- global or class attribute (JPL101): `global n; n += 1` -> `n` becomes a parameter and is returned,
  `y = f(x)` -> `y, n = f(x, n)` (with `global n` where the caller needs it); `Model.calls += 1` ->
  `model_calls += 1`, called as `y, Model.calls = f(x, Model.calls)`. A function that only assigns the
  value (never reads it) does not take it, it only returns it.
- closure variable (JPL103): the same, where the calls are in the function that owns the variable.
- argument (JPL300): the function works on a copy of the argument and returns it; each caller rebinds
  the variable it passed: `out = step(state, x)` -> `out, state = step(state, x)`.
- global container (JPL102): like an argument, but `fix` never applies it: what a traced function
  should record, and where, is a design decision.

Safe when every call can be updated (see threading.py) and, for arguments, the caller's variable is
not shared with anything else that would have seen the in-place change.
"""

from __future__ import annotations

from typing import Optional, Union

import libcst as cst

from ..analysis import jax_api
from ..diagnostics import Diagnostic
from .access import matching_paths
from .context import RewriteContext
from .functions import Slot, binds_locally, is_top_level, reads_name
from .global_read import _closure_owner, build_closure_read
from .model import Draft, Group
from .names import python_identifier
from .threading import OuterTarget, Thread
from .uses import Use, UseKind
from .view import FunctionNode, ModuleView, function_name, own_nodes, walk

# Calls that read an object without keeping a reference to it.
PURE_BUILTINS = frozenset(
    {"len", "float", "int", "str", "repr", "bool", "print", "sorted", "sum", "min", "max", "round", "list",
     "tuple", "dict", "set", "isinstance", "type", "abs", "any", "all", "enumerate", "zip", "iter", "hash"}
)


DESIGN_DECISION = "recording into a global container is a design decision: return the value and record it outside"
MUTABLE_REFERENCES = (
    "`x[...]` updates look like mutable references (jax.new_ref, nnx.Variable), which jit carries out itself"
)


# -- globals and class attributes (JPL101, JPL102) ---------------------------------------------------------


def build_global_write(context: RewriteContext, group: Group) -> Draft:
    view = context.view
    first = group.first
    state = first.state
    threader = context.threader()
    problems: list[str] = []
    if group.code == "JPL102":
        problems.append(DESIGN_DECISION)
        if any(d.finding.variant == "default" for d in group.diagnostics):
            return _advice(context, group)  # a default argument's object: no global to thread
        if "." in state and first.function != "" and _is_method(view, first):
            return _advice(context, group)
    seeds = _functions(view, group.diagnostics)
    thread = _global_thread(context, state, seeds, container=group.code == "JPL102")
    if thread is None:
        return _advice(context, group)
    for function in seeds:
        threader.seed(function, thread, takes=_needs_input(view, function, thread, group.code == "JPL102"), gives=True)
    threader.propagate()
    threader.emit()
    problems.extend(threader.problems)
    return _draft(context, group, threader, thread, problems)


def _global_thread(context: RewriteContext, state: str, seeds, container: bool) -> Optional[Thread]:
    view = context.view
    if "." not in state:
        return _name_thread(context, state, seeds, container)
    root = state.split(".")[0]
    if container:
        return None  # `stats.batch_size = ...`: an object, not a value jit can carry
    local = context.pool.fresh(view.module, python_identifier(state))

    def outer_value(use: Use):
        problem = _global_problem(view, use, root)
        return problem or cst.parse_expression(state)

    def outer_target(use: Use):
        problem = _global_problem(view, use, root)
        return problem or OuterTarget(cst.parse_expression(state))

    def inside(function):
        return list(matching_paths(view, function, state, loads_only=False))

    return Thread(Slot(local), outer_value, outer_target, inside=inside, describe=state)


def _name_thread(context: RewriteContext, name: str, seeds, container: bool) -> Thread:
    view = context.view

    def outer_value(use: Use):
        return _global_problem(view, use, name) or cst.Name(name)

    def outer_target(use: Use):
        problem = _global_problem(view, use, name)
        return problem or OuterTarget(cst.Name(name), declare_global=name)

    def entry(function):
        return [_copy_statement(context, name)] if container and any(function is s for s in seeds) else []

    return Thread(Slot(name), outer_value, outer_target, undeclare={name}, entry=entry, describe=name)


def _global_problem(view: ModuleView, use: Use, root: str) -> Optional[str]:
    site = use.call if use.call is not None else use.node
    caller = view.enclosing_function(site)
    if caller is not None and binds_locally(view, caller, root):
        return f"`{function_name(caller)}` has its own variable `{root}`"
    return None


# -- closure variables (JPL103 writes) -------------------------------------------------------------------------


def build_closure_access(context: RewriteContext, group: Group) -> Draft:
    """JPL103: a closure variable read becomes a parameter; one written is also returned."""
    if group.key[2] == "write":
        return build_closure_write(context, group)
    return build_closure_read(context, group)


def build_closure_write(context: RewriteContext, group: Group) -> Draft:
    view = context.view
    name = group.first.state
    threader = context.threader()
    seeds = _functions(view, group.diagnostics)
    owner = _closure_owner(view, seeds[0], name) if seeds else None
    mutated = any(_is_in_place(view, d) for d in group.diagnostics)

    def outer_value(use: Use):
        return _owned_here(view, use, owner, name) or cst.Name(name)

    def outer_target(use: Use):
        return _owned_here(view, use, owner, name) or OuterTarget(cst.Name(name))

    def entry(function):
        return [_copy_statement(context, name)] if mutated and any(function is s for s in seeds) else []

    thread = Thread(Slot(name), outer_value, outer_target, undeclare={name}, entry=entry, describe=name)
    for function in seeds:
        threader.seed(function, thread, takes=_needs_input(view, function, thread, mutated), gives=True)
    threader.propagate()
    threader.emit()
    problems = list(threader.problems)
    if owner is None:
        problems.append(f"cannot find the function that owns `{name}`")
    if mutated and any(d.site is not None and d.site.transform in jax_api.LOOP_BODIES for d in group.diagnostics):
        # Threaded through a loop, it becomes part of the carry, whose structure cannot change.
        problems.append(
            f"`{name}` would travel in the loop's carry, which must keep its structure: a container that "
            f"grows cannot; return what each iteration records as the loop's output (`scan`'s `ys`) instead"
        )
    return _draft(context, group, threader, thread, problems)


def _owned_here(view: ModuleView, use: Use, owner, name: str) -> Optional[str]:
    site = use.call if use.call is not None else use.node
    if owner is None or view.enclosing_function(site) is not owner:
        return f"the call is outside `{function_name(owner) if owner is not None else '?'}`, where `{name}` lives"
    return None


# -- arguments (JPL300) ------------------------------------------------------------------------------------------


def build_argument_return(context: RewriteContext, group: Group) -> Draft:
    view = context.view
    if any(d.finding.variant == "helper" for d in group.diagnostics):
        return _advice(context, group)  # changed by a helper: both functions' signatures would change
    threader = context.threader()
    seeds = _functions(view, group.diagnostics)
    if not seeds or not isinstance(seeds[0], cst.FunctionDef):
        return _advice(context, group)
    function = seeds[0]
    params = [p.name.value for p in function.params.params]
    names = []
    for diagnostic in group.diagnostics:
        root = diagnostic.state.split(".")[0].split("[")[0]
        if root not in names:
            names.append(root)
    problems: list[str] = []
    if any(_ellipsis_subscript(node) for node in own_nodes(function)):
        problems.append(MUTABLE_REFERENCES)
    threads = []
    for name in names:
        if name not in params:
            problems.append(f"`{name}` is not a positional parameter of `{function.name.value}`")
            continue
        thread = _argument_thread(context, function, name, params.index(name), problems)
        threads.append(thread)
        threader.seed(function, thread, takes=False, gives=True)
    threader.propagate()
    threader.emit()
    problems.extend(threader.problems)
    if not threads:
        return _advice(context, group)
    draft = _draft(context, group, threader, threads[0], problems)
    if len(threads) > 1:
        copies = ", ".join(t.slot.local for t in threads)
        draft.summary = f"`{function.name.value}` works on copies of {copies} and returns them"
    return draft


def _ellipsis_subscript(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Subscript) and any(
        isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Ellipsis) for e in node.slice
    )


def _argument_thread(
    context: RewriteContext, function: cst.FunctionDef, name: str, index: int, problems: list[str]
) -> Thread:
    view = context.view
    checked: set[int] = set()

    def outer_target(use: Use) -> Union[OuterTarget, str]:
        argument = _argument_expression(use.call, name, index, view, function)
        if argument is None:
            return f"the call does not pass `{name}` plainly"
        if not isinstance(argument, cst.Name):
            return f"`{view.code(argument)}` is not a variable: other references to the object would not see the update"
        site_function = view.enclosing_function(use.call)
        region = site_function or view.module
        if id(region) not in checked:
            checked.add(id(region))
            alias = _shared_elsewhere(view, region, argument.value, function)
            if alias:
                problems.append(alias)
        unknown = _not_plain_container(view, region, argument.value)
        if unknown:
            return unknown
        declare = None
        if site_function is not None and not binds_locally(view, site_function, argument.value):
            declare = argument.value
        return OuterTarget(cst.Name(argument.value), declare_global=declare)

    def outer_value(use: Use):
        return "it is already passed"

    def entry(converted):
        return [_copy_statement(context, name)] if converted is function else []

    return Thread(Slot(name), outer_value, outer_target, entry=entry, describe=name, propagates=False)


PLAIN_CONSTRUCTORS = frozenset({"dict", "list", "set", "tuple"})


def _not_plain_container(view: ModuleView, region: cst.CSTNode, name: str) -> Optional[str]:
    """The caller's object must be a plain container (a literal, `dict(...)`, or an object of a class of this
    module): a `jax.new_ref` Ref or an nnx Variable is updated in place by jit itself, and copying it breaks it."""
    nodes = own_nodes(region) if isinstance(region, (cst.FunctionDef, cst.Lambda)) else walk(region, into_scopes=False)
    values = []
    for node in nodes:
        if isinstance(node, cst.Assign) and any(_is_name(t.target, name) for t in node.targets):
            values.append(node.value)
    if not values:
        return f"cannot tell what `{name}` holds (it is not made here)"
    local_classes = {c.name.value for c in view.module.body if isinstance(c, cst.ClassDef)}
    for value in values:
        if isinstance(value, (cst.Dict, cst.List, cst.Tuple, cst.Set, cst.DictComp, cst.ListComp)):
            continue
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and (
            value.func.value in PLAIN_CONSTRUCTORS or value.func.value in local_classes
        ):
            continue
        shown = " ".join(view.code(value).split())[:40]
        return f"cannot tell what `{name}` holds (`{shown}`): a mutable reference would be broken by a copy"
    return None


def _argument_expression(
    call: cst.Call, name: str, index: int, view: ModuleView, function
) -> Optional[cst.BaseExpression]:
    if call is None:
        return None
    if view.enclosing_class(function) is not None:
        index -= 1  # a method: `self` is not among the call's arguments
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    positional = [a for a in call.args if a.keyword is None]
    return positional[index].value if 0 <= index < len(positional) else None


def _shared_elsewhere(view: ModuleView, region: cst.CSTNode, name: str, callee: cst.FunctionDef) -> Optional[str]:
    """Would another reference have seen the in-place change? Then rebinding the variable is not enough."""
    where = function_name(region) if isinstance(region, (cst.FunctionDef, cst.Lambda)) else "the module"
    if isinstance(region, (cst.FunctionDef, cst.Lambda)) and any(
        p.name.value == name for p in [*region.params.params, *region.params.kwonly_params]
    ):
        return f"`{name}` is a parameter of `{where}`: its own caller would not see the update"
    nodes = own_nodes(region) if isinstance(region, (cst.FunctionDef, cst.Lambda)) else walk(region, into_scopes=False)
    for node in nodes:
        if not (isinstance(node, cst.Name) and node.value == name and view.is_load(node)):
            continue
        parent = view.parent(node)
        if isinstance(parent, (cst.Attribute, cst.Subscript)) and parent.value is node:
            continue  # reading a field
        if isinstance(parent, cst.Arg):
            call = view.parent(parent)
            if isinstance(call, cst.Call) and (
                isinstance(call.func, cst.Name) and call.func.value in PURE_BUILTINS or _calls(view, call, callee)
            ):
                continue
        if isinstance(parent, cst.Return):
            continue
        return f"`{name}` is shared in `{' '.join(view.code(view.statement_of(node) or node).split())[:60]}` ({where})"
    return None


def _calls(view: ModuleView, call: cst.Call, callee: cst.FunctionDef) -> bool:
    """``call`` calls ``callee`` (directly or through an alias): those are the calls being rewritten."""
    from .uses import UseFinder

    return any(u.call is call for u in UseFinder(view).of_function(callee) if u.kind is UseKind.CALL)


# -- shared ----------------------------------------------------------------------------------------------------


def _functions(view: ModuleView, diagnostics: list[Diagnostic]) -> list[FunctionNode]:
    found: list[FunctionNode] = []
    for diagnostic in diagnostics:
        function = view.function_of(diagnostic)
        if function is not None and all(function is not f for f in found):
            found.append(function)
    return found


def _needs_input(view: ModuleView, function: FunctionNode, thread: Thread, container: bool) -> bool:
    """Does the function need the old value? Not when it only assigns it, unconditionally."""
    if container or not isinstance(function, cst.FunctionDef):
        return True
    local = thread.slot.local
    inside = thread.inside(function)
    if inside:  # a path like `Model.calls`: read when loaded or updated with `+=`
        for node in inside:
            parent = view.parent(node)
            if view.is_load(node) or isinstance(parent, cst.AugAssign) or not is_top_level(view, function, node):
                return True
        return False
    if reads_name(view, function, local):
        return True
    for node in own_nodes(function):
        if _is_name(node, local) and view.is_store(node) and not is_top_level(view, function, node):
            return True
    return False


def _is_in_place(view: ModuleView, diagnostic: Diagnostic) -> bool:
    name = view.node_of(diagnostic, cst.Name)
    return name is not None and not view.is_store(name)


def _is_method(view: ModuleView, diagnostic: Diagnostic) -> bool:
    function = view.function_of(diagnostic)
    return function is not None and view.enclosing_class(function) is not None


def _is_name(node: cst.CSTNode, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _copy_statement(context: RewriteContext, name: str) -> cst.SimpleStatementLine:
    copy = context.imports.module("copy") + ".copy"
    return cst.parse_statement(f"{name} = {copy}({name})  # a copy: the caller's object stays unchanged\n")


def _draft(context: RewriteContext, group: Group, threader, thread: Thread, problems: list[str]) -> Draft:
    functions = sorted({function_name(e.conversion.function) for e in threader.converted.values()})
    listed = ", ".join(f"`{f}`" for f in functions)
    verb = "returns" if len(functions) == 1 else "return"
    summary = f"{listed} {verb} the new `{thread.describe}` with the output; every call stores it"
    anchor = None
    for entry in threader.converted.values():
        anchor = context.view.anchor_of(entry.conversion.function) or anchor
        break
    todo = [f"update the calls of {listed} in other modules to unpack the returned state"]
    return Draft(context.edits, summary, list(dict.fromkeys(problems)), todo, anchor)


def _advice(context: RewriteContext, group: Group) -> Draft:
    from .advice import build_advice

    return build_advice(context, group)
