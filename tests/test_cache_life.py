"""The cache-life model (analysis/cache_life.py) on the shapes it must tell apart: a change is reported
only when a call can go through a compiled cache traced before it, and wherever the order of execution
cannot be followed the change is still reported (the model never hides what it cannot see)."""

from __future__ import annotations

import textwrap

import pytest

from jax_purity_lint.engine import analyze_source

HEAD = "import jax\nimport functools\nscale = 1.0\n\n@jax.jit\ndef f(x):\n    return x * scale\n\n"

CASES = {
    # -- reported: the order shows a call after the change, or cannot be followed -------------------------
    "called again after the change": ("f(1.0)\nscale = 2.0\nf(1.0)\n", True),
    "still callable when the module ends": ("f(1.0)\nscale = 2.0\n", True),
    "an alias keeps the old object": (
        "g = f\nf(1.0)\nscale = 2.0\n@jax.jit\ndef f(x):\n    return x\ng(1.0)\n",
        True,
    ),
    "kept in a list": (
        "fs = [f]\nf(1.0)\nscale = 2.0\n@jax.jit\ndef f(x):\n    return x\nfs[0](1.0)\n",
        True,
    ),
    "stored on an object: not followed": (
        "class Box:\n    pass\nbox = Box()\nbox.fn = f\nf(1.0)\nscale = 2.0\n@jax.jit\ndef f(x):\n    return x\n",
        True,
    ),
    "read by a method: not followed": (
        "class Runner:\n    def run(self):\n        return f(1.0)\n"
        "f(1.0)\nscale = 2.0\n@jax.jit\ndef f(x):\n    return x\n",
        True,
    ),
    "called through a helper the module calls": (
        "def run():\n    return f(1.0)\nrun()\nscale = 2.0\nrun()\n",
        True,
    ),
    "rebound only in one arm of an if": (
        "f(1.0)\nscale = 2.0\nif scale > 3:\n    @jax.jit\n    def f(x):\n        return x\n",
        True,
    ),
    "a loop that changes and calls": ("for s in (1.0, 2.0):\n    scale = s\n    f(1.0)\n", True),
    # -- not reported: no call can go through a cache traced before the change ------------------------------
    "never called in the module (import-time set-up)": ("scale = 2.0\n", False),
    "first called after the change": ("scale = 2.0\nf(1.0)\n", False),
    "rebound before any later call": ("f(1.0)\nscale = 2.0\n@jax.jit\ndef f(x):\n    return x\nf(1.0)\n", False),
    "rebound in a try body before any later call": (
        "f(1.0)\nscale = 2.0\n"
        "try:\n    @jax.jit\n    def f(x):\n        return x\nexcept ValueError:\n    pass\nf(1.0)\n",
        False,
    ),
    "deleted before any later call": ("f(1.0)\nscale = 2.0\ndel f\n", False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_change_is_reported_only_when_a_cached_trace_can_see_it(name):
    tail, reported = CASES[name]
    source = HEAD + tail
    found = {(d.line, d.code) for d in analyze_source(source, "case.py")}
    assert ((7, "JPL100") in found) is reported, textwrap.indent(source, "    ")


CLOSURES = {
    "a loop binds it again after a call traced it": (
        "def main():\n    @jax.jit\n    def f(x):\n        return x * n\n    for n in range(3):\n        f(1.0)\n",
        True,
    ),
    "returned after a call made inside": (
        "def make():\n    n = 1.0\n    @jax.jit\n    def f(x):\n        return x * n\n"
        "    f(0.0)\n    n = 2.0\n    return f\n",
        True,
    ),
    "returned, first called by the caller": (
        "def make():\n    n = 1.0\n    @jax.jit\n    def f(x):\n        return x * n\n    n = 2.0\n    return f\n",
        False,
    ),
    "never called after the change before the frame ends": (
        "def main():\n    n = 1.0\n    @jax.jit\n    def f(x):\n        return x * n\n"
        "    f(0.0)\n    n = 2.0\n    return n\n",
        False,
    ),
    "the other arm of the if that makes it": (
        "def main(c):\n    n = 1.0\n    if c:\n        @jax.jit\n        def f(x):\n            return x * n\n"
        "        f(0.0)\n        f(1.0)\n    else:\n        n = 2.0\n",
        False,
    ),
    # A closure cell of a jitted step lives inside its trace: rebinding it after the loop changes nothing.
    "rebound after the only loop over a body made in a jitted step": (
        "@jax.jit\ndef step(x):\n    n = 1.0\n    def body(i, v):\n        return v * n\n"
        "    y = jax.lax.fori_loop(0, 3, body, x)\n    n = 2.0\n    return y + n\n",
        False,
    ),
}


@pytest.mark.parametrize("name", list(CLOSURES))
def test_closures_follow_the_frame_that_makes_them(name):
    body, reported = CLOSURES[name]
    source = "import jax\n" + body
    codes = {d.code for d in analyze_source(source, "case.py")}
    assert ("JPL103" in codes) is reported, textwrap.indent(source, "    ")


def test_a_fresh_partial_or_bound_method_per_call_is_not_a_site():
    source = textwrap.dedent(
        """
        import functools
        import jax

        class Sampler:
            def __init__(self):
                self.calls = 0

            def _one(self, x, k):
                self.calls += 1
                return x * k

            def run(self, x):
                return jax.jit(functools.partial(self._one, k=2.0))(x)

            def shape(self, x):
                return jax.eval_shape(self._one, x, 1.0)

            def kept(self):
                self._compiled = jax.jit(self._one)
        """
    )
    found = analyze_source(source, "case.py")
    # Only the stored wrapper caches: its trace mutates `self` once.
    assert [(d.code, d.site.line) for d in found] == [("JPL200", 20)]



def test_a_function_of_the_module_called_next_is_not_the_builtin():
    source = "import jax\nbatches = iter([1.0])\ndef next(x):\n    return x\n@jax.jit\ndef f(x):\n    return next(x)\n"
    assert analyze_source(source, "case.py") == []
    builtin = source.replace("def next(x):\n    return x\n", "").replace("next(x)", "next(batches)")
    assert {d.code for d in analyze_source(builtin, "case.py")} == {"JPL402"}
