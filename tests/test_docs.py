"""docs/: the rule pages are what `python -m jax_purity_lint.docs` generates from the rules, every code
has a page and every page a code, each page's examples behave as it says under the real CLI, and the
links between the pages resolve."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jax_purity_lint.codes import OPT_IN_CODES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted((DOCS / "rules").glob("*.md"))
CLI = [sys.executable, "-m", "jax_purity_lint"]
GENERATOR = [sys.executable, "-m", "jax_purity_lint.docs"]
SECTIONS = ["What it does", "Why is this bad?", "Example", "Use instead", "How `confirm` shows it", "Fix safety"]
# Pages written alongside this one by others; links to them may run ahead of the page itself.
WRITTEN_ELSEWHERE = {DOCS / "runtime-checker.md", DOCS / "performance.md", DOCS / "real-world.md"}


def run(command: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def sections(page: Path) -> dict[str, str]:
    parts = re.split(r"^## ", page.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]
    return {part.partition("\n")[0].strip(): part.partition("\n")[2] for part in parts}


def python_block(text: str) -> str:
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match, text
    return match.group(1)


def test_committed_pages_equal_the_generated_ones():
    result = run([*GENERATOR, "--check"])
    assert result.returncode == 0, f"{result.stderr}\nregenerate with: python -m jax_purity_lint.docs"


def test_every_code_has_a_page_and_every_page_a_code():
    listing = run([*CLI, "rules"])
    codes = [line.split()[0] for line in listing.stdout.splitlines()]
    assert codes and all(re.fullmatch(r"JPL\d{3}", code) for code in codes)
    assert [page.stem for page in PAGES] == codes
    from jax_purity_lint.rules import ALL_RULES, ANALYSIS_FAILURE_CODE

    assert set(codes) == {rule.code for rule in ALL_RULES} | {ANALYSIS_FAILURE_CODE}


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_each_page_has_its_sections_in_order(page):
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {page.stem}: `")
    found = sections(page)
    # Rules with a fix example end with what `fix` writes, after the fix safety.
    assert list(found) in (SECTIONS, [*SECTIONS, "What `fix` writes"])
    assert all(body.strip() for body in found.values())
    assert "runtime-checker.md" in found["How `confirm` shows it"]


def test_each_pages_example_is_flagged_with_its_code_and_its_cure_is_clean(tmp_path):
    """The examples as the pages show them, written to files and checked in one run of the CLI."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "examples"\n[tool.jax_purity_lint]\n')
    for page in PAGES:
        found = sections(page)
        (tmp_path / f"{page.stem}_example.py").write_text(python_block(found["Example"]))
        (tmp_path / f"{page.stem}_use_instead.py").write_text(python_block(found["Use instead"]))
    every_code = ",".join(["JPL", *sorted(OPT_IN_CODES)])
    result = run([*CLI, "check", "--format", "json", "--select", every_code, "."], cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    codes_by_file: dict[str, set[str]] = {}
    for finding in json.loads(result.stdout):
        codes_by_file.setdefault(Path(finding["path"]).name, set()).add(finding["code"])
    for page in PAGES:
        assert page.stem in codes_by_file.get(f"{page.stem}_example.py", set()), f"{page.stem}: example not flagged"
        cure = f"{page.stem}_use_instead.py"
        assert cure not in codes_by_file, f"{page.stem}: the cure is flagged {codes_by_file[cure]}"


def test_check_reports_drift_and_regenerating_repairs_it(tmp_path):
    docs = tmp_path / "docs"
    (docs / "rules").mkdir(parents=True)
    shutil.copy(DOCS / "index.md", docs / "index.md")
    for page in PAGES[1:]:
        shutil.copy(page, docs / "rules" / page.name)
    edited, missing = docs / "rules" / PAGES[1].name, docs / "rules" / PAGES[0].name
    edited.write_text(edited.read_text() + "A hand edit.\n")
    (docs / "rules" / "JPL999.md").write_text("# JPL999: a code that does not exist\n")

    check = run([*GENERATOR, "--check", "--docs", str(docs)])
    assert check.returncode == 1
    assert f"{missing}: missing" in check.stderr
    assert f"{edited}: out of date" in check.stderr
    assert f"{docs / 'rules' / 'JPL999.md'}: no such code" in check.stderr

    assert run([*GENERATOR, "--docs", str(docs)]).returncode == 0
    assert run([*GENERATOR, "--check", "--docs", str(docs)]).returncode == 0
    assert sorted(p.name for p in (docs / "rules").iterdir()) == [page.name for page in PAGES]


def test_index_lists_every_code_and_links_the_other_pages():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert f"[{page.stem}](rules/{page.name})" in index
    assert "(integrations.md)" in index and "(runtime-checker.md)" in index
    assert "## Quickstart" in index


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@pytest.mark.parametrize(
    "document", [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *PAGES], ids=lambda p: str(p.relative_to(ROOT))
)
def test_relative_links_resolve(document):
    for match in LINK.finditer(document.read_text(encoding="utf-8")):
        target = match["target"].split("#")[0]
        if not target or re.match(r"^[a-z]+:", target):
            continue  # an anchor in the same page, or a web address
        resolved = (document.parent / target).resolve()
        assert resolved.exists() or resolved in WRITTEN_ELSEWHERE, f"{document.name}: broken link {match['target']}"


def test_the_codes_config_validates_against_are_the_registrys():
    """`select`/`ignore` are checked against codes read from the rule modules' names (no libcst)."""
    from jax_purity_lint.rules import ALL_RULES
    from jax_purity_lint.surfaces.config import known_codes

    assert known_codes() == {rule.code for rule in ALL_RULES} | {"JPL001"}


def test_opt_in_codes_are_the_rules_that_say_so():
    from jax_purity_lint.rules import ALL_RULES

    assert {rule.code for rule in ALL_RULES if rule.OPT_IN} == OPT_IN_CODES
