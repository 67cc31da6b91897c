"""The prefilter decides which files libcst parses: it must never drop a file with a trace site.

Soundness is checked against the site finder itself, over every spelling of a transformation we can
think of (imports, aliases, local imports, decorators, calls, partials), and over the fixtures.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import libcst as cst
import pytest

from jax_purity_lint.analysis import analyse_module
from jax_purity_lint.engine import analyze_source
from jax_purity_lint.source.prefilter import may_hold_a_site, might_trace, names_a_transformation
from jax_purity_lint.settings import DEFAULT_SETTINGS, Settings

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = Path(__file__).parents[1] / "examples"


def has_site(source: str, settings: Settings = DEFAULT_SETTINGS) -> bool:
    return bool(analyse_module(cst.parse_module(source), settings).sites)


def kept(source: str, settings: Settings = DEFAULT_SETTINGS) -> bool:
    """The prefilter as the flake8 plugin asks it, with CPython's tree at hand."""
    return may_hold_a_site(source, ast.parse(source), settings)


# -- files it rejects: they name JAX, and a transformation's name appears, but nothing is one -------

REJECTED = {
    "mentioned in a docstring": 'import jax\n"""Call jax.jit on it."""\ndef f(x):\n    return x\n',
    "mentioned in a comment": "import jax.numpy as jnp\n# jit this later\nx = jnp.ones(3)\n",
    "a method named scan": "import jax\nclass A:\n    def scan(self):\n        return 1\nA().scan()\n",
    "a library's own jit": "import jax\ndef jit(f):\n    return f\n@jit\ndef g(x):\n    return x\n",
    "re.compile and a cond attribute": "import jax\nimport re\npattern = re.compile('x')\nstate.cond(1)\n",
    "a chain through a call": "import jax\nmake().jit(f)\nitems[0].scan(f)\n",
    "relative import of jit": "import jax\nfrom .api import jit\njit(f)\n",
}


@pytest.mark.parametrize("source", REJECTED.values(), ids=REJECTED.keys())
def test_rejects_files_where_nothing_is_a_transformation(source):
    assert might_trace(source, DEFAULT_SETTINGS)  # the text check alone would parse it
    assert not names_a_transformation(ast.parse(source), DEFAULT_SETTINGS)
    assert not has_site(source)  # and the site finder agrees there is nothing


# -- every spelling of a transformation, every form of application ----------------------------------

# (set-up that makes `{t}` denote a transformation, the expression `{t}`); `{t}(f)` is then a site.
SPELLINGS = [
    ("import jax", "jax.jit"),
    ("import jax as J", "J.jit"),
    ("from jax import jit", "jit"),
    ("from jax import jit as compile_fn", "compile_fn"),
    ("import jax\nmy_jit = jax.jit", "my_jit"),
    ("import jax as J\nJIT: object = J.jit", "JIT"),
    ("from jax import pmap", "pmap"),
    ("import jax\nc = jax.checkpoint", "c"),
    ("from jax import remat", "remat"),
    ("import jax.api", "jax.api.jit"),
    ("from jax.experimental.pjit import pjit", "pjit"),
    ("import equinox as eqx", "eqx.filter_jit"),
    ("from equinox import filter_jit as fj", "fj"),
    ("from flax import nnx", "nnx.jit"),
    ("import flax.nnx", "flax.nnx.jit"),
    ("import flax.linen as nn", "nn.jit"),
    ("import jax\nj1 = jax.jit\nj2 = j1", "j2"),
]
# (set-up, call) for the loop primitives, which take the function among other arguments.
LOOP_SPELLINGS = [
    ("from jax import lax", "lax.scan({f}, 0, xs)"),
    ("import jax\nL = jax.lax", "L.scan({f}, 0, xs)"),
    ("import jax.lax as L2\nL3 = L2", "L3.fori_loop(0, 3, {f}, 0)"),
    ("import jax", "jax.lax.map({f}, xs)"),
    ("import jax", "jax.lax.cond(p, {f}, {f}, x)"),
    ("from jax.lax import while_loop as loop", "loop({f}, {f}, 0)"),
    ("from jax import lax as L", "L.map({f}, xs)"),  # no `lax.map` in the text, nor any other name
    ("from jax.lax import map as lax_map", "lax_map({f}, xs)"),
]
APPLICATIONS = [
    "@{t}\ndef f(x):\n    g.append(x)\n    return x\n",
    "def f(x):\n    g.append(x)\n    return x\nf_jit = {t}(f)\n",
    "from functools import partial\n@partial({t}, static_argnums=0)\ndef f(x):\n    g.append(x)\n    return x\n",
    "def f(x):\n    g.append(x)\n    return x\ndef run(x):\n    return {t}(f)(x)\n",
]


def program(setup: str, application: str, local_import: bool) -> str:
    if local_import:  # the import inside the function that applies the transformation
        body = "\n".join("    " + line for line in f"{setup}\n{application}".splitlines())
        return "g = []\ndef outer():\n" + body + "\n"
    return f"{setup}\ng = []\n{application}"


CASES = [
    pytest.param(program(setup, application.format(t=t), local), id=f"{t}-{index}-{'local' if local else 'module'}")
    for (setup, t), (index, application), local in itertools.product(
        SPELLINGS, enumerate(APPLICATIONS), (False, True)
    )
] + [
    pytest.param(f"{setup}\ng = []\ndef body(c, x):\n    g.append(x)\n    return c, x\n{call.format(f='body')}\n", id=call)
    for setup, call in LOOP_SPELLINGS
]


def test_what_the_flake8_plugin_turns_away_the_engine_reports_nothing_for():
    """The plugin answers `may_hold_a_site` before it loads the engine: for every file where that is
    False, the engine (given the same tree, as flake8 gives it) must return no diagnostic at all."""
    sources = [*REJECTED.values(), *(path.read_text() for path in sorted(FIXTURES.glob("*.py"))),
               *(path.read_text() for path in sorted(EXAMPLES.glob("*.py")))]
    turned_away = 0
    for source in sources:
        tree = ast.parse(source)
        if not may_hold_a_site(source, tree, DEFAULT_SETTINGS):
            turned_away += 1
            assert analyze_source(source, "m.py", DEFAULT_SETTINGS, python_tree=tree) == [], source
    assert turned_away >= len(REJECTED)


@pytest.mark.parametrize("source", CASES)
def test_keeps_every_file_the_site_finder_finds_a_site_in(source):
    assert kept(source) or not has_site(source), source


def test_the_spellings_are_sites():
    """The soundness cases are not vacuous: nearly all of them are sites."""
    module_level = [param.values[0] for param in CASES if "local" not in param.id]
    assert sum(has_site(source) for source in module_level) >= len(module_level) - 4


def test_configured_transformations_are_kept():
    settings = Settings(jit_functions=frozenset({"mylib.compile"}))
    source = "import mylib as M\ng = []\n@M.compile\ndef f(x):\n    g.append(x)\n    return x\n"
    assert has_site(source, settings) and kept(source, settings)
    assert not kept(source)  # without the setting it names no transformation


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.glob("*.py")) + sorted(EXAMPLES.glob("*.py")), ids=lambda path: path.name
)
def test_keeps_every_fixture_with_a_site(path):
    source = path.read_text(encoding="utf-8")
    if has_site(source):
        assert kept(source)


def tangle(count: int) -> str:
    """`count` names each aliasing three others, and those aliasing attributes of them."""
    names = [f"a{index}" for index in range(count)]
    return "".join(f"{x} = {y}\n{y} = {x}.b\n" for x in names for y in names[:3])


def test_alias_tangles_are_followed_to_the_import():
    source = "import jax\n" + tangle(300) + "a2 = jax\na0.jit(f)\n"
    assert kept(source)  # (the resolver itself gives up on names bound many times: no site)
    assert not kept("import jax\n" + tangle(300) + "a0.jit(f)\n")  # no chain reaches jax


def test_alias_tangles_too_large_to_follow_keep_the_file():
    """When in doubt, parse: past the bound on the aliases followed, the file goes to libcst."""
    assert kept("import jax\n" + tangle(2000) + "a0.jit(f)\n")
