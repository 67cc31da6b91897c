"""Runtime verification of "safe": every fixture `fix` rewrites, run jitted, returns (and prints) what
the original returns eagerly -- the bug is gone and nothing else changed. And the state jit cannot
trace (a function, a string, an object with methods) is never rewritten safely: forcing that rewrite
breaks the program under jit, which is why it needs review.

The runs are the runtime checker's own (jax_purity_lint.runtime: sandboxed interpreters, its eager mode
and its comparison), two fixtures at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from markers import FIXTURES
from rewrite_cases import UNTRACEABLE_STATE, diagnosed_fixtures, fixture_fix
from rewrite_runtime import compare_rewrite

pytestmark = pytest.mark.runtime

def test_every_safe_rewrite_of_every_fixture_runs_jitted_like_the_original_eagerly():
    pytest.importorskip("jax")
    rewritten = [fixture_fix(path) for path in diagnosed_fixtures() if fixture_fix(path).safe.changed]
    assert len(rewritten) >= 30
    # A safe rewrite that left another diagnosis behind could not be compared with the eager original.
    assert [case.path.name for case in rewritten if not case.fully_safe] == []
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(pool.map(lambda case: compare_rewrite(case.safe.rewritten, case.path), rewritten))
    failures = [f"{case.path.name}: {verdict}" for case, verdict in zip(rewritten, verdicts) if verdict]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("kind", UNTRACEABLE_STATE, ids=list(UNTRACEABLE_STATE))
def test_state_jit_cannot_trace_is_not_rewritten_and_forcing_the_rewrite_breaks_it(kind):
    pytest.importorskip("jax")
    case = fixture_fix(FIXTURES / UNTRACEABLE_STATE[kind])
    assert case.diagnostics and not case.safe.changed  # `fix` writes nothing
    (rewrite,) = case.everything.rewrites
    assert not rewrite.safe and any("jit traces numbers and arrays" in p for p in rewrite.problems)
    verdict = compare_rewrite(case.everything.rewritten, case.path)
    assert verdict, f"the needs-review rewrite of {kind} ran jitted like the original: the check would be moot"
