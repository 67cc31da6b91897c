"""Runtime verification: each fixture whose rewrite is safe, run jitted, returns (and prints) what the
original returns eagerly -- the bug is gone and nothing else changed.

The runs are the runtime checker's own (jax_purity_lint.runtime: sandboxed interpreters, its eager mode
and its comparison), two fixtures at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from rewrite_cases import diagnosed_fixtures, fixture_fix
from rewrite_runtime import compare_rewrite


def test_safe_rewrites_run_jitted_like_the_original_eagerly():
    pytest.importorskip("jax")
    cases = [fixture_fix(path) for path in diagnosed_fixtures() if fixture_fix(path).fully_safe]
    assert cases
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(pool.map(lambda case: compare_rewrite(case.safe.rewritten, case.path), cases))
    failures = [f"{case.path.name}: {verdict}" for case, verdict in zip(cases, verdicts) if verdict]
    assert not failures, "\n".join(failures)
