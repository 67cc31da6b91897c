"""A rewrite that turns a global into a traced argument is safe only when the global holds what jit can
trace (numbers, arrays, containers of them), decided from every binding of it."""

from __future__ import annotations

import pytest

from jax_purity_lint.rewrites.planner import fix_source

HEADER = "import jax\nimport jax.numpy as jnp\nimport optax\n\n"
CALLS = "\n\n@jax.jit\ndef step(x):\n    return {use}\n\n\nprint(step(1.0))\n{change}\n"

NOT_TRACEABLE = {
    "a function rebound by a setter": (
        "ACT = jax.nn.relu\n\n\ndef set_act(gelu):\n    global ACT\n    ACT = jax.nn.gelu if gelu else jax.nn.relu\n",
        "ACT(x)",
        "set_act(True)",
    ),
    "a registry of functions": ('ACTIVATIONS = {"relu": jax.nn.relu}\n', 'ACTIVATIONS["relu"](x)', 'ACTIVATIONS["relu"] = jax.nn.gelu'),
    "an optimizer made by a library": ("OPT = optax.adam(0.1)\n", "OPT.init(x)", "OPT = optax.sgd(0.1)"),
    "a string": ('MODE = "train"\n', 'x if MODE == "train" else -x', 'MODE = "eval"'),
    "a setter called from elsewhere": ("SCALE = 1.0\n\n\ndef set_scale(v):\n    global SCALE\n    SCALE = v\n", "x * SCALE", ""),
}

TRACEABLE = {
    "a number rebound to a number": ("SCALE = 1.0\n", "x * SCALE", "SCALE = 2.0"),
    "an array updated from itself": ("OFFSET = jnp.zeros(())\n", "x + OFFSET", "OFFSET = OFFSET + 1.0"),
    "a setter every call of which passes a number": (
        "SCALE = 1.0\n\n\ndef set_scale(v):\n    global SCALE\n    SCALE = v\n",
        "x * SCALE",
        "set_scale(2.0)",
    ),
    "a loop over numbers": ("FACTOR = 1.0\n", "x * FACTOR", "for FACTOR in (2.0, 3.0):\n    print(step(1.0))"),
}


def _module(setup: str, use: str, change: str) -> str:
    return HEADER + setup + CALLS.format(use=use, change=change)


@pytest.mark.parametrize("case", NOT_TRACEABLE, ids=list(NOT_TRACEABLE))
def test_a_global_jit_cannot_trace_is_not_made_a_traced_argument(case):
    source = _module(*NOT_TRACEABLE[case])
    result = fix_source(source, "m.py")
    reads = [r for r in result.rewrites if "JPL100" in r.codes]
    assert reads, "the fixture must be diagnosed"
    assert not any(r.safe or r.applied for r in reads)
    assert any("jit traces numbers and arrays" in problem for r in reads for problem in r.problems)
    assert result.rewritten == source  # `fix` writes nothing


@pytest.mark.parametrize("case", TRACEABLE, ids=list(TRACEABLE))
def test_a_global_holding_numbers_or_arrays_is_still_fixed(case):
    source = _module(*TRACEABLE[case])
    result = fix_source(source, "m.py")
    reads = [r for r in result.rewrites if "JPL100" in r.codes]
    assert reads and all(r.safe and r.applied for r in reads), [r.problems for r in reads]
    assert "def step(x, " in result.rewritten
