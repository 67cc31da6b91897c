"""The `# expect: JPL100, JPL102` markers of fixture files: what the analysis must report, exactly."""

from __future__ import annotations

import re
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
MARKER = re.compile(r"#\s*expect:\s*(?P<codes>JPL\d{3}(?:\s*,\s*JPL\d{3})*)")


def expected_findings(source: str) -> set[tuple[int, str]]:
    expected = set()
    for number, line in enumerate(source.splitlines(), start=1):
        match = MARKER.search(line)
        if match:
            expected.update((number, code.strip()) for code in match.group("codes").split(","))
    return expected


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.py"))


def is_positive(path: Path) -> bool:
    return bool(expected_findings(path.read_text(encoding="utf-8")))
