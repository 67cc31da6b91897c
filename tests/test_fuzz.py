"""Property tests: generated programs (hypothesmith), with trace sites and global mutations woven in,
never make the linter raise, report an internal error, or report a line outside the file.

A few hundred examples by default (about a minute); JPL_FUZZ_EXAMPLES=5000 for a long run, which
spreads that many examples over the strategies below in the same proportions.
"""

from __future__ import annotations

import ast
import os
import re
import warnings
from typing import Optional, Sequence, Union

import hypothesmith
import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jax_purity_lint.analysis import analyse_module
from jax_purity_lint.source.prefilter import names_a_transformation
from jax_purity_lint.engine import analyze_source
from jax_purity_lint.settings import Settings
from test_parsing import pieces_of

# hypothesmith compiles what it generates; its warnings about the generated code are noise here.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

EXAMPLES = int(os.environ.get("JPL_FUZZ_EXAMPLES", "300"))
LONG_RUN = "JPL_FUZZ_EXAMPLES" in os.environ


def examples(share: float) -> settings:
    return settings(
        max_examples=max(10, int(EXAMPLES * share)),
        deadline=None,  # a loaded CI machine must not turn slowness into a failure
        suppress_health_check=list(HealthCheck),
        derandomize=not LONG_RUN,  # the default run is the same in CI every time; the long run explores
        database=None,
    )


# -- the property ----------------------------------------------------------------------------------


def assert_well_behaved(source: Union[str, bytes], settings_: Optional[Settings] = None) -> list:
    """No exception, no internal error, JPL001 alone when present, and every line inside the file."""
    diagnostics = analyze_source(source, "<fuzz>", settings_)
    failures = [d for d in diagnostics if d.code == "JPL001"]
    assert not any("internal error" in d.message for d in failures), failures[0].message
    assert not failures or len(diagnostics) == 1, diagnostics
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    last_line = len(re.findall(r"\r\n|\r|\n", text)) + 1
    for diagnostic in diagnostics:
        assert 1 <= diagnostic.line <= last_line and diagnostic.col >= 0, diagnostic
    return diagnostics


# -- weaving JAX into a generated program ----------------------------------------------------------

TRANSFORMS = (
    "jax.jit",
    "jax.pmap",
    "functools.partial(jax.jit, static_argnums=(0,))",
    "jax.jit(static_argnames=('x',))",
    "equinox.filter_jit",
    "flax.nnx.jit",
    "jax.checkpoint",
)
# Statements put at the top of every function body: each changes Python state a trace freezes.
MUTATIONS = (
    "_jpl_log.append(1)",
    "global _jpl_count\n_jpl_count += 1",
    "print('traced')",
    "_jpl_table['k'] = 1",
    "self.n = 1",
    "next(_jpl_items)",
    "numpy.random.rand()",
)
# `from jax import jit` also passes the prefilter (JAX and a transformation named) whatever follows.
PRELUDE = (
    "import functools\nimport jax\nfrom jax import jit\nimport numpy\nimport equinox\nimport flax.nnx\n"
    "_jpl_log = []\n_jpl_count = 0\n_jpl_table = {}\n_jpl_items = iter(range(3))\n"
)


class Weaver(cst.CSTTransformer):
    """Decorate every function with a trace-caching transformation and start its body with a mutation."""

    def __init__(self, transform: str, mutation: str) -> None:
        super().__init__()
        self.decorator = cst.Decorator(cst.parse_expression(transform))
        self.mutation = list(cst.parse_module(mutation + "\n").body)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        updated = updated.with_changes(decorators=[self.decorator, *updated.decorators])
        if isinstance(updated.body, cst.IndentedBlock):
            updated = updated.with_changes(body=updated.body.with_changes(body=[*self.mutation, *updated.body.body]))
        return updated


def weave(program: str, transform: str, mutation: str, sites_after: bool) -> Optional[str]:
    """The program with JAX woven in, or None when libcst cannot rebuild it (not the linter's doing)."""
    try:
        module = cst.parse_module(program)
        woven = PRELUDE + module.visit(Weaver(transform, mutation)).code
    except Exception:
        return None
    if sites_after:  # also jit by call, then rebind the mutated globals after the sites
        names = [s.name.value for s in module.body if isinstance(s, cst.FunctionDef)]
        woven += "".join(f"jax.jit({name})\n" for name in names) + "_jpl_count = 2\n_jpl_log = [0]\n"
    return woven


@st.composite
def woven_programs(draw, programs: st.SearchStrategy[str]) -> str:
    program = draw(programs)
    woven = weave(program, draw(st.sampled_from(TRANSFORMS)), draw(st.sampled_from(MUTATIONS)), draw(st.booleans()))
    return woven if woven is not None else PRELUDE + program


# -- JAX-shaped programs: every site form, with arbitrary expressions in its holes -------------------

# Literals and shapes the site finder reads (static_argnums, argnames, callees), ordinary and odd.
ODD_EXPRESSIONS = (
    "0", "1", "-1", "0x1", "0o7", "0b1", "1_000", "9" * 40, "1.5", "1j", "True", "None", "'x'", "b'x'",
    "'a' 'b'", "f'{x}'", "(0, 'x')", "[0, 1]", "(0, (1, 2))", "{0}", "x", "self", "x.y", "x[0]", "f",
    "lambda: 0", "lambda x: x + g", "()", "('x',)", "''", "f(x)", "functools.partial(f, 1)", "C", "C()", "c.m",
    "jax.jit", "jax.jit(f)", "g", "g.append", "_jpl_items", "super()", "...",
)
SITE_TEMPLATES = (
    "jax.jit(f, static_argnums={0}, static_argnames={1})\n",
    "functools.partial(jax.jit, static_argnums={0})({1})\n",
    "@functools.partial(jax.jit, static_argnames={0})\ndef h(x, y):\n    g.append({1})\n    return x\n",
    "jax.jit({0})\n",
    "jax.jit({0}, {1})\n",
    "jax.jit(static_argnums={0})({1})\n",
    "@jax.jit\ndef h(x):\n    setattr({0}, {1}, {2})\n    next({0})\n    {0}.append({1})\n    return {2}\n",
    "@jax.jit\ndef h(x):\n    {0}[{1}] = {2}\n    {0}.y = {1}\n    del {0}\n    return x\n",
    "class C:\n    def m(self, x):\n        self.n = {0}\n        return self.k({1})\n"
    "    @jax.jit\n    def k(self, x):\n        return self.m({2})\nc = C()\njax.jit(c.m)\njax.jit(C.m)\n",
    "jax.lax.scan({0}, {1}, {2})\n",
    "jax.lax.fori_loop({0}, {1}, {2}, {3})\n",
    "jax.lax.while_loop({0}, {1}, {2})\n",
    "jax.lax.cond({0}, {1}, {2}, {3})\n",
    "equinox.filter_jit({0})({1})\n",
    "flax.nnx.jit({0})\n",
    "jax.checkpoint({0})\n",
    "jax.custom_vjp({0})\n",
    "jax.jit(lambda x: {0})\n",
    "g = {0}\n",
    "j = {0}\nj(f)\n",
    "for i in {0}:\n    jax.jit({1})\n",
    "def outer():\n    v = {0}\n    def inner(x):\n        nonlocal v\n        v = {1}\n        return x\n"
    "    return jax.jit(inner)\n",
)
SITE_PRELUDE = PRELUDE + "g = []\ndef f(x, *args, **kwargs):\n    return x + g[0]\nclass C:\n    def m(self, x):\n"
SITE_PRELUDE += "        return x\nc = C()\n"


# Built once: each from_grammar() call compiles the Python grammar with lark, which takes seconds.
EXPRESSIONS = st.one_of(st.sampled_from(ODD_EXPRESSIONS), hypothesmith.from_grammar("eval_input").map(str.strip))


@st.composite
def jax_shaped_programs(draw) -> str:
    expressions = EXPRESSIONS
    parts = [SITE_PRELUDE]
    for template in draw(st.lists(st.sampled_from(SITE_TEMPLATES), min_size=1, max_size=4)):
        holes = [draw(expressions) for _ in range(4)]
        parts.append(template.format(*holes))
    parts.append("g = [1]\n_jpl_count = 3\n")  # everything mutated is also rebound after the sites
    return "".join(parts)


# -- the tests -------------------------------------------------------------------------------------


@examples(0.33)
@given(woven_programs(hypothesmith.from_grammar()))
def test_grammar_programs_with_jax_woven_in(source):
    assert_well_behaved(source)


@examples(0.04)  # slow to generate: few, but they reach syntax the grammar strategy rarely does
@given(woven_programs(hypothesmith.from_node()))
def test_libcst_node_programs_with_jax_woven_in(source):
    assert_well_behaved(source)


@examples(0.08)  # each example draws a dozen grammar-generated expressions: slow, so fewer
@given(jax_shaped_programs())
def test_jax_shaped_programs(source):
    assert_pieces_report_the_same(source, assert_well_behaved(source))
    assert_prefilter_keeps_sites(source.replace("from jax import jit\n", "", 1))


def assert_prefilter_keeps_sites(source: str) -> None:
    """The check on CPython's tree never drops a file in which the site finder finds a site (the
    prelude's `from jax import jit` is left out by the caller: that import alone keeps a file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
        module = cst.parse_module(source)
    except Exception:  # what either parser rejects is not the prefilter's to judge
        return
    if analyse_module(module, Settings()).sites:
        assert names_a_transformation(tree, Settings()), source


def assert_pieces_report_the_same(source: str, whole: list) -> None:
    """Cut before every top-level statement that can start a piece (source/parsing.py): the same
    diagnostics as the whole parse, on syntax the fixtures never use."""
    with pieces_of(1):
        assert analyze_source(source, "<fuzz>") == whole


@examples(0.2)
@given(hypothesmith.from_grammar(), st.data())
def test_cut_and_spliced_programs(program, data):
    """Cut anywhere (unclosed brackets, half a string) and spliced with JAX: the error paths."""
    source = PRELUDE + program
    cut = data.draw(st.integers(0, len(source)), label="cut")
    splice = data.draw(st.sampled_from(["", "(", "[{", '"""', "\\", "\t", "\r", "\x0c", "@jax.jit\n"]), label="splice")
    assert_well_behaved(source[:cut] + splice + source[cut:])


@examples(0.2)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), st.sampled_from(["", "from jax import jit\n"]))
def test_arbitrary_text(text, prefix):
    assert_well_behaved(prefix + text)


@examples(0.1)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data):
    assert_well_behaved(b"from jax import jit\n" + data)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("mutation", MUTATIONS)
def test_weaving_itself_yields_findings(transform, mutation):
    """The weaving is meaningful: a plain function gets a site and a mutation the rules see."""
    source = weave("def f(self, x):\n    return x\n", transform, mutation, sites_after=True)
    assert source is not None
    diagnostics = assert_well_behaved(source)
    if transform != "flax.nnx.jit":  # state-aware: it carries module state in and out
        assert diagnostics, source


def settings_with_extra_transforms() -> Sequence[Settings]:
    return [Settings(jit_functions=frozenset({"mylib.compile"}), state_aware_functions=frozenset({"mylib.sjit"}))]


@examples(0.05)
@given(woven_programs(hypothesmith.from_grammar()), st.sampled_from(settings_with_extra_transforms()))
def test_configured_transforms(source, configured):
    assert_well_behaved(source.replace("jax.jit", "mylib.compile"), configured)
