"""Compare two encoded values (serialize.encode form) or two captured texts, eager against jitted.

Values are compared as pytrees: the same containers with the same keys, strings/ints/bools exactly,
floats within a tolerance (``|a - b| <= atol + rtol * |b|``, NaN equal to NaN), arrays elementwise
after their shapes agree. A Python scalar equals a 0-d array holding the same number -- eagerly
``jax.jit(f)(2.0)`` returns whatever ``f`` returns, jitted an array -- and dtypes are not compared
(float32 under jit against a Python float eagerly is the same value to the tolerance).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from .serialize import blank_addresses

RTOL = 1e-5
ATOL = 1e-6
MAX_DIFFERENCES = 50
DESCRIBE_CHARS = 120


@dataclass(frozen=True)
class ValueDifference:
    path: str  # where inside the value, e.g. "[1]['loss']" ("" for the whole value)
    eager: str  # short human-readable forms
    jitted: str
    reason: str  # what differs: "value", "shape", "type", "length", "keys", ...
    jitted_value: Any = field(default=None, compare=False, repr=False)  # the encoded value found there

    def describe(self, prefix: str = "") -> str:
        where = f"{prefix}{self.path}" if (prefix or self.path) else "the value"
        return f"{where}: eager {self.eager}, jitted {self.jitted}" + (f" ({self.reason})" if self.reason not in ("value",) else "")


@dataclass(frozen=True)
class TextDifference:
    line: int  # 1-based line of the first place the texts part ways
    eager: str
    jitted: str
    key: tuple  # multiset identity of one missing/extra line, for attribution

    def describe(self, stream: str) -> str:
        return f"{stream} line {self.line}: eager {self.eager}, jitted {self.jitted}"


# -- describing values ---------------------------------------------------------------------------


def _short(text: str) -> str:
    return text if len(text) <= DESCRIBE_CHARS else text[: DESCRIBE_CHARS - 1] + "…"


def _number_text(value: Any) -> str:
    if isinstance(value, dict) and "$float" in value:
        return value["$float"]
    if isinstance(value, dict) and "$complex" in value:
        real, imag = (_number_text(part) for part in value["$complex"])
        return f"({real}+{imag}j)"
    return repr(value)


def describe(value: Any) -> str:
    """A short human form of an encoded value."""
    return _short(_describe(value, 0))


def _describe(value: Any, depth: int) -> str:
    if depth > 3:
        return "…"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_describe(item, depth + 1) for item in value[:6]) + (", …]" if len(value) > 6 else "]")
    if not isinstance(value, dict):
        return repr(value)
    if "$float" in value or "$complex" in value:
        return _number_text(value)
    if "$tuple" in value:
        items = value["$tuple"]
        inner = ", ".join(_describe(item, depth + 1) for item in items[:6])
        return f"({inner}{', …' if len(items) > 6 else ''}{',' if len(items) == 1 else ''})"
    if "$array" in value:
        array = value["$array"]
        shape = "×".join(str(n) for n in array["shape"]) or "scalar"
        if "values" in array:
            values = array["values"]
            if not array["shape"] and values:
                return f"{_number_text(values[0])} ({array['dtype']} array)"
            shown = ", ".join(_number_text(item) for item in values[:6]) + (", …" if len(values) > 6 else "")
            return f"{array['dtype']}[{shape}] [{shown}]"
        return f"{array['dtype']}[{shape}] (sum {_number_text(array['summary']['sum'])})"
    if "$dict" in value:
        items = value["$dict"]
        inner = ", ".join(f"{_describe(k, depth + 1)}: {_describe(v, depth + 1)}" for k, v in items[:4])
        return "{" + inner + (", …}" if len(items) > 4 else "}")
    if "$namedtuple" in value or "$object" in value or "$pytree" in value:
        name = value.get("$namedtuple") or value.get("$object") or value.get("$pytree")
        fields = value.get("fields") or value.get("children") or []
        inner = ", ".join(f"{k}={_describe(v, depth + 1)}" for k, v in fields[:4])
        return f"{name.rsplit('.', 1)[-1]}({inner}{', …' if len(fields) > 4 else ''})"
    if "$traced" in value:
        return f"a tracer ({value['$traced'].rsplit('.', 1)[-1]}) that leaked out of a trace"
    if "$unread" in value:  # watched state that could not be read (state_watch.py)
        return f"({value['$unread']})"
    if "$repr" in value:
        return value["$repr"]
    if "$set" in value:
        return "{" + ", ".join(_describe(item, depth + 1) for item in value["$set"][:6]) + "}"
    for tag in ("$bytes", "$cycle", "$truncated"):
        if tag in value:
            return f"<{tag[1:]} {value[tag]}>"
    return json.dumps(value)[:DESCRIBE_CHARS]


# -- numbers ---------------------------------------------------------------------------------------

_INTEGRAL_KINDS = ("bool", "int", "uint")


def _as_number(value: Any) -> Optional[complex | float | int]:
    """The number a scalar leaf stands for, or None if it is not a number."""
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        if "$float" in value:
            return float(value["$float"])
        if "$complex" in value:
            real, imag = (_as_number(part) for part in value["$complex"])
            return complex(real, imag)
    return None


def _numbers_close(a: Any, b: Any, rtol: float, atol: float, exact: bool) -> bool:
    if exact or (isinstance(a, int) and isinstance(b, int)):
        return a == b
    if isinstance(a, complex) or isinstance(b, complex):
        a, b = complex(a), complex(b)
        return _numbers_close(a.real, b.real, rtol, atol, False) and _numbers_close(a.imag, b.imag, rtol, atol, False)
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def _array_view(value: Any) -> Optional[dict]:
    """Arrays, and numbers seen as 0-d arrays, as {"shape", "values"|"summary", "integral"}."""
    if isinstance(value, dict) and "$array" in value:
        array = value["$array"]
        dtype = array["dtype"]
        numeric = any(dtype.startswith(kind) for kind in ("bool", "int", "uint", "float", "complex", "bfloat"))
        view = {"shape": list(array["shape"]), "integral": dtype.startswith(_INTEGRAL_KINDS), "numeric": numeric}
        if "values" in array:
            view["values"] = array["values"]
        else:
            view["summary"] = array["summary"]
        return view
    number = _as_number(value)
    if number is not None:
        return {"shape": [], "values": [value], "integral": isinstance(number, int), "numeric": True}
    return None


def _compare_arrays(path: str, eager: Any, jitted: Any, a: dict, b: dict, rtol: float, atol: float) -> Iterator[ValueDifference]:
    if a["shape"] != b["shape"]:
        yield ValueDifference(path, describe(eager), describe(jitted), f"shape {tuple(a['shape'])} vs {tuple(b['shape'])}", jitted)
        return
    if "summary" in a or "summary" in b:
        left, right = a.get("summary"), b.get("summary")
        if left is None or right is None or left["sha256"] == right["sha256"]:
            return
        exact = a["integral"] and b["integral"]
        samples_differ = any(
            not _numbers_close(_as_number(x), _as_number(y), rtol, atol, exact) for x, y in zip(left["sample"], right["sample"])
        )
        if samples_differ or not _numbers_close(_as_number(left["sum"]), _as_number(right["sum"]), rtol, atol * left["size"], exact):
            yield ValueDifference(path, describe(eager), describe(jitted), "large arrays, compared by sum and a sample of elements", jitted)
        return
    exact = not (a["numeric"] and b["numeric"]) or (a["integral"] and b["integral"])
    differing = []
    for position, (x, y) in enumerate(zip(a["values"], b["values"])):
        if not a["numeric"] or not b["numeric"]:
            same = x == y
        else:
            same = _numbers_close(_as_number(x), _as_number(y), rtol, atol, exact)
        if not same:
            differing.append(position)
    if not differing:
        return
    if not a["shape"]:
        yield ValueDifference(path, describe(eager), describe(jitted), "value", jitted)
        return
    first = differing[0]
    index = _unravel(first, a["shape"])
    reason = f"{len(differing)} of {len(a['values'])} elements differ; first at {index}: " f"{_number_text(a['values'][first])} vs {_number_text(b['values'][first])}"
    yield ValueDifference(path, describe(eager), describe(jitted), reason, jitted)


def _unravel(flat: int, shape: list[int]) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size if size else 0)
        flat = flat // size if size else 0
    return tuple(reversed(index))


# -- the walk --------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        for tag in ("$tuple", "$dict", "$namedtuple", "$object", "$pytree", "$set", "$repr", "$traced", "$bytes", "$cycle", "$truncated", "$unread"):
            if tag in value:
                return tag
    if isinstance(value, str):
        return "str"
    if value is None:
        return "None"
    return type(value).__name__


def _key_text(key: Any) -> str:
    return json.dumps(key, sort_keys=True)


def _walk(eager: Any, jitted: Any, path: str, rtol: float, atol: float) -> Iterator[ValueDifference]:
    left, right = _array_view(eager), _array_view(jitted)
    if left is not None and right is not None:
        yield from _compare_arrays(path, eager, jitted, left, right, rtol, atol)
        return
    kind_left, kind_right = _kind(eager), _kind(jitted)
    if kind_left != kind_right:
        yield ValueDifference(path, describe(eager), describe(jitted), f"type {kind_left.lstrip('$')} vs {kind_right.lstrip('$')}", jitted)
        return
    if kind_left in ("list", "$tuple"):
        items_left = eager if kind_left == "list" else eager["$tuple"]
        items_right = jitted if kind_left == "list" else jitted["$tuple"]
        if len(items_left) != len(items_right):
            yield ValueDifference(path, describe(eager), describe(jitted), f"length {len(items_left)} vs {len(items_right)}", jitted)
            return
        for position, (x, y) in enumerate(zip(items_left, items_right)):
            yield from _walk(x, y, f"{path}[{position}]", rtol, atol)
        return
    if kind_left == "$dict":
        mapping_left = {_key_text(k): (k, v) for k, v in eager["$dict"]}
        mapping_right = {_key_text(k): (k, v) for k, v in jitted["$dict"]}
        if mapping_left.keys() != mapping_right.keys():
            only_left = sorted(set(mapping_left) - set(mapping_right))
            only_right = sorted(set(mapping_right) - set(mapping_left))
            reason = "keys differ: " + ", ".join([f"only eager {k}" for k in only_left] + [f"only jitted {k}" for k in only_right])
            yield ValueDifference(path, describe(eager), describe(jitted), reason, jitted)
        for text in mapping_left:
            if text in mapping_right:
                key, value = mapping_left[text]
                yield from _walk(value, mapping_right[text][1], f"{path}[{describe(key)}]", rtol, atol)
        return
    if kind_left in ("$namedtuple", "$object", "$pytree"):
        tag = kind_left
        if eager[tag] != jitted[tag]:
            yield ValueDifference(path, describe(eager), describe(jitted), f"type {eager[tag]} vs {jitted[tag]}", jitted)
            return
        fields_name = "children" if tag == "$pytree" else "fields"
        fields_left, fields_right = dict(eager[fields_name]), dict(jitted[fields_name])
        if fields_left.keys() != fields_right.keys():
            yield ValueDifference(path, describe(eager), describe(jitted), "attributes differ: " + ", ".join(sorted(set(fields_left) ^ set(fields_right))), jitted)
        for name, value in fields_left.items():
            if name in fields_right:
                step = name if tag == "$pytree" else f".{name}"
                yield from _walk(value, fields_right[name], f"{path}{step}", rtol, atol)
        return
    if kind_left == "$set":
        if len(eager["$set"]) != len(jitted["$set"]) or any(_key_text(x) != _key_text(y) for x, y in zip(eager["$set"], jitted["$set"])):
            yield ValueDifference(path, describe(eager), describe(jitted), "set", jitted)
        return
    if eager != jitted:
        yield ValueDifference(path, describe(eager), describe(jitted), "value", jitted)


def compare_values(eager: Any, jitted: Any, *, rtol: float = RTOL, atol: float = ATOL, limit: int = MAX_DIFFERENCES) -> list[ValueDifference]:
    """Every difference between two encoded values (at most ``limit``), in a stable order."""
    found = []
    for difference in _walk(eager, jitted, "", rtol, atol):
        found.append(difference)
        if len(found) >= limit:
            break
    return found


# -- texts -----------------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    return blank_addresses(text)


def compare_text(eager: str, jitted: str) -> list[TextDifference]:
    """Lines one text has and the other lacks (as multisets), each located at the first line where
    the two texts part ways; a pure reordering is one difference."""
    eager_lines = normalize_text(eager).splitlines()
    jitted_lines = normalize_text(jitted).splitlines()
    if eager_lines == jitted_lines:
        return []
    first = next((i for i, (x, y) in enumerate(zip(eager_lines, jitted_lines)) if x != y), min(len(eager_lines), len(jitted_lines)))
    left = repr(eager_lines[first]) if first < len(eager_lines) else "(no more lines)"
    right = repr(jitted_lines[first]) if first < len(jitted_lines) else "(no more lines)"
    missing = Counter(eager_lines) - Counter(jitted_lines)
    extra = Counter(jitted_lines) - Counter(eager_lines)
    keys = [("missing", line, n) for line, count in missing.items() for n in range(count)]
    keys += [("extra", line, n) for line, count in extra.items() for n in range(count)]
    if not keys:
        keys = [("order",)]
    return [TextDifference(first + 1, left, right, key) for key in sorted(keys, key=repr)]
