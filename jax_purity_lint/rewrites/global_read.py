"""JPL100 (and JPL103 reads): a global or closure value read by traced code becomes a parameter.

`def f(x): return x + g` -> `def f(x, g): return x + g`, and every call in the module passes it:
`fast(5.)` -> `fast(5., g)`. A whole global keeps its name (the parameter shadows it, the body is
unchanged); a path such as `settings.l2` becomes a parameter `settings_l2`. Traced callers take the
parameter too and pass it on; lax loop bodies get it bound with `functools.partial`.

Safe when every use of the function (and of its traced callers) is a call we can update, and the
value is one jit can trace (not a string).
"""

from __future__ import annotations

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
from .view import FunctionNode, ModuleView, walk


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
            problems.append(f"line {diagnostic.line}: cannot find the read of `{diagnostic.state}`")
            continue
        anchor = anchor or view.anchor_of(function)
        text = path_text(view, path)
        if text not in threads:
            threads[text] = _read_thread(context, path, text, function, outer_check)
        threader.seed(function, threads[text], takes=True, gives=False)
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
    """jit traces numbers and arrays; a global holding strings would have to be a static argument."""
    for text in texts:
        if not text.isidentifier():
            continue  # a path: only its own element is passed
        for node in walk(view.module):
            assigned = isinstance(node, cst.Assign) and any(
                isinstance(t.target, cst.Name) and t.target.value == text for t in node.targets
            )
            if assigned:
                if _holds_strings(node.value):
                    return [f"`{text}` holds strings, which jit cannot trace: it would have to be a static argument"]
    return []


def _holds_strings(value: cst.BaseExpression) -> bool:
    if isinstance(value, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
        return True
    if isinstance(value, cst.Dict):
        return any(isinstance(e, cst.DictElement) and _holds_strings(e.value) for e in value.elements)
    if isinstance(value, (cst.List, cst.Tuple, cst.Set)):
        return any(_holds_strings(e.value) for e in value.elements)
    return False


def _check_fresh_names(view: ModuleView, threader, threads) -> None:
    """A traced caller that already has a variable of the parameter's name cannot take it."""
    for entry in threader.converted.values():
        function = entry.conversion.function
        for thread in entry.threads:
            if binds_locally(view, function, thread.slot.local):
                threader.problems.append(f"`{_name(function)}` already has a variable `{thread.slot.local}`")


def _name(function: FunctionNode) -> str:
    return function.name.value if isinstance(function, cst.FunctionDef) else "lambda"
