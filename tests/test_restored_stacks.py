"""A module-level stack that the scope pushing it also pops (a context manager's prefix stack) is
not state a trace freezes; the same stack pushed without that pop, or popped from the front, is."""

from __future__ import annotations

import textwrap

import pytest

from jax_purity_lint.engine import analyze_source

READER = """
import contextlib
import jax

_scopes = []

{scope}

def prefix():
    return "/".join(_scopes)

@jax.jit
def step(x):
    return x * len(prefix())
"""

RESTORED = {
    "generator": "@contextlib.contextmanager\ndef scope(name):\n    _scopes.append(name)\n    try:\n        yield\n"
                 "    finally:\n        _scopes.pop()",
    "generator, pop(-1), under an if": "@contextlib.contextmanager\ndef scope(name):\n    if name:\n"
                 "        _scopes.append(name)\n        yield\n        _scopes.pop(-1)\n    else:\n        yield",
    "class": "class Scope:\n    def __enter__(self):\n        _scopes.append('s')\n\n"
             "    def __exit__(self, *exc):\n        _scopes.pop()",
}

NOT_RESTORED = {
    "pushed only": "def register(name):\n    _scopes.append(name)",
    "popped from the front": "def rotate(name):\n    _scopes.append(name)\n    _scopes.pop(0)",
    "pushed in a loop": "def push_all(names):\n    for name in names:\n        _scopes.append(name)\n"
                        "    for name in names:\n        _scopes.pop()",
    "popped in another arm": "def toggle(name, on):\n    if on:\n        _scopes.append(name)\n"
                             "    else:\n        _scopes.pop()",
    "__enter__ without a matching __exit__": "class Scope:\n    def __enter__(self):\n        _scopes.append('s')\n\n"
                                            "    def __exit__(self, *exc):\n        pass",
}


def codes(scope: str) -> list[str]:
    source = textwrap.dedent(READER).format(scope=scope)
    return [d.code for d in analyze_source(source, "stack.py")]


@pytest.mark.parametrize("name", RESTORED)
def test_a_stack_its_scope_restores_is_not_reported(name):
    assert codes(RESTORED[name]) == []


@pytest.mark.parametrize("name", NOT_RESTORED)
def test_a_stack_left_changed_is(name):
    assert codes(NOT_RESTORED[name]) == ["JPL100"]
