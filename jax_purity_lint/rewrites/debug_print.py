"""JPL400: output at run time instead of trace time.

- `print("x =", x)` -> `jax.debug.print("x = {}", x)`: the same text, with the values of each call.
  Literal text goes into the format string; f-strings keep their conversions and format specs; text
  with braces is passed as an argument, so nothing needs escaping.
- `sys.stdout.write("step\\n")` -> `jax.debug.print("step")`.
- logging calls, other writes, and prints with `file=`/`end=` -> `jax.debug.callback(lambda ...: <the
  same call>, <its traced arguments>)`: the very same call, made at run time with the values.

Safe, except under `pmap`: there a debug print or callback runs once per device, while the eager
program printed once per call.
"""

from __future__ import annotations

import ast
import json
from typing import Optional

import libcst as cst

from ..analysis.jax_api import RUNS_PER_DEVICE
from ..diagnostics import Diagnostic
from .context import RewriteContext
from .model import Draft, Group
from .view import ModuleView, own_nodes, walk

STDOUT_WRITES = ("sys.stdout.write",)


def build_debug_print(context: RewriteContext, group: Group) -> Draft:
    view = context.view
    problems: list[str] = []
    done: list[str] = []
    anchor = None
    for diagnostic in group.diagnostics:
        if diagnostic.finding.variant == "remote":  # the print is in a function of another module
            problems.append(
                f"{view.place_of_line(diagnostic.line)}: `{diagnostic.state}` prints in another module: "
                "use `jax.debug.print` there; this call is left as it is"
            )
            continue
        call = view.node_of(diagnostic, cst.Call)
        if call is None:
            problems.append(f"{view.place_of_line(diagnostic.line)}: cannot find the call")
            continue
        anchor = anchor or view.statement_of(call)
        how = _rewrite_call(context, call, diagnostic, problems)
        if how:
            done.append(how)
        if diagnostic.site is not None and diagnostic.site.transform in RUNS_PER_DEVICE:
            problems.append("under pmap a debug print runs once per device; the eager program printed once per call")
    summary = "; ".join(dict.fromkeys(done)) or "no rewrite"
    return Draft(context.edits, summary, list(dict.fromkeys(problems)), ["check the printed output"], anchor)


def _rewrite_call(
    context: RewriteContext, call: cst.Call, diagnostic: Diagnostic, problems: list[str]
) -> Optional[str]:
    view = context.view
    parent = view.parent(call)
    if not isinstance(parent, cst.Expr):
        problems.append(f"{view.place_of_line(diagnostic.line)}: the result of `{diagnostic.state}` is used")
        return None
    jax_name = context.imports.module("jax")
    qualified = view.qualified(call.func) or ""
    new: Optional[cst.Call] = None
    how = ""
    if qualified == "builtins.print":
        new = _debug_print_for_print(jax_name, call)
        how = "`print` becomes `jax.debug.print`"
    elif qualified in STDOUT_WRITES:
        new = _debug_print_for_write(jax_name, call)
        how = "`sys.stdout.write` becomes `jax.debug.print`"
    if new is None:
        new, problem = _callback(view, jax_name, call)
        if problem:
            problems.append(f"{view.place_of_line(diagnostic.line)}: {problem}")
            return None
        how = f"`{diagnostic.state}` runs at run time through `jax.debug.callback`"
    context.edits.substitute(call, new)
    return how


# -- print -> jax.debug.print -----------------------------------------------------------------------------------


def _debug_print_for_print(jax_name: str, call: cst.Call) -> Optional[cst.Call]:
    positional = []
    sep = " "
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            positional.append(arg.value)
            continue
        keyword = arg.keyword.value
        text = _literal_text(arg.value)
        if keyword == "sep" and text is not None:
            sep = text
        elif keyword == "end" and text == "\n":
            continue
        elif keyword == "flush":
            continue
        elif keyword == "file" and isinstance(arg.value, cst.Name) and arg.value.value == "None":
            continue
        else:
            return None  # `file=`, `end=`: the same call through a callback instead
    built = _format(positional, sep)
    if built is None:
        return None
    fmt, values = built
    return _debug_print(jax_name, fmt, values)


def _debug_print_for_write(jax_name: str, call: cst.Call) -> Optional[cst.Call]:
    if len(call.args) != 1 or call.args[0].keyword or call.args[0].star:
        return None
    text = _literal_text(call.args[0].value)
    if text is None or not text.endswith("\n") or "\n" in text[:-1]:
        return None
    return _debug_print(jax_name, *_format_text(text[:-1]))


def _debug_print(jax_name: str, fmt: str, values: list[cst.BaseExpression]) -> cst.Call:
    args = [cst.Arg(cst.SimpleString(_quoted(fmt)))] + [cst.Arg(v) for v in values]
    return cst.Call(cst.parse_expression(f"{jax_name}.debug.print"), args)


def _format(arguments: list[cst.BaseExpression], sep: str) -> Optional[tuple[str, list[cst.BaseExpression]]]:
    """print's arguments as one format string and the values it formats."""
    if "{" in sep or "}" in sep:
        return None
    pieces: list[str] = []
    values: list[cst.BaseExpression] = []
    for argument in arguments:
        text = _literal_text(argument)
        if text is not None:
            piece, extra = _format_text(text)
        elif isinstance(argument, cst.FormattedString):
            found = _format_fstring(argument)
            if found is None:
                return None
            piece, extra = found
        else:
            piece, extra = "{}", [argument]
        pieces.append(piece)
        values.extend(extra)
    return sep.join(pieces), values


def _format_text(text: str) -> tuple[str, list[cst.BaseExpression]]:
    """Literal text: as is; with braces, passed as a value (jax.debug.print mishandles escaped braces)."""
    if "{" in text or "}" in text:
        return "{}", [cst.SimpleString(_quoted(text))]
    return text, []


def _format_fstring(node: cst.FormattedString) -> Optional[tuple[str, list[cst.BaseExpression]]]:
    if node.prefix.lower() != "f":
        return None
    pieces, values = [], []
    for part in node.parts:
        if isinstance(part, cst.FormattedStringText):
            text = part.value.replace("{{", "{").replace("}}", "}")
            if "\\" in text:
                try:
                    text = ast.literal_eval('"' + text.replace('"', '\\"') + '"')
                except (ValueError, SyntaxError):
                    return None
            piece, extra = _format_text(text)
            pieces.append(piece)
            values.extend(extra)
            continue
        if part.equal is not None or any(not isinstance(p, cst.FormattedStringText) for p in (part.format_spec or [])):
            return None
        conversion = f"!{part.conversion}" if part.conversion else ""
        spec = "".join(p.value for p in (part.format_spec or []))
        pieces.append("{" + conversion + (":" + spec if spec else "") + "}")
        values.append(part.expression)
    return "".join(pieces), values


def _literal_text(node: cst.BaseExpression) -> Optional[str]:
    """The printed text of a literal: strings, numbers, True/False/None."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, (cst.Integer, cst.Float)):
        return str(ast.literal_eval(node.value))
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return node.value
    return None


def _quoted(text: str) -> str:
    """A double-quoted Python literal (JSON's escapes are valid Python ones)."""
    return json.dumps(text, ensure_ascii=False)


# -- anything else -> jax.debug.callback ----------------------------------------------------------------------


def _callback(view: ModuleView, jax_name: str, call: cst.Call) -> tuple[Optional[cst.Call], Optional[str]]:
    """`jax.debug.callback(lambda a: <call with a>, a)`: the traced function's own values become callback
    arguments (they arrive as arrays at run time); literals and module-level objects stay in place."""
    params: list[str] = []
    passed: list[cst.BaseExpression] = []
    new_args = []
    local = _local_names(view, view.enclosing_function(call))
    for index, arg in enumerate(call.args):
        if arg.star:
            return None, "the call unpacks `*args`: rewrite it by hand"
        value = arg.value
        if not any(isinstance(n, cst.Name) and n.value in local for n in walk(value)):
            new_args.append(arg)
            continue
        name = value.value if isinstance(value, cst.Name) and value.value not in params else f"arg{index}"
        params.append(name)
        passed.append(value)
        new_args.append(arg.with_changes(value=cst.Name(name)))
    body = call.with_changes(args=new_args)
    function = cst.Lambda(cst.Parameters([cst.Param(cst.Name(p)) for p in params]), body)
    arguments = [cst.Arg(function), *[cst.Arg(value) for value in passed]]
    callback = cst.Call(cst.parse_expression(f"{jax_name}.debug.callback"), arguments)
    return callback, None


def _local_names(view: ModuleView, function) -> set[str]:
    """Parameters and variables of the traced function: the values that are tracers there."""
    if function is None:
        return set()
    params = function.params
    names = {p.name.value for p in [*params.params, *params.kwonly_params, *params.posonly_params]}
    for extra in (params.star_arg, params.star_kwarg):
        if isinstance(extra, cst.Param):
            names.add(extra.name.value)
    body = own_nodes(function) if isinstance(function, cst.FunctionDef) else walk(function.body)
    names.update(n.value for n in body if isinstance(n, cst.Name) and view.is_store(n))
    return names
