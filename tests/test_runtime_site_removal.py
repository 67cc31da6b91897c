"""site_removal.py: find one trace site by line/column and switch it off (or route it through the
recorder) without moving any line."""

import textwrap

import pytest

from jax_purity_lint.runtime.site_removal import SiteNotFound, SiteRequest, rewrite_sites, switch_off_site

SOURCE = textwrap.dedent(
    """\
    import jax
    from functools import partial


    class Model:
        @staticmethod
        @jax.jit
        def f(x):
            return x

    @partial(jax.jit, static_argnums=0)
    def g(n, x):
        return x * n

    @jax.jit(static_argnames="n")
    def h(x, n):
        return x

    f2 = jax.jit(lambda x: x + 1)
    f3 = partial(jax.jit, static_argnums=0)(g)
    y = jax.jit(h)(3, n=2)
    f4 = jax.jit(
        g,
        static_argnums=0)
    z = jax.lax.scan(g, 0, None, length=3)
    p = jax.pmap(h, axis_name="i")
    """
)


def line(source: str, number: int) -> str:
    return source.splitlines()[number - 1]


@pytest.mark.parametrize(
    "site_line, col, expected_line",
    [
        (7, 4, ""),  # `@jax.jit`, located by its `@`
        (7, 5, ""),  # ... or by the decorator expression
        (11, 1, ""),  # `@partial(jax.jit, static_argnums=0)`
        (15, 1, ""),  # `@jax.jit(static_argnames="n")`
        (19, 5, "f2 = (lambda x: x + 1)"),
        (20, 5, "f3 = g"),
        (21, 4, "y = h(3, n=2)"),
        (22, 5, "f4 = (lambda function, *_, **__: function)("),
    ],
)
def test_switching_off_jit_sites(site_line, col, expected_line):
    rewritten = switch_off_site(SOURCE, site_line, col)
    assert line(rewritten, site_line).strip() == expected_line
    assert rewritten.count("\n") == SOURCE.count("\n")
    compile(rewritten, "<rewritten>", "exec")
    # every other line is untouched
    changed = [n for n, (a, b) in enumerate(zip(SOURCE.splitlines(), rewritten.splitlines()), 1) if a != b]
    assert changed == [site_line]


def test_a_dropped_decorator_keeps_the_other_decorators_and_the_def_line():
    rewritten = switch_off_site(SOURCE, 7, 5)
    assert line(rewritten, 6).strip() == "@staticmethod"
    assert line(rewritten, 8).strip() == "def f(x):"


def test_lax_and_pmap_sites_get_an_eager_stand_in():
    scan = switch_off_site(SOURCE, 25, 4, "jax.lax.scan")
    assert line(scan, 25) == "z = __jpl_runtime__.stand_in('jax.lax.scan', jax.lax.scan)(g, 0, None, length=3)"
    pmap = switch_off_site(SOURCE, 26, 4, "jax.pmap")
    assert line(pmap, 26) == "p = __jpl_runtime__.stand_in('jax.pmap', jax.pmap)(h, axis_name=\"i\")"


def test_recording_wraps_every_site_and_switches_off_one():
    requests = [SiteRequest(7, 5, "jax.jit"), SiteRequest(20, 5, "jax.jit"), SiteRequest(25, 4, "jax.lax.scan")]
    recorded = rewrite_sites(SOURCE, requests, switched_off=requests[1])
    assert line(recorded, 7).strip() == "@__jpl_runtime__.site(7, 5, 'jax.jit', jax.jit)"
    assert line(recorded, 20) == "f3 = __jpl_runtime__.site(20, 5, 'jax.jit', None)(g)"
    assert line(recorded, 25) == "z = __jpl_runtime__.site(25, 4, 'jax.lax.scan', jax.lax.scan)(g, 0, None, length=3)"
    off_scan = rewrite_sites(SOURCE, requests, switched_off=requests[2])
    assert "__jpl_runtime__.stand_in('jax.lax.scan', jax.lax.scan)" in line(off_scan, 25)
    alone = rewrite_sites(SOURCE, requests, switched_on=requests[0])
    assert line(alone, 7).strip() == "@__jpl_runtime__.site(7, 5, 'jax.jit', jax.jit, True)"


def test_unknown_position_is_reported():
    with pytest.raises(SiteNotFound):
        switch_off_site(SOURCE, 9, 8)


def test_falls_back_to_the_only_candidate_on_the_line():
    assert line(switch_off_site(SOURCE, 20, 0), 20) == "f3 = g"


def test_rewritten_recording_source_runs_with_a_recorder():
    """The rewritten text is executable: with a stand-in recorder, the switched-off site calls f directly."""
    source = "def f(x):\n    return x + 1\n\ng = jit(f, static_argnums=())\nresult = g(1)\n"
    request = SiteRequest(4, 4, "jax.jit")
    seen = []

    class Recorder:
        def site(self, line, col, transform, applied, jit_enabled=False):
            def apply(function, *args, **kwargs):
                seen.append((line, col, transform, applied))
                return function if applied is None else applied(function, *args, **kwargs)

            return apply

    namespace = {"__jpl_runtime__": Recorder(), "jit": lambda f, **kw: (lambda x: "jitted")}
    exec(rewrite_sites(source, [request]), dict(namespace))
    exec(rewrite_sites(source, [request], switched_off=request), namespace)
    assert namespace["result"] == 2
    assert [entry[3] is None for entry in seen] == [False, True]


def test_a_site_is_found_by_its_node_where_its_position_finds_it():
    """`confirm` rewrites the sites of the analysed tree by node; on every fixture that gives the very
    text that finding them again by line and column gives (the way diagnoses handed in as data go)."""
    from jax_purity_lint.engine import analyse_file
    from markers import fixture_files

    compared = 0
    for path in fixture_files():
        source = path.read_text(encoding="utf-8")
        file = analyse_file(source, str(path))
        for located in file.findings:
            site = located.diagnostic.site
            node = located.finding.context.site.node
            request = SiteRequest(site.line, site.col, site.transform, node)
            by_node = rewrite_sites(source, [request], module=file.parsed.module)
            by_position = rewrite_sites(source, [SiteRequest(site.line, site.col, site.transform)])
            assert by_node == by_position, (path.name, site)
            compared += 1
    assert compared >= 60  # every fixture finding
