"""Runtime verification of "safe": every fixture `fix` rewrites, run jitted, returns (and prints) what
the original returns eagerly -- the bug is gone and nothing else changed. And the state jit cannot
trace (a function, a string, an object with methods) is never rewritten safely: forcing that rewrite
breaks the program under jit, which is why it needs review.

The rewrites run in batch interpreters (jax imported once per batch, each module loaded under its own
name, the rewrite jitted vs the original under `jax.disable_jit()`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from markers import FIXTURES
from rewrite_cases import UNTRACEABLE_STATE, diagnosed_fixtures, fixture_fix
from rewrite_runtime import difference, run_pairs

pytestmark = pytest.mark.runtime

def test_every_safe_rewrite_of_every_fixture_runs_jitted_like_the_original_eagerly():
    pytest.importorskip("jax")
    rewritten = [fixture_fix(path) for path in diagnosed_fixtures() if fixture_fix(path).safe.changed]
    assert len(rewritten) >= 30
    # A safe rewrite that left another diagnosis behind could not be compared with the eager original.
    assert [case.path.name for case in rewritten if not case.fully_safe] == []
    halves = [rewritten[0::2], rewritten[1::2]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        batches = list(pool.map(lambda cases: run_pairs([(c.safe.rewritten, c.path) for c in cases]), halves))
    verdicts = {case.path.name: difference(*pair) for half, pairs in zip(halves, batches) for case, pair in zip(half, pairs)}
    failures = [f"{name}: {verdict}" for name, verdict in sorted(verdicts.items()) if verdict]
    assert not failures, "\n".join(failures)


def test_state_jit_cannot_trace_is_not_rewritten_and_forcing_the_rewrite_breaks_it():
    pytest.importorskip("jax")
    cases = {kind: fixture_fix(FIXTURES / name) for kind, name in UNTRACEABLE_STATE.items()}
    for kind, case in cases.items():
        assert case.diagnostics and not case.safe.changed, kind  # `fix` writes nothing
        (rewrite,) = case.everything.rewrites
        assert not rewrite.safe and any("jit traces numbers and arrays" in p for p in rewrite.problems), kind
    forced = run_pairs([(case.everything.rewritten, case.path) for case in cases.values()])
    unbroken = [kind for kind, pair in zip(cases, forced) if difference(*pair) is None]
    assert not unbroken, f"the needs-review rewrite ran jitted like the original: the check would be moot for {unbroken}"
