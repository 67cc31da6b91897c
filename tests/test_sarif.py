"""`jax-purity-lint check --format sarif`, validated against the official SARIF 2.1.0 schema
(tests/data/sarif-schema-2.1.0.json, see tests/data/README.md), with rule metadata and help links."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
SEED_NOTEBOOK = ROOT / "tests" / "data" / "stateful_computations.ipynb"
CLI = [sys.executable, "-m", "jax_purity_lint"]

GLOBAL_READ = '''import jax

g = 0.0


def impure_uses_global(x):
    return x + g


fast = jax.jit(impure_uses_global)
fast(1.0)
g = 10.0
'''


def run_sarif(*paths: str, cwd: Path) -> tuple[int, dict]:
    result = subprocess.run(
        [*CLI, "check", "--format", "sarif", *paths], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def validate(log: dict) -> None:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "example"\n[tool.jax_purity_lint]\n')
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "global read.py").write_text(GLOBAL_READ)  # a space: the URI must encode it
    (tmp_path / "src" / "broken.py").write_text("import jax\n\n@jax.jit\ndef f(x):\n    return x +\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "state.ipynb").write_bytes(SEED_NOTEBOOK.read_bytes())
    return tmp_path


def test_the_vendored_schema_is_the_official_one():
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert SCHEMA["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    jsonschema.Draft4Validator.check_schema(SCHEMA)


def test_output_with_findings_is_valid_sarif(project):
    status, log = run_sarif("src", "notebooks", cwd=project)
    assert status == 1
    validate(log)
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == ["JPL001", "JPL100", "JPL200"]


def test_clean_output_is_valid_sarif(project):
    (project / "clean.py").write_text("import jax\n\n\n@jax.jit\ndef f(x):\n    return x * 2\n")
    status, log = run_sarif("clean.py", cwd=project)
    assert status == 0
    validate(log)
    assert log["runs"][0]["results"] == []


def test_rule_metadata_and_help_links(project):
    _, log = run_sarif("src", cwd=project)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "jax-purity-lint" and driver["version"]
    rules = driver["rules"]
    codes = [rule["id"] for rule in rules]
    assert codes == sorted(page.stem for page in (ROOT / "docs" / "rules").glob("JPL*.md"))
    for rule in rules:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        # No helpUri: the project has no published address yet, so none is made up.
        assert "helpUri" not in rule and "informationUri" not in driver
        assert (ROOT / "docs" / "rules" / f"{rule['id']}.md").is_file()
        # Code scanning shows help.markdown beside each alert: the example and its explicit-state cure.
        assert "## Example" in rule["help"]["markdown"] and "## Use instead" in rule["help"]["markdown"]
        command = f"jax-purity-lint rules {rule['id']}"
        assert command in rule["help"]["markdown"] and command in rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("warning", "note")


def test_results_point_at_the_code(project):
    _, log = run_sarif("src", cwd=project)
    run = log["runs"][0]
    [global_read] = [r for r in run["results"] if r["ruleId"] == "JPL100"]
    assert run["tool"]["driver"]["rules"][global_read["ruleIndex"]]["id"] == "JPL100"
    location = global_read["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/global%20read.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 7, "startColumn": 16}  # the same place as the text output
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"
    assert run["columnKind"] == "unicodeCodePoints"
    assert global_read["level"] == "warning" and "reads global `g`" in global_read["message"]["text"]


def test_notebook_results_give_the_cell_in_the_message(project):
    _, log = run_sarif("notebooks", cwd=project)
    [finding] = log["runs"][0]["results"]
    assert finding["ruleId"] == "JPL200"
    location = finding["locations"][0]["physicalLocation"]
    # A cell's line is not a line of the .ipynb file: no region, the cell is in the message.
    assert location["artifactLocation"]["uri"] == "notebooks/state.ipynb" and "region" not in location
    assert finding["message"]["text"].startswith("cell 1, line 12: ")
    assert finding["properties"] == {"cell": 1, "cellLine": 12, "cellColumn": 5}


def test_files_outside_the_working_directory_get_file_uris(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "seed.py"
    elsewhere.write_text(GLOBAL_READ)
    _, log = run_sarif(str(elsewhere), cwd=project)
    validate(log)
    [finding] = log["runs"][0]["results"]
    assert finding["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": elsewhere.resolve().as_uri()}


def test_the_schema_rejects_what_it_should(project):
    """The validation is not vacuous: a line 0 or a result without a message is refused."""
    _, log = run_sarif("src", cwd=project)
    [global_read] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "JPL100"]
    global_read["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with pytest.raises(AssertionError, match="startLine"):
        validate(log)
    del global_read["message"]
    with pytest.raises(AssertionError, match="message"):
        validate(log)


def test_a_change_in_another_module_is_a_related_location(tmp_path):
    (tmp_path / "config.py").write_text("LR = 0.1\n")
    (tmp_path / "reader.py").write_text("import jax\n\nimport config\n\n\n@jax.jit\ndef f(x):\n    return x * config.LR\n")
    (tmp_path / "main.py").write_text("import config\nimport reader\n\nreader.f(1.0)\nconfig.LR = 0.5\n")
    status, log = run_sarif("reader.py", cwd=tmp_path)
    validate(log)
    (result,) = log["runs"][0]["results"]
    (related,) = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "main.py"
    assert related["physicalLocation"]["region"] == {"startLine": 5}
    assert related["message"]["text"] == "`config.LR` changes here (attribute `LR` assigned)"
