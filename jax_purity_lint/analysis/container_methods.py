"""Methods of Python's containers (list, dict, set, deque, bytearray) that change their receiver in
place: the analysis reports them as mutations, and `fix` threads the changed container back out.
One list for both, so that what is diagnosed is what is rewritten."""

from __future__ import annotations

MUTATING_METHODS = frozenset(
    {
        "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
        "setdefault", "add", "discard", "sort", "reverse", "appendleft", "extendleft",
        "popleft", "rotate", "intersection_update", "difference_update",
        "symmetric_difference_update",
    }
)

# These also return something, so a used result does not make them pure.
MUTATING_METHODS_WITH_RESULT = frozenset({"pop", "popitem", "setdefault", "popleft"})

# These add entries: a container changed by them on every call grows on every call.
GROWING_METHODS = frozenset({"append", "extend", "insert", "setdefault", "add", "update", "appendleft", "extendleft"})
