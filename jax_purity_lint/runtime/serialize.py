"""Child side: turn any value a user's code returns into JSON-safe data that compare.py understands.

Never raises and never recurses without bound: user values can be cyclic, huge, or have a
``__repr__`` that fails. Encoded forms (``$`` keys mark what JSON cannot say natively):

- ``None``, ``bool``, ``int``, finite ``float``, ``str``: as JSON;
- ``{"$float": "nan" | "inf" | "-inf"}``, ``{"$complex": [re, im]}``, ``{"$bytes": hex}``;
- ``{"$list": [...]}`` is not used: a list is a JSON list; ``{"$tuple": [...]}``;
- ``{"$namedtuple": name, "fields": [[field, value], ...]}``;
- ``{"$dict": [[key, value], ...]}`` (keys encoded too; compared without regard to order);
- ``{"$set": [...]}`` (elements sorted by their JSON text);
- ``{"$array": {"dtype", "shape", "values"}}`` (flat, row-major) or with ``"summary"`` instead of
  ``"values"`` beyond ``max_array_elements``;
- ``{"$pytree": type, "children": [[key, value], ...]}`` for registered JAX pytree nodes;
- ``{"$object": type, "fields": [[name, value], ...]}`` for dataclasses and plain objects;
- ``{"$traced": type}`` for a tracer (a value seen while tracing, not a result);
- ``{"$repr": text, "type": type}`` for anything else; memory addresses in the text are blanked;
- ``{"$truncated": why}`` where the node budget or the depth ran out (a list, tuple or dict cut short
  ends with one ``{"$truncated": "N more values"}``; in a dict it is the key of a last pair).

(State the recorder could not read is ``{"$unread": reason}``, made by state_watch.py, not here.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from typing import Any, Callable, Iterable, Optional

MAX_ARRAY_ELEMENTS = 100_000
MAX_NODES = 200_000
MAX_DEPTH = 40
MAX_REPR_CHARS = 300

# ` at 0x7f3a...` differs between two runs of the same program; it says nothing about the value.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")


def blank_addresses(text: str) -> str:
    return _ADDRESS.sub("0x…", text)


def _type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in ("builtins", "") else f"{module}.{name}"


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except BaseException as error:  # a user __repr__ may raise anything
        text = f"<repr failed: {type(error).__name__}>"
    if len(text) > MAX_REPR_CHARS:
        text = text[:MAX_REPR_CHARS] + "…"
    return blank_addresses(text)


def encode_float(number: float) -> Any:
    if math.isnan(number):
        return {"$float": "nan"}
    if math.isinf(number):
        return {"$float": "inf" if number > 0 else "-inf"}
    return number


class _Encoder:
    def __init__(self, max_nodes: int, max_array_elements: int) -> None:
        self.nodes_left = max_nodes
        self.max_array_elements = max_array_elements
        self.in_progress: set[int] = set()  # ids on the current path, to cut cycles
        self._jax = _optional_jax()
        self._numpy = _optional_numpy()

    def encode(self, value: Any, depth: int = 0) -> Any:
        self.nodes_left -= 1
        if self.nodes_left < 0:
            return {"$truncated": "too many values"}
        if depth > MAX_DEPTH:
            return {"$truncated": "nested too deeply"}
        try:
            return self._encode(value, depth)
        except BaseException as error:  # user objects may fail in any way while being inspected
            return {"$repr": f"<unencodable {_type_name(value)}: {type(error).__name__}>", "type": _type_name(value)}

    def _encode(self, value: Any, depth: int) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):  # also IntEnum and friends: the number is what matters
            return int(value)
        if isinstance(value, float):
            return encode_float(float(value))
        if isinstance(value, complex):
            return {"$complex": [encode_float(value.real), encode_float(value.imag)]}
        if isinstance(value, (bytes, bytearray)):
            return {"$bytes": bytes(value[:4096]).hex()}
        if self._is_tracer(value):
            return {"$traced": _type_name(value)}
        if self._is_array(value):
            return self._encode_array(value)
        identity = id(value)
        if identity in self.in_progress:
            return {"$cycle": _type_name(value)}
        self.in_progress.add(identity)
        try:
            return self._encode_container(value, depth)
        finally:
            self.in_progress.discard(identity)

    def _while_nodes_last(self, items: Iterable, count: int, encode_one: Callable[[Any], Any]) -> tuple[list, Optional[dict]]:
        """The items encoded while the node budget lasts, and one marker for the rest (not one each)."""
        encoded = []
        for item in items:
            if self.nodes_left <= 0:
                return encoded, {"$truncated": f"{count - len(encoded)} more values"}
            encoded.append(encode_one(item))
        return encoded, None

    def _sequence(self, value: Any, child: int) -> list:
        items, rest = self._while_nodes_last(value, len(value), lambda item: self.encode(item, child))
        return items if rest is None else [*items, rest]

    def _mapping(self, value: dict, child: int) -> list:
        pairs, rest = self._while_nodes_last(
            value.items(), len(value), lambda pair: [self.encode(pair[0], child), self.encode(pair[1], child)]
        )
        return pairs if rest is None else [*pairs, [rest, None]]

    def _encode_container(self, value: Any, depth: int) -> Any:
        child = depth + 1
        if type(value) is list:
            return self._sequence(value, child)
        if isinstance(value, tuple) and hasattr(type(value), "_fields"):
            return {
                "$namedtuple": _type_name(value),
                "fields": [[name, self.encode(item, child)] for name, item in zip(type(value)._fields, value)],
            }
        if type(value) is tuple:
            return {"$tuple": self._sequence(value, child)}
        if isinstance(value, dict):
            return {"$dict": self._mapping(value, child)}
        if isinstance(value, (set, frozenset)):
            import json

            items = [self.encode(item, child) for item in value]
            return {"$set": sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))}
        if isinstance(value, (list, tuple)):  # subclasses: keep the values, name the type
            return {"$object": _type_name(value), "fields": [[str(i), self.encode(v, child)] for i, v in enumerate(value)]}
        pytree_children = self._pytree_children(value)
        if pytree_children is not None:
            return {
                "$pytree": _type_name(value),
                "children": [[key, self.encode(item, child)] for key, item in pytree_children],
            }
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = [(field.name, getattr(value, field.name, None)) for field in dataclasses.fields(value)]
            return {"$object": _type_name(value), "fields": [[name, self.encode(item, child)] for name, item in fields]}
        if self._is_plain_object(value):
            fields = sorted(vars(value).items())
            return {"$object": _type_name(value), "fields": [[name, self.encode(item, child)] for name, item in fields]}
        return {"$repr": _safe_repr(value), "type": _type_name(value)}

    # -- arrays ----------------------------------------------------------------------------------

    def _is_tracer(self, value: Any) -> bool:
        return self._jax is not None and isinstance(value, self._jax.core.Tracer)

    def _is_array(self, value: Any) -> bool:
        if self._numpy is not None and isinstance(value, (self._numpy.ndarray, self._numpy.generic)):
            return True
        return self._jax is not None and isinstance(value, self._jax.Array)

    def _encode_array(self, value: Any) -> Any:
        numpy = self._numpy
        if self._jax is not None and isinstance(value, self._jax.Array):
            if self._jax.dtypes.issubdtype(value.dtype, self._jax.dtypes.prng_key):
                value = self._jax.random.key_data(value)
            value = numpy.asarray(value)
        array = numpy.asarray(value)
        described = {"dtype": str(array.dtype), "shape": list(array.shape)}
        if array.dtype.kind not in "biufc":  # strings, objects, datetimes: compare what they show
            described["values"] = [_safe_repr(item) for item in array.reshape(-1)[: self.max_array_elements].tolist()]
            return {"$array": described}
        if array.dtype.kind == "f" and array.dtype.itemsize < 4:  # bfloat16/float16 -> float32 for .tolist()
            array = array.astype(numpy.float32)
        flat = array.reshape(-1)
        if flat.size <= self.max_array_elements:
            described["values"] = [self._encode_number(item) for item in flat.tolist()]
        else:
            described["summary"] = self._summarise(flat)
        return {"$array": described}

    @staticmethod
    def _encode_number(number: Any) -> Any:
        if isinstance(number, float):
            return encode_float(number)
        if isinstance(number, complex):
            return {"$complex": [encode_float(number.real), encode_float(number.imag)]}
        return number

    def _summarise(self, flat: Any) -> dict:
        numpy = self._numpy
        as_float = flat.astype(numpy.complex128 if flat.dtype.kind == "c" else numpy.float64)
        magnitude = numpy.abs(as_float)
        return {
            "size": int(flat.size),
            "sha256": hashlib.sha256(numpy.ascontiguousarray(flat).tobytes()).hexdigest(),
            "sum": self._encode_number(complex(as_float.sum()) if flat.dtype.kind == "c" else float(as_float.sum())),
            "abs_max": encode_float(float(magnitude.max())),
            # evenly spaced elements, compared one by one like a small array
            "sample": [self._encode_number(item) for item in flat[numpy.linspace(0, flat.size - 1, 64).astype(numpy.int64)].tolist()],
        }

    # -- pytrees and objects ---------------------------------------------------------------------

    def _pytree_children(self, value: Any) -> list[tuple[str, Any]] | None:
        """Direct children of a registered custom pytree node (flax structs, eqx.Module, ...)."""
        jax = self._jax
        if jax is None:
            return None
        tree_util = jax.tree_util
        if tree_util.all_leaves([value]):
            return None
        pairs, _ = tree_util.tree_flatten_with_path(value, is_leaf=lambda node: node is not value)
        return [(tree_util.keystr(path), child) for path, child in pairs]

    @staticmethod
    def _is_plain_object(value: Any) -> bool:
        kind = type(value)
        if isinstance(value, type) or callable(value) and not hasattr(value, "__dict__"):
            return False
        if getattr(kind, "__module__", "builtins") in ("builtins",):
            return False
        import types

        if isinstance(value, (types.ModuleType, types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
            return False
        try:
            return isinstance(vars(value), dict)
        except TypeError:
            return False


def _optional_jax() -> Any:
    import sys

    return sys.modules.get("jax")  # only when the user program loaded it: encoding never imports jax


def _optional_numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def encode(value: Any, *, max_nodes: int = MAX_NODES, max_array_elements: int = MAX_ARRAY_ELEMENTS) -> Any:
    """JSON-safe form of ``value``; see the module docstring."""
    return _Encoder(max_nodes, max_array_elements).encode(value)
