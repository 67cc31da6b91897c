"""The rewrites' building blocks on small modules: argument passing, taking returned state, debug prints,
and the cases that must be reported as needing review instead of being rewritten wrongly."""

from __future__ import annotations

import textwrap

from jax_purity_lint.engine import analyze_source
from jax_purity_lint.rewrites import fix_source


def _fix(code: str, unsafe: bool = False):
    return fix_source(textwrap.dedent(code), "snippet.py", unsafe=unsafe)


def test_new_parameter_after_defaults_is_keyword_only_and_passed_by_keyword():
    fixed = _fix('''
        import jax

        g = 1.0


        @jax.jit
        def f(x, scale=2.0):
            return x * scale + g


        def scenario():
            global g
            out = [f(v) for v in (1.0, 2.0) if v > 0]
            g = 3.0
            return out, f(1.0, scale=3.0)
    ''')
    text = fixed.rewritten
    assert "def f(x, scale=2.0, *, g):" in text
    assert "[f(v, g=g) for v in (1.0, 2.0) if v > 0]" in text
    assert "f(1.0, scale=3.0, g=g)" in text
    assert fixed.rewrites[0].safe and analyze_source(text) == []


def test_returned_state_is_unpacked_where_the_call_stands():
    fixed = _fix('''
        import jax

        n = 0


        @jax.jit
        def step(x):
            global n
            n += 1
            return x + 1


        def scenario():
            global n
            y = step(1.0)
            step(y)
            z = float(step(y)) * 2
            values = [float(step(v)) for v in (1.0, 2.0) if v > 1.5]
            return y, z, values, n
    ''')
    text = fixed.rewritten
    assert "def step(x, n):\n    n += 1\n    return x + 1, n" in text
    assert "    y, n = step(1.0, n)\n" in text
    assert "    _, n = step(y, n)\n" in text
    assert "    value, n = step(y, n)\n    z = float(value) * 2\n" in text
    assert (
        "    values = []\n    for v in (1.0, 2.0):\n        if v > 1.5:\n"
        "            value, n = step(v, n)\n            values.append(float(value))\n"
    ) in text
    assert fixed.rewrites[0].safe


def test_a_call_that_cannot_be_hoisted_makes_the_rewrite_unsafe():
    fixed = _fix('''
        import jax

        n = 0


        @jax.jit
        def step(x):
            global n
            n += 1
            return x + 1


        def log(value):
            print(value)


        def scenario():
            global n
            total = log(1) or step(1.0)
            both = [step(v) + step(v) for v in (1.0,)]
            return total, both, n
    ''')
    rewrite = fixed.rewrites[0]
    assert not rewrite.safe and not rewrite.applied
    assert any("side effects" in p for p in rewrite.problems)
    assert any("another call in the same statement" in p for p in rewrite.problems)
    assert fixed.rewritten == fixed.original


def test_print_becomes_debug_print_with_the_same_text():
    fixed = _fix('''
        import sys
        import jax


        @jax.jit
        def p(x):
            print("x =", x, "{raw}", sep=", ")
            print(f"val {x:.2f} {x!r}")
            print("err", file=sys.stderr)
            sys.stdout.write("done\\n")
            return x
    ''')
    text = fixed.rewritten
    assert 'jax.debug.print("x =, {}, {}", x, "{raw}")' in text
    assert 'jax.debug.print("val {:.2f} {!r}", x, x)' in text
    assert 'jax.debug.callback(lambda: print("err", file=sys.stderr))' in text
    assert 'jax.debug.print("done")' in text
    assert fixed.rewrites[0].safe


def test_logging_keeps_the_call_and_passes_traced_values_to_the_callback():
    fixed = _fix('''
        import logging
        import jax

        logger = logging.getLogger(__name__)


        @jax.jit
        def loss(w):
            value = w * 2
            logger.info("loss %s", value)
            return value
    ''')
    assert 'jax.debug.callback(lambda value: logger.info("loss %s", value), value)' in fixed.rewritten


def test_pmap_gets_in_axes_and_out_axes_for_the_state():
    fixed = _fix('''
        import jax
        import jax.numpy as jnp

        seen = False


        def normalize(x):
            global seen
            seen = True
            return x / jnp.sum(x)


        p_normalize = jax.pmap(normalize)


        def scenario():
            global seen
            p_normalize(jnp.ones((1, 4)))
            return seen
    ''')
    text = fixed.rewritten
    assert "p_normalize = jax.pmap(normalize, in_axes=(0, None), out_axes=(0, None))" in text
    assert "_, seen = p_normalize(jnp.ones((1, 4)), seen)" in text


def test_an_argument_shared_with_another_variable_is_not_rebound_silently():
    fixed = _fix('''
        import jax


        @jax.jit
        def train_step(state, x):
            state["step"] += 1
            return x


        def scenario():
            state = {"step": 0}
            alias = state
            train_step(state, 1.0)
            return alias["step"]
    ''')
    rewrite = fixed.rewrites[0]
    assert not rewrite.safe and any("shared" in p for p in rewrite.problems)


def test_a_function_that_escapes_is_not_rewritten_safely():
    fixed = _fix('''
        import jax

        g = 1.0


        def set_g(value):
            global g
            g = value


        def make():
            @jax.jit
            def f(x):
                return x + g

            return f
    ''')
    rewrite = fixed.rewrites[0]
    assert not rewrite.safe and any("cannot be followed" in p for p in rewrite.problems)


def test_unsafe_rewrites_carry_an_explanation_in_the_diff():
    fixed = _fix('''
        import jax

        history = []


        @jax.jit
        def update(w):
            history.append(w)
            return w * 2
    ''', unsafe=True)
    assert "# jax-purity-lint: JPL102 (needs review)" in fixed.rewritten
    assert "design decision" in fixed.rewritten


def test_an_unparsable_module_is_reported_and_left_alone():
    fixed = fix_source("import jax\ndef f(:\n", "broken.py")
    assert fixed.rewritten == fixed.original and not fixed.rewrites
