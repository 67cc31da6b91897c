"""Every fixture's markers against the analysis, exactly: nothing missing, nothing extra."""

from __future__ import annotations

import pytest

from jax_purity_lint.engine import analyze_source
from markers import expected_findings, fixture_files, is_positive

FILES = fixture_files()


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fixture_markers_match_diagnostics(path):
    source = path.read_text(encoding="utf-8")
    found = {(d.line, d.code) for d in analyze_source(source, str(path))}
    expected = expected_findings(source)
    assert sorted(found - expected) == [], "reported but not marked"
    assert sorted(expected - found) == [], "marked but not reported"


def test_fixture_corpus_covers_every_code_with_positives_and_negatives():
    from jax_purity_lint.rules import ALL_RULES

    codes = {code for path in FILES for _, code in expected_findings(path.read_text(encoding="utf-8"))}
    assert codes == {rule.code for rule in ALL_RULES}
    negatives = [p for p in FILES if not is_positive(p)]
    assert len(negatives) >= 20
    assert len(FILES) >= 60


def test_every_fixture_defines_a_scenario():
    for path in FILES:
        assert "\ndef scenario(" in path.read_text(encoding="utf-8"), path.name
