"""Package fixtures (tests/fixtures/packages/): state shared across modules, found by the project-wide
analysis through every surface, and each claim checked by running the project's scenario."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jax_purity_lint.engine import analyze_source
from markers import expected_findings

PACKAGES = Path(__file__).parent / "fixtures" / "packages"
PROJECTS = sorted(p for p in PACKAGES.iterdir() if p.is_dir())
ROOT = Path(__file__).resolve().parents[1]


def _modules(project: Path) -> list[Path]:
    return sorted(project.rglob("*.py"))


def _expected(project: Path) -> set[tuple[str, int, str]]:
    return {
        (path.relative_to(project).as_posix(), line, code)
        for path in _modules(project)
        for line, code in expected_findings(path.read_text(encoding="utf-8"))
    }


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_markers_match_the_analysis_of_each_module(project):
    found = {
        (path.relative_to(project).as_posix(), d.line, d.code)
        for path in _modules(project)
        for d in analyze_source(path.read_text(encoding="utf-8"), str(path))
    }
    assert found == _expected(project)


def test_markers_match_check_and_flake8_over_every_project():
    expected = {(f"{p.name}/{module}", line, code) for p in PROJECTS for module, line, code in _expected(p)}
    assert len(expected) >= 3
    check = _run([sys.executable, "-m", "jax_purity_lint", "check", "--no-cache", "--format", "json", "-j", "2", "."], PACKAGES)
    assert check.returncode == 1, check.stderr
    reported = json.loads(check.stdout)
    assert {(Path(d["path"]).as_posix(), d["line"], d["code"]) for d in reported} == expected
    # flake8 checks one file at a time, as editors and pre-commit run it: each must still see the others.
    files = [str(path.relative_to(PACKAGES)) for p in PROJECTS for path in _modules(p)]
    flake8 = _run([sys.executable, "-m", "flake8", "--select", "JPL", "--format", "%(path)s|%(row)d|%(code)s", *files], PACKAGES)
    rows = {tuple(line.split("|")) for line in flake8.stdout.splitlines()}
    assert {(Path(path).as_posix(), int(row), code) for path, row, code in rows} == expected, flake8.stderr


def test_the_message_names_the_module_and_line_of_the_change():
    model = PACKAGES / "module_attribute" / "model.py"
    (diagnostic,) = analyze_source(model.read_text(encoding="utf-8"), str(model))
    assert diagnostic.state == "config.TEMPERATURE"
    assert "changed at main.py, line 10, in `scenario` (attribute `TEMPERATURE` assigned)" in diagnostic.message


def test_without_the_other_modules_nothing_is_reported(tmp_path):
    # The same reader alone: no module of its project changes the temperature.
    shutil.copy(PACKAGES / "module_attribute" / "model.py", tmp_path / "model.py")
    shutil.copy(PACKAGES / "module_attribute" / "config.py", tmp_path / "config.py")
    assert analyze_source((tmp_path / "model.py").read_text(encoding="utf-8"), str(tmp_path / "model.py")) == []


def _scenario_test(folder: Path) -> None:
    (folder / "test_scenario.py").write_text("import main\n\n\ndef test_scenario():\n    main.scenario()\n", encoding="utf-8")


POSITIVE = [p for p in PROJECTS if _expected(p)]
NEGATIVE = [p for p in PROJECTS if not _expected(p)]


@pytest.mark.runtime
@pytest.mark.parametrize("project", POSITIVE, ids=[p.name for p in POSITIVE])
def test_confirm_confirms_every_positive_through_the_scenario(project, tmp_path):
    copy = tmp_path / project.name
    shutil.copytree(project, copy)
    _scenario_test(copy)
    marked = sorted({module for module, _, _ in _expected(project)})
    result = _run(
        [sys.executable, "-m", "jax_purity_lint", "confirm", *marked, "--pytest", "test_scenario.py", "--format", "json"],
        copy,
    )
    report = json.loads(result.stdout)
    verdicts = {(f["path"], v["line"], v["code"]): v["verdict"] for f in report["files"] for v in f["verdicts"]}
    assert verdicts == {key: "confirmed" for key in _expected(project)}, result.stdout


@pytest.mark.runtime
@pytest.mark.parametrize("project", NEGATIVE, ids=[p.name for p in NEGATIVE])
def test_negative_projects_agree_jitted_and_eager(project, tmp_path):
    copy = tmp_path / project.name
    shutil.copytree(project, copy)
    result = _run(
        [sys.executable, "-m", "jax_purity_lint", "confirm", "main.py", "--include-clean", "--format", "json"], copy
    )
    (file,) = json.loads(result.stdout)["files"]
    assert file["drive"] == "scenario" and file["agreement"] == "agree", result.stdout


@pytest.mark.parametrize("project", POSITIVE, ids=[p.name for p in POSITIVE])
def test_fix_never_rewrites_state_of_another_module_as_safe(project, tmp_path):
    # Callers in other modules would have to pass the state: the rewrite needs review, nothing is written.
    copy = tmp_path / project.name
    shutil.copytree(project, copy)
    before = {path: path.read_bytes() for path in copy.rglob("*.py")}
    marked = sorted({module for module, _, _ in _expected(project)})
    result = _run([sys.executable, "-m", "jax_purity_lint", "fix", *marked], copy)
    assert "0 rewrite(s) applied" in result.stderr and "need review" in result.stderr, result.stderr
    assert "state of another module, changed there" in result.stderr
    assert {path: path.read_bytes() for path in copy.rglob("*.py")} == before
