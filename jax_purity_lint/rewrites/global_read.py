"""JPL100 (and JPL103 reads): a global or closure value read by traced code becomes a parameter.

`def f(x): return x + g` -> `def f(x, g): return x + g`, and every call in the module passes it:
`fast(5.)` -> `fast(5., g)`. A whole global keeps its name (the parameter shadows it, the body is
unchanged); a path such as `settings.l2` becomes a parameter `settings_l2`. Traced callers take the
parameter too and pass it on; lax loop bodies get it bound with `functools.partial`.

Safe when every use of the function (and of its traced callers) is a call we can update, and every
binding of the global is a value jit can trace: numbers, arrays, containers of them. A function, an
optimizer, a module or a string would raise at the first call: that rewrite needs review.
"""

from __future__ import annotations

import re
from typing import Optional, Union

import libcst as cst

from ..diagnostics import Diagnostic
from .access import copy_of, longest_read_path, matching_paths, path_text, root_name
from .context import RewriteContext
from .functions import Slot, binds_locally
from .model import Draft, Group
from .names import python_identifier
from .threading import Thread
from .uses import Use
from .view import FunctionNode, ModuleView, own_nodes, walk


def build_global_read(context: RewriteContext, group: Group) -> Draft:
    return _build_read(context, group, outer_check=_global_visible)


def build_closure_read(context: RewriteContext, group: Group) -> Draft:
    return _build_read(context, group, outer_check=_closure_visible)


def _build_read(context: RewriteContext, group: Group, outer_check) -> Draft:
    view = context.view
    threader = context.threader()
    problems: list[str] = []
    threads: dict[str, Thread] = {}
    anchor = None
    for diagnostic in group.diagnostics:
        function, path = _read_at(view, diagnostic)
        if function is None or path is None:
            problems.append(f"{view.place_of_line(diagnostic.line)}: cannot find the read of `{diagnostic.state}`")
            continue
        anchor = anchor or view.anchor_of(function)
        text = path_text(view, path)
        if text not in threads:
            threads[text] = _read_thread(context, path, text, function, outer_check)
        threader.seed(function, threads[text], takes=True, gives=False)
    remote = sorted({d.state for d in group.diagnostics if d.finding.variant == "remote"})
    if remote:
        problems.append(
            f"`{remote[0]}` is state of another module, changed there: every module that calls the traced "
            "function must pass it, and those calls are not rewritten here"
        )
    else:
        problems.extend(_untraceable_values(view, threads))
    threader.propagate()
    _check_fresh_names(view, threader, threads.values())
    threader.emit()
    problems.extend(threader.problems)
    names = ", ".join(f"`{t.slot.local}`" for t in threads.values())
    functions = ", ".join(sorted({_name(e.conversion.function) for e in threader.converted.values()}))
    summary = f"{functions} take{'s' if ',' not in functions else ''} {names} as a parameter; every call passes it"
    todo = [f"pass {names} at the calls of {functions} that are not in this module"]
    return Draft(context.edits, summary, problems, todo, anchor)


def _read_at(view: ModuleView, diagnostic: Diagnostic):
    name = view.node_of(diagnostic, cst.Name)
    if name is None:
        return None, None
    function = view.enclosing_function(name)
    return function, longest_read_path(view, name)


def _read_thread(
    context: RewriteContext, path: cst.BaseExpression, text: str, seed: FunctionNode, outer_check
) -> Thread:
    view = context.view
    root = root_name(path)
    whole = isinstance(path, cst.Name)
    local = root if whole else context.pool.fresh(view.module, python_identifier(text))

    def outer_value(use: Use) -> Union[cst.BaseExpression, str]:
        site = use.call if use.call is not None else use.node
        problem = outer_check(view, seed, site, root)
        return problem if problem else copy_of(view, path)

    def inside(function: FunctionNode) -> list[cst.CSTNode]:
        if whole:
            return []  # the parameter has the global's name: the body reads it unchanged
        return list(matching_paths(view, function, text))

    return Thread(Slot(local), outer_value, inside=inside, describe=text)


def _global_visible(view: ModuleView, seed: FunctionNode, site: cst.CSTNode, root: str) -> Optional[str]:
    caller = view.enclosing_function(site)
    if caller is not None and binds_locally(view, caller, root):
        return f"the caller has its own variable `{root}`"
    return None


def _closure_visible(view: ModuleView, seed: FunctionNode, site: cst.CSTNode, root: str) -> Optional[str]:
    """A closure variable can be passed only where it lives: in the function that owns it."""
    owner = _closure_owner(view, seed, root)
    caller = view.enclosing_function(site)
    if owner is None or caller is not owner:
        return f"`{root}` belongs to another function; the call is elsewhere"
    return None


def _closure_owner(view: ModuleView, function: FunctionNode, name: str) -> Optional[FunctionNode]:
    for ancestor in view.ancestors(function):
        if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)) and binds_locally(view, ancestor, name):
            return ancestor
    return None


def _untraceable_values(view: ModuleView, texts) -> list[str]:
    """jit traces numbers and arrays (and containers of them); a global bound to anything else (a
    function, an optimizer, a module, a string, a value we cannot see) cannot become a traced argument:
    the rewrite would raise at the first call. Decided from every binding of the global."""
    for text in texts:
        root, key = _root_and_key(text)
        for binding, values in _module_bindings(view, root):
            values = None if values is None else [_element(value, key) for value in values]
            unknown = next((v for v in values if not _traceable(view, v, root)), None) if values else None
            if values is None or unknown is not None:
                shown = "a value it cannot see" if values is None else f"`{_short(view, unknown)}`"
                return [
                    f"`{text}` is bound to {shown} at {view.place(binding)}: jit traces numbers and arrays, "
                    "not this; it would have to be a static argument, or the compiled function re-created "
                    "when it changes"
                ]
    return []


_PATH = re.compile(r"(?P<root>[A-Za-z_]\w*)(?:\[(?P<key>'[^']*'|\"[^\"]*\")\]|\.(?P<attribute>[A-Za-z_]\w*))?")


def _root_and_key(text: str) -> tuple[str, Optional[str]]:
    """`CFG["lr"]` -> ("CFG", "lr"); `settings.l2` -> ("settings", "l2"); `g` -> ("g", None): the part
    passed is judged by what its root is bound to."""
    match = _PATH.match(text)
    if match is None:
        return text, None
    key = match.group("key")
    return match.group("root"), key[1:-1] if key else match.group("attribute")


def _element(value: cst.BaseExpression, key: Optional[str]) -> cst.BaseExpression:
    """The value under `key` of a dict literal, or the keyword argument `key` of a call making a
    namespace (`SimpleNamespace(l2=0.0)`); else the value itself."""
    if key is None:
        return value
    if isinstance(value, cst.Dict):
        for element in value.elements:
            if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
                if element.key.evaluated_value == key:
                    return element.value
    if isinstance(value, cst.Call):
        for arg in value.args:
            if arg.keyword is not None and arg.keyword.value == key:
                return arg.value
    return value


# Statements that bind a name, and calls whose result is a number or an array (jit traces them).
_BINDERS = (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.FunctionDef, cst.ClassDef, cst.For, cst.ImportAlias)
_ARRAY_MAKERS = ("jax.numpy.", "numpy.", "jax.random.")
_NUMBER_BUILTINS = frozenset({"float", "int", "bool", "abs", "min", "max", "round", "len", "sum", "complex", "range"})


def _module_bindings(view: ModuleView, name: str):
    """(statement, the values it may bind) for each binding of the module-level `name`: module
    statements, and those of functions that declare it `global`. The values are None when they cannot
    be seen (a def, a class, an import, a loop over something else, a setter called from elsewhere)."""
    for node in walk(view.module):
        if not isinstance(node, _BINDERS):
            continue
        function = view.enclosing_function(node)
        if function is not None and not _declares_global(function, name):
            continue
        if isinstance(node, cst.Assign):
            if any(isinstance(t.target, cst.Name) and t.target.value == name for t in node.targets):
                yield node, _values_of(view, node.value, function)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            if isinstance(node.target, cst.Name) and node.target.value == name and node.value is not None:
                yield node, _values_of(view, node.value, function)
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            if node.name.value == name:
                yield node, None
        elif isinstance(node, cst.For):
            if isinstance(node.target, cst.Name) and node.target.value == name:
                yield node, _loop_values(view, node.iter, function)
        elif _imported_as(node) == name:
            yield node, None


def _values_of(view: ModuleView, value: cst.BaseExpression, function) -> Optional[list[cst.BaseExpression]]:
    """The value, or for a setter's parameter (`def set_scale(v): global SCALE; SCALE = v`) the
    arguments every call in the module passes; None when it is called from nowhere we can see."""
    if not (isinstance(function, cst.FunctionDef) and isinstance(value, cst.Name)):
        return [value]
    names = [p.name.value for p in function.params.params]
    if value.value not in names:
        return [value]
    index, found = names.index(value.value), []
    for node in walk(view.module):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == function.name.value:
            if any(arg.star for arg in node.args):
                return None
            keyword = next((a.value for a in node.args if a.keyword and a.keyword.value == value.value), None)
            positional = [a.value for a in node.args if a.keyword is None]
            argument = keyword if keyword is not None else positional[index] if index < len(positional) else None
            if argument is None:
                return None
            found.append(argument)
    return found or None


def _loop_values(view: ModuleView, iterable: cst.BaseExpression, function) -> Optional[list[cst.BaseExpression]]:
    """What a `for` loop binds: the elements of a literal, or of the one list literal a name of the
    same function (or module) is assigned; integers for `range(...)`."""
    if isinstance(iterable, cst.Name):
        region = view.module if function is None else function
        literals = [
            node.value
            for node in (walk(region) if function is None else own_nodes(function))
            if isinstance(node, cst.Assign)
            and any(isinstance(t.target, cst.Name) and t.target.value == iterable.value for t in node.targets)
        ]
        if len(literals) != 1:
            return None
        iterable = literals[0]
    if isinstance(iterable, (cst.Tuple, cst.List, cst.Set)):
        return [element.value for element in iterable.elements]
    if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and iterable.func.value == "range":
        return [iterable]  # integers
    return None


def _traceable(view: ModuleView, value: cst.BaseExpression, own: str, seen: frozenset[str] = frozenset()) -> bool:
    """Numbers, booleans, None, arrays made by jax.numpy/numpy/jax.random, the global's own value
    (`own`, whose other bindings are checked too), another module-level name all of whose bindings are
    such values, arithmetic of those, and tuples, lists and dicts of them. Anything else is not known
    to be traceable."""
    if isinstance(value, (cst.Integer, cst.Float, cst.Imaginary)):
        return True
    if isinstance(value, cst.Name):
        if value.value in ("True", "False", "None", own) or value.value in seen:
            return True
        return _bound_only_to_traceable(view, value.value, seen | {own})
    if isinstance(value, cst.UnaryOperation):
        return _traceable(view, value.expression, own, seen)
    if isinstance(value, cst.BinaryOperation):
        return _traceable(view, value.left, own, seen) and _traceable(view, value.right, own, seen)
    if isinstance(value, cst.Subscript):  # an element or a slice of an array
        return _traceable(view, value.value, own, seen)
    if isinstance(value, (cst.Tuple, cst.List)):
        return all(isinstance(e, cst.Element) and _traceable(view, e.value, own, seen) for e in value.elements)
    if isinstance(value, cst.Dict):
        return all(isinstance(e, cst.DictElement) and _traceable(view, e.value, own, seen) for e in value.elements)
    if isinstance(value, cst.Call):
        if isinstance(value.func, cst.Name) and value.func.value in _NUMBER_BUILTINS:
            return view.qualified(value.func) in (None, f"builtins.{value.func.value}", value.func.value)
        return (view.qualified(value.func) or "").startswith(_ARRAY_MAKERS)
    return False


def _bound_only_to_traceable(view: ModuleView, name: str, seen: frozenset[str]) -> bool:
    bindings = list(_module_bindings(view, name))
    return bool(bindings) and all(
        values is not None and all(_traceable(view, v, name, seen) for v in values) for _, values in bindings
    )


def _declares_global(function: FunctionNode, name: str) -> bool:
    return any(
        isinstance(node, cst.Global) and any(n.name.value == name for n in node.names) for node in own_nodes(function)
    )


def _imported_as(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    name = alias.name
    while isinstance(name, cst.Attribute):
        name = name.value
    return name.value if isinstance(name, cst.Name) else ""


def _short(view: ModuleView, node: cst.CSTNode) -> str:
    text = " ".join(view.code(node).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _check_fresh_names(view: ModuleView, threader, threads) -> None:
    """A traced caller that already has a variable of the parameter's name cannot take it."""
    for entry in threader.converted.values():
        function = entry.conversion.function
        for thread in entry.threads:
            if binds_locally(view, function, thread.slot.local):
                threader.problems.append(f"`{_name(function)}` already has a variable `{thread.slot.local}`")


def _name(function: FunctionNode) -> str:
    return function.name.value if isinstance(function, cst.FunctionDef) else "lambda"
