"""The state a diagnosis names, read before and after each recorded call of its trace site.

Parent side: ``watches_for`` turns the diagnoses into, per site key, the names worth watching and
where each lives (its *scope*): a module global (``g``, ``cfg.lr``, ``Model.calls``), an attribute of
the instance a method is bound to (``self.count``), a closure cell of the traced function
(``steps``), or an argument of the call (``batch``). Only names and attribute chains are watched:
``CONFIG["lr"]`` and the like are left out, and so are print, randomness and iterators (JPL4xx),
whose state cannot be read without running it.

Child side: ``StateReader`` finds each watched root once per transformed function, and ``read`` gives
the encoded values at one moment. Reading runs no user code beyond what ``encode`` already runs for
results: globals and closure cells are looked up, attributes are found with
``inspect.getattr_static`` (a property is not run), and a value that cannot be read is recorded as
``{"$unread": reason}``. Reading never raises.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
from typing import Any, Callable, Iterable, Optional

from .serialize import encode

# Which scope the state of each rule's diagnoses lives in.
SCOPE_BY_CODE = {
    "JPL100": "global",
    "JPL101": "global",
    "JPL102": "global",
    "JPL103": "closure",
    "JPL200": "self",
    "JPL201": "self",
    "JPL202": "self",
    "JPL300": "argument",
}
# Small: two reads per watched name per call, kept in the run's JSON result.
STATE_MAX_NODES = 500
STATE_MAX_ARRAY_ELEMENTS = 64
MAX_ATTRIBUTE_CHAIN = 6

_ATTRIBUTE_CHAIN = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_UNWRAP_DEPTH = 10


# -- parent side: what to watch ----------------------------------------------------------------------


def watch_of(code: str, state: str) -> Optional[dict]:
    """{"name", "scope"} for a diagnosis's state, or None when it cannot be read simply."""
    scope = SCOPE_BY_CODE.get(code)
    if scope is None or not _ATTRIBUTE_CHAIN.fullmatch(state or ""):
        return None
    if len(state.split(".")) > MAX_ATTRIBUTE_CHAIN or (scope == "self" and "." not in state):
        return None
    return {"name": state, "scope": scope}


def watches_for(diagnostics: Iterable[Any]) -> dict[str, list[dict]]:
    """Per site key ("line:col"), the distinct watches of the diagnoses made at that site."""
    by_site: dict[str, list[dict]] = {}
    for diagnosis in diagnostics:
        site = diagnosis.site
        watch = None if site is None else watch_of(diagnosis.code, diagnosis.state)
        if watch is None:
            continue
        watches = by_site.setdefault(f"{site.line}:{site.col}", [])
        if watch not in watches:
            watches.append(watch)
    return by_site


# -- child side: reading -------------------------------------------------------------------------------


class Unreadable(Exception):
    """The value cannot be read without running user code, or is not there."""


def unread(reason: str) -> dict:
    return {"$unread": reason}


def _underlying_function(function: Any) -> Any:
    """The plain function behind a bound method, a functools.partial or a wrapper (``__wrapped__``)."""
    for _ in range(_UNWRAP_DEPTH):
        if isinstance(function, types.FunctionType):
            return function
        if isinstance(function, types.MethodType):
            function = function.__func__
            continue
        if isinstance(function, functools.partial):
            inner = function.func
        else:
            inner = inspect.getattr_static(function, "__wrapped__", None)
        if inner is None:
            return None
        function = inner
    return None


def _closure_cell(function: Any, name: str) -> Optional[types.CellType]:
    plain = _underlying_function(function)
    if plain is None or plain.__closure__ is None:
        return None
    cells = dict(zip(plain.__code__.co_freevars, plain.__closure__))
    return cells.get(name)


def _first_parameter(function: Any) -> Optional[str]:
    plain = _underlying_function(function)
    if plain is None or plain.__code__.co_argcount == 0:
        return None
    return plain.__code__.co_varnames[0]


def _signature(function: Any) -> Optional[inspect.Signature]:
    try:
        return inspect.signature(function)
    except (TypeError, ValueError):
        return None


def _attribute(owner: Any, name: str) -> Any:
    """``owner.name`` as stored: an instance's or class's own value; a slot; never a property."""
    try:
        found = inspect.getattr_static(owner, name)
    except AttributeError:
        raise Unreadable(f"no attribute {name}") from None
    if isinstance(found, (types.MemberDescriptorType, types.GetSetDescriptorType)):  # slots: no user code
        try:
            return found.__get__(owner, type(owner))
        except AttributeError:
            raise Unreadable(f"{name} not set") from None
    kind = type(found)
    if isinstance(found, property) or (hasattr(kind, "__get__") and hasattr(kind, "__set__")):
        raise Unreadable(f"{name} is a property: not run")
    return found


def _follow(value: Any, attributes: list[str]) -> Any:
    for name in attributes:
        value = _attribute(value, name)
    return value


def _encoded(value: Any) -> Any:
    return encode(value, max_nodes=STATE_MAX_NODES, max_array_elements=STATE_MAX_ARRAY_ELEMENTS)


# A root: how to get the object a watched name starts from, given one call's (args, kwargs).
Root = Callable[[tuple, dict], Any]


class StateReader:
    """The watched state of one transformed function (or one immediate call such as lax.scan).

    ``functions``: the function handed to the transformation first (for an immediate call, every
    function it was handed); ``direct``: whether the recorded call calls that function with its own
    arguments (jit and friends) rather than handing it on (scan, cond, ...)."""

    def __init__(self, watches: list[dict], namespace: Optional[dict], functions: list[Any], direct: bool) -> None:
        self.roots: list[tuple[str, Root, list[str]]] = []
        for watch in watches:
            root_name, *attributes = watch["name"].split(".")
            root = self._root(watch["scope"], root_name, namespace, functions, direct)
            if root is not None:
                self.roots.append((watch["name"], root, attributes))

    def __bool__(self) -> bool:
        return bool(self.roots)

    def read(self, args: tuple, kwargs: dict) -> dict:
        """Each watched name's encoded value now; never raises."""
        values = {}
        for name, root, attributes in self.roots:
            try:
                values[name] = _encoded(_follow(root(args, kwargs), attributes))
            except Unreadable as why:
                values[name] = unread(str(why))
            except Exception as error:  # user objects may fail in any way while being looked at
                values[name] = unread(f"unreadable: {type(error).__name__}")
        return values

    # -- finding the roots -----------------------------------------------------------------------

    def _root(self, scope: str, name: str, namespace: Optional[dict], functions: list[Any], direct: bool) -> Optional[Root]:
        if scope == "global":
            return None if namespace is None else _global_root(namespace, name)
        if scope == "closure":
            return _closure_root(functions, name)
        if scope == "self":
            return _instance_root(functions, name, direct)
        if scope == "argument" and direct and functions:
            return _argument_root(functions[0], name)
        return None


def _global_root(namespace: dict, name: str) -> Root:
    def read(args: tuple, kwargs: dict) -> Any:
        try:
            return namespace[name]
        except KeyError:
            raise Unreadable("not defined") from None

    return read


def _cell_root(cell: types.CellType) -> Root:
    def read(args: tuple, kwargs: dict) -> Any:
        try:
            return cell.cell_contents
        except ValueError:  # an empty cell: the variable is not bound yet
            raise Unreadable("not bound") from None

    return read


def _closure_root(functions: list[Any], name: str) -> Optional[Root]:
    for function in functions:
        cell = _closure_cell(function, name)
        if cell is not None:
            return _cell_root(cell)
    return None


def _instance_root(functions: list[Any], name: str, direct: bool) -> Optional[Root]:
    """`self` of `self.count`: the instance a method is bound to, the first argument of each call
    of a function whose first parameter is `self`, or a closure cell `self` (a lambda in a method)."""
    for function in functions:
        bound = getattr(function, "__self__", None) if isinstance(function, types.MethodType) else None
        if bound is not None and _first_parameter(function) == name:
            return lambda args, kwargs, instance=bound: instance
    if direct and functions and _first_parameter(functions[0]) == name:
        return _first_argument
    return _closure_root(functions, name)


def _first_argument(args: tuple, kwargs: dict) -> Any:
    if not args:
        raise Unreadable("no positional argument")
    return args[0]


def _argument_root(function: Any, name: str) -> Optional[Root]:
    signature = _signature(function)
    if signature is None or name not in signature.parameters:
        return None

    def read(args: tuple, kwargs: dict) -> Any:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:
            raise Unreadable("the call does not bind to the function's parameters") from None
        if name not in bound.arguments:
            raise Unreadable("not passed")
        return bound.arguments[name]

    return read
