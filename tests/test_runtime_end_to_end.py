"""End to end over tests/fixtures: the static analysis's diagnoses, confirmed (or not) by running each
fixture's scenario() eagerly and jitted (two files at a time).

Every diagnosis in a positive fixture (one with `# expect:` markers) must be confirmed; a negative
fixture must have no confirmed diagnosis and its eager and jitted runs must agree. Then static
precision and recall against that runtime truth must both be 1.0 (scripts/runtime_precision.py).

Skipped, with the reason, only while jax_purity_lint.engine cannot be imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from markers import FIXTURES, fixture_files, is_positive

pytestmark = pytest.mark.runtime

try:
    from jax_purity_lint.engine import analyse_file
except ImportError as error:  # pragma: no cover - only before the engine exists
    pytest.skip(f"the static analysis (jax_purity_lint.engine) cannot be imported yet: {error}", allow_module_level=True)

from jax_purity_lint.runtime.confirm import ConfirmOptions, confirm_paths  # noqa: E402
from jax_purity_lint.runtime.verdicts import Verdict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _load_precision_script():
    spec = importlib.util.spec_from_file_location("runtime_precision", ROOT / "scripts" / "runtime_precision.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fixture_report():
    # The single-file fixtures; the package fixtures (fixtures/packages/) are driven through their
    # scenario by tests/test_package_fixtures.py.
    files = [str(path) for path in sorted(FIXTURES.glob("*.py"))]
    return confirm_paths(files, ConfirmOptions(jobs=2, include_clean=True), analyzer=analyse_file)


@pytest.fixture(scope="module")
def reports_by_name(fixture_report):
    return {Path(report.path).name: report for report in fixture_report.files}


def _explain(report) -> str:
    lines = [f"{report.path}: agreement={report.agreement} error={report.error}"]
    lines += [f"  {v.diagnosis.code}@{v.diagnosis.line}: {v.verdict.value}: {v.reason}" for v in report.verdicts]
    lines += [f"  run {run.label}: {run.outcome}" for run in report.runs]
    return "\n".join(lines)


POSITIVE = [path for path in fixture_files() if is_positive(path)]
NEGATIVE = [path for path in fixture_files() if not is_positive(path)]


@pytest.mark.parametrize("path", POSITIVE, ids=[p.stem for p in POSITIVE])
def test_every_diagnosis_in_a_positive_fixture_is_confirmed(path, reports_by_name):
    report = reports_by_name[path.name]
    assert report.verdicts, _explain(report)
    unconfirmed = [v for v in report.verdicts if v.verdict is not Verdict.CONFIRMED]
    assert not unconfirmed, _explain(report)
    assert all(v.evidence is not None for v in report.verdicts)


@pytest.mark.parametrize("path", NEGATIVE, ids=[p.stem for p in NEGATIVE])
def test_a_negative_fixture_agrees_and_confirms_nothing(path, reports_by_name):
    report = reports_by_name[path.name]
    assert not [v for v in report.verdicts if v.verdict is Verdict.CONFIRMED], _explain(report)
    assert report.agreement == "agree", _explain(report)


def test_static_precision_and_recall_against_runtime_truth(fixture_report):
    script = _load_precision_script()
    result = script.measure(fixture_report)
    assert (result.precision, result.recall) == (1.0, 1.0), script.render(result)
