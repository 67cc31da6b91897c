"""The registry of JAX transformations (analysis/jax_api.py) holds the analysis, `fix` and `confirm`
together: every entry is handled by all three, its aliases canonicalise, its function arguments are
where the real signature puts them, and each consumer uses the registry's own sets."""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from typing import Optional

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from jax_purity_lint.analysis import analyse_module, container_methods, jax_api
from jax_purity_lint.analysis.jax_api import Kind, RuntimeView, Transformation
from jax_purity_lint.rewrites.uses import UseFinder
from jax_purity_lint.rewrites.view import ModuleView
from jax_purity_lint.runtime import transforms
from jax_purity_lint.runtime.site_removal import switch_off_site
from jax_purity_lint.settings import DEFAULT_SETTINGS, Settings

SITES = [record for record in jax_api.TRANSFORMATIONS if record.kind is not Kind.TRANSPARENT]
TRANSPARENT = [record for record in jax_api.TRANSFORMATIONS if record.kind is Kind.TRANSPARENT]
SPELLINGS = [(record, spelling) for record in SITES for spelling in (record.qualified, *record.aliases)]


def _ids(pairs):
    return [spelling for _, spelling in pairs]


def application(spelling: str, record: Transformation) -> str:
    """A module handing the module-level `f` to the transformation, spelled `spelling`, at line 8."""
    slots = max(record.function_positions) + 2 if record.caches_by_identity else 1
    arguments = ["f" if index in record.function_positions or slots == 1 else "0" for index in range(slots)]
    module = spelling.rpartition(".")[0]
    return f"import {module}\n\n\ndef f(*args):\n    return 0\n\n\nresult = {spelling}({', '.join(arguments)})\n"


class Analysed:
    def __init__(self, source: str, settings: Settings = DEFAULT_SETTINGS) -> None:
        self.source = source
        self.module = cst.parse_module(source)
        self.analysis = analyse_module(self.module, settings)
        self.view = ModuleView(self.module, self.analysis, settings)
        self.positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)

    def only_site(self):
        assert len(self.analysis.sites) == 1, self.analysis.sites
        return self.analysis.sites[0]

    def call_at_line(self, line: int) -> cst.Call:
        calls = [node for node, where in self.positions.items() if isinstance(node, cst.Call) and where.start.line == line]
        return min(calls, key=lambda call: self.positions[call].start.column)


# -- the analysis ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("record, spelling", SPELLINGS, ids=_ids(SPELLINGS))
def test_the_analysis_finds_a_site_of_every_entry_under_every_spelling(record, spelling):
    site = Analysed(application(spelling, record)).only_site()
    assert site.transform.qualified == record.qualified
    assert site.compile_and_cache == (record.kind is Kind.COMPILE_AND_CACHE)
    assert {target.scope.name for target in site.targets} == {"f"}


@pytest.mark.parametrize("record", [r for r in TRANSPARENT if r.function_positions], ids=lambda r: r.qualified)
def test_the_analysis_sees_through_every_transparent_entry(record):
    module = record.qualified.rpartition(".")[0]
    source = f"import jax\nimport {module}\n\n\ndef f(*args):\n    return 0\n\n\nresult = jax.jit({record.qualified}(f))\n"
    assert [target.scope.name for target in Analysed(source).only_site().targets] == ["f"]


# -- the runtime ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("record, spelling", SPELLINGS, ids=_ids(SPELLINGS))
def test_the_runtime_knows_how_to_record_and_switch_off_every_site(record, spelling):
    analysed = Analysed(application(spelling, record))
    start = analysed.positions[analysed.only_site().node].start
    assert record.runtime is not RuntimeView.NOT_A_SITE
    assert transforms.is_immediate(spelling) == (record.runtime is RuntimeView.IMMEDIATE)
    assert transforms.is_trace_only(spelling) == (record.runtime is RuntimeView.TRACE_ONLY)
    switched_off = switch_off_site(analysed.source, start.line, start.column, record.qualified).splitlines()[start.line - 1]
    if record.needs_stand_in:
        assert switched_off.startswith(f"result = __jpl_runtime__.stand_in('{record.qualified}', {spelling})(")
    else:
        assert switched_off == "result = f"


def test_every_entry_that_needs_a_stand_in_has_one_and_no_other_does():
    pytest.importorskip("jax")
    from jax_purity_lint.runtime.stand_ins import STAND_INS, stand_in_for

    assert set(STAND_INS) == {record.qualified for record in SITES if record.needs_stand_in}
    for record in SITES:
        if record.needs_stand_in and record.qualified != "equinox.filter_pmap":  # equinox is imported when used
            assert callable(stand_in_for(record.qualified, None))


def test_a_configured_jit_function_is_handled_like_jax_jit_whatever_its_last_name():
    """`mylib.map` used to count as `jax.lax.map` (the runtime keyed by the last name)."""
    for configured in ("mylib.compile", "mylib.map", "mylib.scan", "mylib.pmap", "mylib.make_jaxpr"):
        assert not transforms.is_immediate(configured)
        assert not transforms.is_trace_only(configured)
        assert not transforms.needs_stand_in(configured)
    source = "import mylib\n\n\n@mylib.map\ndef f(x):\n    return x\n"
    assert switch_off_site(source, 4, 1, "mylib.map").splitlines()[3] == ""


def test_the_child_reads_the_registry_without_libcst():
    import subprocess
    import sys

    probe = "import sys, jax_purity_lint.runtime.transforms; print(sorted(m for m in sys.modules if m.startswith('libcst')))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "[]"


# -- the rewrites -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("record, spelling", SPELLINGS, ids=_ids(SPELLINGS))
def test_the_rewrites_know_whether_every_site_is_call_preserving(record, spelling):
    analysed = Analysed(application(spelling, record))
    finder = UseFinder(analysed.view)
    call = analysed.call_at_line(8)
    assert finder.call_preserving(call) == (record.qualified if record.call_preserving else None)
    assert finder.identity_cached_primitive(call) == (record.qualified if record.caches_by_identity else None)


@pytest.mark.parametrize("record", [r for r in SITES if r.kind is Kind.COMPILE_AND_CACHE], ids=lambda r: r.qualified)
def test_the_rewrites_follow_a_decorator_exactly_when_it_is_call_preserving(record):
    module = record.qualified.rpartition(".")[0]
    source = f"import {module}\n\n\n@{record.qualified}\ndef f(x):\n    return x\n"
    analysed = Analysed(source)
    decorator = analysed.module.body[1].decorators[0]
    assert UseFinder(analysed.view).decorator_transform(decorator) == (record.qualified if record.call_preserving else None)


def test_a_configured_jit_function_is_call_preserving_only_when_configured():
    source = "import mylib\n\n\ndef f(x):\n    return x\n\n\nfast = mylib.compile(f)\n"
    configured = Analysed(source, Settings(jit_functions=frozenset({"mylib.compile"})))
    assert UseFinder(configured.view).call_preserving(configured.call_at_line(8)) == "mylib.compile"
    plain = Analysed(source)
    assert UseFinder(plain.view).call_preserving(plain.call_at_line(8)) is None


# -- the registry itself ----------------------------------------------------------------------------------


def test_names_are_unique_and_every_alias_canonicalises():
    names = [record.qualified for record in jax_api.TRANSFORMATIONS]
    aliases = [alias for record in jax_api.TRANSFORMATIONS for alias in record.aliases]
    assert len(set(names)) == len(names)
    assert len(set(aliases)) == len(aliases) and not set(aliases) & set(names)
    for record in jax_api.TRANSFORMATIONS:
        for spelling in (record.qualified, *record.aliases):
            assert jax_api.canonical(spelling) == record.qualified
            assert jax_api.transformation(spelling) is record


def test_the_derived_sets_say_what_the_records_say():
    by_kind = {kind: {r.qualified for r in jax_api.TRANSFORMATIONS if r.kind is kind} for kind in Kind}
    assert jax_api.COMPILE_AND_CACHE == by_kind[Kind.COMPILE_AND_CACHE]
    assert jax_api.LOOP_BODIES == by_kind[Kind.LOOP_BODY]
    assert jax_api.TRANSPARENT == by_kind[Kind.TRANSPARENT]
    assert set(jax_api.IDENTITY_CACHED_ARGUMENTS) == by_kind[Kind.IDENTITY_CACHED] | by_kind[Kind.LOOP_BODY]
    assert jax_api.STATE_AWARE <= jax_api.COMPILE_AND_CACHE and jax_api.RUN_AT_ONCE <= jax_api.COMPILE_AND_CACHE
    assert jax_api.CALL_PRESERVING <= jax_api.COMPILE_AND_CACHE - jax_api.RUN_AT_ONCE
    assert jax_api.PARTIAL in jax_api.TRANSPARENT
    assert not jax_api.HOST_CALLBACKS & set(jax_api.BY_NAME)


def _real(qualified: str) -> Optional[object]:
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        with warnings.catch_warnings():  # `jax.experimental.pjit.pjit` is deprecated, still there
            warnings.simplefilter("ignore", DeprecationWarning)
            for part in parts[cut:]:
                found = getattr(found, part, None)
        return found
    return None


# functools.partial is a builtin with no signature to read; its `func` is positional-only.
WITH_SIGNATURES = [record for record in jax_api.TRANSFORMATIONS if record.qualified != jax_api.PARTIAL]


def test_partial_takes_its_function_by_position_only():
    assert jax_api.BY_NAME[jax_api.PARTIAL].function_keywords == ()
    with pytest.raises(TypeError):
        functools.partial(func=print)


@pytest.mark.parametrize("record", WITH_SIGNATURES, ids=lambda r: r.qualified)
def test_function_arguments_are_where_the_installed_signature_puts_them(record):
    pytest.importorskip("jax")
    real = _real(record.qualified)
    if real is None:
        pytest.skip(f"{record.qualified} is not installed")
    try:
        parameters = list(inspect.signature(real).parameters.values())
    except ValueError:
        pytest.skip(f"{record.qualified} has no signature")
    named = [parameters[index] for index in record.function_positions]
    assert record.function_keywords == tuple(p.name for p in named if p.kind is not inspect.Parameter.POSITIONAL_ONLY)


def test_the_function_keywords_are_those_of_the_records_and_every_part_uses_them():
    from jax_purity_lint.analysis import tree
    from jax_purity_lint.rewrites import uses
    from jax_purity_lint.runtime import site_runtime

    expected = {keyword for record in jax_api.TRANSFORMATIONS for keyword in record.function_keywords}
    assert set(jax_api.FUNCTION_KEYWORDS) == expected
    for consumer in (tree, uses, site_runtime):  # tree.function_argument serves the analysis and site removal
        assert consumer.FUNCTION_KEYWORDS is jax_api.FUNCTION_KEYWORDS, consumer.__name__


def test_every_consumer_uses_the_registrys_own_sets():
    from jax_purity_lint.analysis import cache_life, collector
    from jax_purity_lint.rewrites import debug_print, self_state, uses

    assert uses.IDENTITY_CACHED_ARGUMENTS is jax_api.IDENTITY_CACHED_ARGUMENTS
    assert debug_print.RUNS_PER_DEVICE is jax_api.RUNS_PER_DEVICE
    assert transforms.jax_api is jax_api
    for consumer in (collector, cache_life, self_state):
        assert consumer.MUTATING_METHODS is container_methods.MUTATING_METHODS, consumer.__name__
    assert self_state.GROWING_METHODS is container_methods.GROWING_METHODS
    assert container_methods.GROWING_METHODS <= container_methods.MUTATING_METHODS
    assert container_methods.MUTATING_METHODS_WITH_RESULT <= container_methods.MUTATING_METHODS


def test_fix_threads_a_container_changed_by_any_method_the_analysis_calls_mutating():
    """`self.order.reverse()` is diagnosed (JPL201); `fix` used to know 11 of the 20 mutating methods
    and left the passed-in state changed in place (a new JPL300), now it returns it."""
    from jax_purity_lint.rewrites import fix_source

    source = (
        "import jax\n\n\nclass Window:\n    def __init__(self):\n        self.order = [1.0, 2.0]\n\n"
        "    @jax.jit\n    def flip(self, x):\n        self.order.reverse()\n        return x * self.order[0]\n"
    )
    rewrites = fix_source(source, "window.py", unsafe=True).rewrites
    assert [r.codes for r in rewrites] == [("JPL201",)], [r.describe() for r in rewrites]
    assert "the rewrite introduces new findings" not in rewrites[0].describe()
