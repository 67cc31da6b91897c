"""Rebindings that re-run the code that made a value (analysis/equal_values.py): JPL100 and JPL103
leave them to the opt-in JPL104, and every other rebinding stays theirs. The two programs in
tests/data/recomputed/ are the real-code shapes (a set-up cell run again, a count recomputed each
epoch): their values are equal, so `confirm` must see no divergence."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jax_purity_lint.engine import analyze_source

DATA = Path(__file__).parent / "data" / "recomputed"

HEAD = "import jax\nimport jax.numpy as jnp\nimport numpy as np\n"
TRACED = "@jax.jit\ndef f(x):\n    return x * v\n"

# name -> (set-up before the trace, code after the first call); every case rebinds `v` after a call.
CASES = {
    # -- the same code with the same inputs: JPL104 -------------------------------------------------
    "a literal bound again": ("v = 2.0\n", "v = 2.0\nf(1.0)\n", "JPL104"),
    "a library call with unchanged inputs": ("n = 3\nv = jnp.ones(n)\n", "v = jnp.ones(n)\nf(1.0)\n", "JPL104"),
    "an input rebound to the value it had": (
        "n = 3\nv = jnp.ones(n)\n", "n = 4\nn = 3\nv = jnp.ones(n)\nf(1.0)\n", "JPL104"
    ),
    "an element of an unpacked call": ("a, v = divmod(7, 2)\n", "a, v = divmod(7, 2)\nf(1.0)\n", "JPL104"),
    # -- anything else: JPL100 ----------------------------------------------------------------------
    "another literal": ("v = 2.0\n", "v = 3.0\nf(1.0)\n", "JPL100"),
    "an input changed in between": ("n = 3\nv = jnp.ones(n)\n", "n = 4\nv = jnp.ones(n)\nf(1.0)\n", "JPL100"),
    "host randomness": ("v = np.random.rand()\n", "v = np.random.rand()\nf(1.0)\n", "JPL100"),
    "a draw from a host generator": (
        "rng = np.random.default_rng(0)\nv = rng.normal()\n", "v = rng.normal()\nf(1.0)\n", "JPL100"
    ),
    "next() on an iterator": ("it = iter([1.0, 2.0])\nv = next(it)\n", "v = next(it)\nf(1.0)\n", "JPL100"),
    "a method of an object": (
        "class Loader:\n    def get(self):\n        return 1.0\nloader = Loader()\nv = loader.get()\n",
        "v = loader.get()\nf(1.0)\n",
        "JPL100",
    ),
    "a function of the module": ("def load():\n    return 1.0\nv = load()\n", "v = load()\nf(1.0)\n", "JPL100"),
    "made from its own value": ("v = 1.0\n", "v = v * 2\nf(1.0)\n", "JPL100"),
    "a loop variable": ("v = 1.0\n", "for k in range(2):\n    v = float(k)\n    f(1.0)\n", "JPL100"),
    "a different unpacked element": ("v, b = divmod(7, 2)\n", "b, v = divmod(7, 2)\nf(1.0)\n", "JPL100"),
    "a lambda": ("g = 1.0\nv = (lambda: g)()\n", "v = (lambda: g)()\nf(1.0)\n", "JPL100"),
    "set by a function with its argument": (
        "v = 1.0\ndef set_v(value):\n    global v\n    v = value\n", "v = 1.0\nf(1.0)\n", "JPL100"
    ),
    "an input bound in one arm of an if": (
        "import sys\nn = 3\nv = jnp.ones(n)\n", "if sys.argv:\n    n = 4\nv = jnp.ones(n)\nf(1.0)\n", "JPL100"
    ),
    "an input changed in place": (
        "shape = [3]\nv = jnp.ones(shape)\n", "shape.append(2)\nv = jnp.ones(shape)\nf(1.0)\n", "JPL100"
    ),
}


def _codes(source: str) -> set[str]:
    return {d.code for d in analyze_source(source, "case.py")} - {"JPL001"}


@pytest.mark.parametrize("name", CASES)
def test_a_rebinding_is_jpl104_only_when_the_same_code_runs_again(name):
    setup, after, code = CASES[name]
    source = HEAD + setup + TRACED + "f(1.0)\n" + after
    assert _codes(source) == {code}


def test_a_closure_rebound_each_epoch_by_the_same_call_is_jpl104_and_by_another_jpl103():
    template = textwrap.dedent(
        """\
        import jax
        def train(plan, epochs):
            steps = plan()
            @jax.jit
            def run(x):
                return x * steps
            for epoch in range(epochs):
                run(1.0)
                steps = {again}
        """
    )
    assert _codes(template.format(again="plan()")) == {"JPL104"}
    assert _codes(template.format(again="plan() + epoch")) == {"JPL103"}


@pytest.mark.parametrize("path", sorted(DATA.glob("*.py")), ids=lambda p: p.stem)
def test_the_real_code_shapes_are_jpl104_and_never_a_default_code(path):
    from jax_purity_lint.codes import opted_in

    codes = _codes(path.read_text(encoding="utf-8"))
    assert codes == {"JPL104"}
    assert not opted_in("JPL104", ["JPL"])  # so a default selection reports nothing for them


@pytest.mark.runtime
def test_the_real_code_shapes_agree_jitted_and_eager():
    from jax_purity_lint.engine import analyse_file
    from jax_purity_lint.runtime.confirm import ConfirmOptions, confirm_paths
    from jax_purity_lint.runtime.verdicts import Verdict

    files = [str(p) for p in sorted(DATA.glob("*.py"))]
    report = confirm_paths(files, ConfirmOptions(jobs=2, include_clean=True), analyzer=analyse_file)
    assert len(report.files) == len(files)
    for checked in report.files:
        assert checked.agreement == "agree", checked.path
        assert [v.diagnosis.code for v in checked.verdicts] == ["JPL104"], checked.path
        assert all(v.verdict is not Verdict.CONFIRMED for v in checked.verdicts), checked.path
