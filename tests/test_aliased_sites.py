"""`fix` and `confirm` follow the sites the analysis finds under aliased and configured jit functions:
`my_jit = partial(jax.jit, ...)`, `from jax import jit as J`, `jit = jax.jit`, and a configured
`jit-functions = ["mylib.compile"]`. `fix` used to say "cannot be followed" for each of them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from jax_purity_lint.runtime.confirm import ConfirmOptions, confirm_file
from jax_purity_lint.runtime.verdicts import Verdict
from markers import expected_findings
from rewrite_cases import ALIASED_JIT, ALIASED_SITE_CASES, CONFIGURED_JIT
from rewrite_runtime import compare_rewrite

CASE_IDS = [case.name for case in ALIASED_SITE_CASES]
NEW_PARAMETER = {"my_jit_partial": "def step(x, n, scale_0):", "aliased_jit": "def shift(x, offset_value):",
                 "configured_jit": "def apply(x, weights_1):"}


@pytest.mark.parametrize("case", ALIASED_SITE_CASES, ids=CASE_IDS)
def test_the_analysis_diagnoses_the_global_read_under_the_alias(case):
    assert {(d.line, d.code) for d in case.diagnostics()} == expected_findings(case.source)


@pytest.mark.parametrize("case", ALIASED_SITE_CASES, ids=CASE_IDS)
def test_fix_applies_the_safe_rewrite_under_aliased_and_configured_jit(case):
    fixed = case.fix()
    assert fixed.rewrites and all(r.safe and r.applied for r in fixed.rewrites), [r.describe() for r in fixed.rewrites]
    assert NEW_PARAMETER[case.name] in fixed.rewritten
    assert case.diagnostics(fixed.rewritten) == []


def test_fix_follows_calls_through_the_aliased_jit():
    rewritten = ALIASED_JIT.fix().rewritten
    assert 'return jit(shift)(x, offset["value"]) * 2' in rewritten
    assert 'shift(jnp.ones(2), offset["value"])' in rewritten


@pytest.mark.runtime
def test_the_fixed_modules_run_jitted_like_the_originals_eagerly(tmp_path):
    pytest.importorskip("jax")

    def verdict(case):
        folder = tmp_path / case.name
        folder.mkdir()
        return compare_rewrite(case.fix().rewritten, case.write(folder))

    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = dict(zip(CASE_IDS, pool.map(verdict, ALIASED_SITE_CASES)))
    assert not any(verdicts.values()), verdicts


@pytest.mark.runtime
@pytest.mark.parametrize("case", [ALIASED_JIT, CONFIGURED_JIT], ids=["aliased", "configured"])
def test_confirm_switches_off_the_site_and_confirms(case, tmp_path):
    pytest.importorskip("jax")
    diagnostics = case.diagnostics()
    report = confirm_file(case.write(tmp_path), ConfirmOptions(), diagnostics=diagnostics)
    assert [v.verdict for v in report.verdicts] == [Verdict.CONFIRMED], [(v.verdict, v.reason) for v in report.verdicts]
    site = diagnostics[0].site
    switched_off = [run for run in report.runs if run.label == f"jitted, site {site.line}:{site.col} off"]
    assert [run.outcome for run in switched_off] == ["ok"], report.runs
