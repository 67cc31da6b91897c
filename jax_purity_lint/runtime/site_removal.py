"""Rewrite the trace sites the analysis found: switch one off, or route them through the child's
recorder (``__jpl_runtime__``, installed as a builtin by child.py). A site comes with its node in the
analysis's own tree; only a diagnosis handed in as data (no analysis) is found by its line/column.

Every rewrite keeps each line where it was, so tracebacks and diagnostics keep pointing at the right
line of the user's file.

Switching a site off (``record=False``), the plain rewrite the attribution method describes:

- ``@jax.jit`` / ``@partial(jax.jit, static_argnums=0)`` / ``@jax.jit(static_argnames=...)``: the
  decorator is dropped (an empty line takes its place);
- ``jax.jit(f, ...)``, ``partial(jax.jit, ...)(f)``, ``jax.jit(static_argnames=...)(f)``: replaced by
  ``f`` (a call spanning several lines becomes ``(lambda function, *_, **__: function)(f, ...)``,
  which is the same thing without moving lines);
- pmap and immediate transforms (lax control flow, eval_shape) have no bare-function form: the
  callee becomes ``__jpl_runtime__.stand_in('<transform>', <callee>)``, an eager implementation.

Recording (``record=True``, what the runtime checker runs): the callee or decorator expression ``E``
becomes ``__jpl_runtime__.site(line, col, '<transform>', E)``; a switched-off site passes ``None``
(no transformation) or the stand-in instead of ``E``; the one site kept jitted in an otherwise eager
run (``switched_on``) gets a final ``True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ..analysis.jax_api import PARTIAL, canonical
from ..analysis.tree import dotted_name, function_argument
from .transforms import needs_stand_in

RUNTIME_NAME = "__jpl_runtime__"


class SiteNotFound(LookupError):
    """No decorator or call of a trace-caching transformation starts at the given position."""


@dataclass(frozen=True)
class SiteRequest:
    """A trace site to rewrite, as the static analysis reported it: its node in the analysed tree
    (the decorator expression or the call), or only its position when it came as data."""

    line: int
    col: int
    transform: str
    node: Optional[cst.CSTNode] = field(default=None, compare=False, hash=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.line}:{self.col}"


@dataclass(frozen=True)
class LocatedSite:
    request: SiteRequest
    node: Union[cst.Decorator, cst.Call]


def _last_name(dotted: str) -> str:
    return dotted.rsplit(".", 1)[-1]


def _is_partial(expr: cst.BaseExpression) -> bool:
    return _last_name(dotted_name(expr)) == _last_name(PARTIAL)


class _Index(cst.CSTVisitor):
    """Decorators and calls by start position, and each call's enclosing call (for `a(b)(c)`)."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        self.decorators: list[tuple[tuple[int, int], tuple[int, int], cst.Decorator]] = []
        self.calls: list[tuple[tuple[int, int], cst.Call]] = []
        self.outer_call: dict[int, cst.Call] = {}  # id(call used as func) -> call applying it

    def _start(self, node: cst.CSTNode) -> tuple[int, int]:
        position = self.get_metadata(PositionProvider, node).start
        return position.line, position.column

    def visit_Decorator(self, node: cst.Decorator) -> None:
        self.decorators.append((self._start(node), self._start(node.decorator), node))

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append((self._start(node), node))
        if isinstance(node.func, cst.Call):
            self.outer_call[id(node.func)] = node


def _site_call_for(innermost: cst.Call, index: _Index) -> cst.Call:
    """`partial(jax.jit, ...)(f)` and `jax.jit(static_argnames=...)(f)`: the site is the call applying it."""
    outer = index.outer_call.get(id(innermost))
    if outer is None:
        return innermost
    if _is_partial(innermost.func) or function_argument(innermost) is None:
        return outer
    return innermost


def _locate(request: SiteRequest, index: _Index) -> Union[cst.Decorator, cst.Call]:
    if request.node is not None:
        return _locate_node(request, index)
    position = (request.line, request.col)
    for at_sign, expression, decorator in index.decorators:
        if position in (at_sign, expression):
            return decorator
    starting_here = [call for start, call in index.calls if start == position]
    innermost = [call for call in starting_here if not isinstance(call.func, cst.Call)]
    if innermost:
        return _site_call_for(innermost[0], index)
    # Fall back to the line alone when it holds exactly one candidate for this transform.
    names = (_last_name(canonical(request.transform)), _last_name(PARTIAL))
    on_line = [decorator for (line, _), _, decorator in index.decorators if line == request.line]
    on_line += [
        _site_call_for(call, index)
        for (line, _), call in index.calls
        if line == request.line and _last_name(dotted_name(call.func)) in names
    ]
    unique = {id(node): node for node in on_line}
    if len(unique) == 1:
        return next(iter(unique.values()))
    raise SiteNotFound(f"no decorator or call of {request.transform} starts at line {request.line}, column {request.col}")


def _locate_node(request: SiteRequest, index: _Index) -> Union[cst.Decorator, cst.Call]:
    """The decorator holding the analysis's site expression, or the call to rewrite for its call
    (`partial(jax.jit, ...)(f)`: the call applying it)."""
    node = request.node
    for _, _, decorator in index.decorators:
        if decorator.decorator is node:
            return decorator
    if isinstance(node, cst.Call):
        return _site_call_for(node.func if isinstance(node.func, cst.Call) else node, index)
    raise SiteNotFound(f"the {request.transform} at line {request.line} is neither a decorator nor a call")


# -- building the replacement expressions ----------------------------------------------------------


def _runtime_call(method: str, *args: cst.BaseExpression) -> cst.Call:
    return cst.Call(
        func=cst.Attribute(value=cst.Name(RUNTIME_NAME), attr=cst.Name(method)),
        args=[cst.Arg(value=arg) for arg in args],
    )


def _literal(value: Union[int, str]) -> cst.BaseExpression:
    return cst.Integer(str(value)) if isinstance(value, int) else cst.SimpleString(repr(value))


def _stand_in(request: SiteRequest, callee: cst.BaseExpression) -> cst.Call:
    return _runtime_call("stand_in", _literal(request.transform), callee)


def _recorded(request: SiteRequest, transform: cst.BaseExpression, jit_enabled: bool = False) -> cst.Call:
    arguments = [_literal(request.line), _literal(request.col), _literal(request.transform), transform]
    if jit_enabled:
        arguments.append(cst.Name("True"))
    return _runtime_call("site", *arguments)


def _switched_off_transform(request: SiteRequest, original: cst.BaseExpression) -> cst.BaseExpression:
    return _stand_in(request, original) if needs_stand_in(request.transform) else cst.Name("None")


_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)


def _parenthesized(expr: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, _ATOMS) or expr.lpar:
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


_PASS_FUNCTION_THROUGH = cst.parse_expression("(lambda function, *_, **__: function)")


class _Rewriter(cst.CSTTransformer):
    def __init__(
        self, located: Sequence[LocatedSite], switched_off: Optional[str], switched_on: Optional[str], record: bool, multiline: set[int]
    ):
        self.by_node = {id(site.node): site for site in located}
        self.switched_off = switched_off
        self.switched_on = switched_on  # in an eager run, the one site that stays jitted
        self.record = record
        self.multiline = multiline  # ids of call sites that span several lines

    def _site(self, original: cst.CSTNode) -> Optional[LocatedSite]:
        return self.by_node.get(id(original))

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        return self._without_dropped_decorators(updated)

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        return self._without_dropped_decorators(updated)

    def _without_dropped_decorators(self, node):
        """Decorators turned into `None` by leave_Decorator go; each leaves an empty line behind."""
        kept: list[cst.Decorator] = []
        carried: list[cst.EmptyLine] = []
        for decorator in node.decorators:
            if isinstance(decorator.decorator, cst.Name) and decorator.decorator.value == "__jpl_dropped__":
                carried += [*decorator.leading_lines, cst.EmptyLine()]
                continue
            kept.append(decorator.with_changes(leading_lines=[*carried, *decorator.leading_lines]))
            carried = []
        if len(kept) == len(node.decorators):
            return node
        return node.with_changes(decorators=kept, lines_after_decorators=[*carried, *node.lines_after_decorators])

    def leave_Decorator(self, original: cst.Decorator, updated: cst.Decorator) -> cst.Decorator:
        site = self._site(original)
        if site is None:
            return updated
        request = site.request
        expression = updated.decorator
        if request.key == self.switched_off:
            if self.record:
                return updated.with_changes(decorator=_recorded(request, _switched_off_transform(request, expression)))
            if needs_stand_in(request.transform):
                return updated.with_changes(decorator=_stand_in(request, expression))
            return updated.with_changes(decorator=cst.Name("__jpl_dropped__"))
        if self.record:
            return updated.with_changes(decorator=_recorded(request, expression, request.key == self.switched_on))
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        site = self._site(original)
        if site is None:
            return updated
        request = site.request
        if request.key == self.switched_off:
            if self.record:
                return updated.with_changes(func=_recorded(request, _switched_off_transform(request, updated.func)))
            if needs_stand_in(request.transform):
                return updated.with_changes(func=_stand_in(request, updated.func))
            function = function_argument(updated)
            if function is None:
                raise SiteNotFound(f"the call at line {request.line} passes no function to {request.transform}")
            if id(original) in self.multiline:
                return updated.with_changes(func=_PASS_FUNCTION_THROUGH)
            return _parenthesized(function.value)
        if self.record:
            return updated.with_changes(func=_recorded(request, updated.func, request.key == self.switched_on))
        return updated


class _SpanFinder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, wanted: set[int]) -> None:
        self.wanted = wanted
        self.multiline: set[int] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if id(node) in self.wanted:
            span = self.get_metadata(PositionProvider, node)
            if span.end.line != span.start.line:
                self.multiline.add(id(node))
        return True


def rewrite_sites(
    source: str,
    requests: Sequence[SiteRequest],
    *,
    switched_off: Optional[SiteRequest] = None,
    switched_on: Optional[SiteRequest] = None,
    record: bool = True,
    module: Optional[cst.Module] = None,
) -> str:
    """The source with ``requests`` routed through the recorder (``record``), ``switched_off``
    switched off, and ``switched_on`` marked to stay jitted inside an eager run (both must be among
    ``requests``). ``module``: the analysed tree of ``source``, which the requests' nodes belong to
    (parsed here when not given). Raises SiteNotFound, or ValueError if the rewrite would move a line
    (it never should)."""
    if module is None:
        module = cst.parse_module(source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    index = _Index()
    wrapper.visit(index)
    located = [LocatedSite(request, _locate(request, index)) for request in requests]
    spans = _SpanFinder({id(site.node) for site in located})
    wrapper.visit(spans)
    rewriter = _Rewriter(
        located, switched_off.key if switched_off else None, switched_on.key if switched_on else None, record, spans.multiline
    )
    rewritten = module.visit(rewriter).code
    if rewritten.count("\n") != source.count("\n"):
        raise ValueError("rewriting the trace sites would move lines")
    return rewritten


def switch_off_site(source: str, line: int, col: int, transform: str = "jax.jit") -> str:
    """The plain rewrite: the source with the one trace site at ``line``/``col`` switched off."""
    request = SiteRequest(line, col, transform)
    return rewrite_sites(source, [request], switched_off=request, record=False)
