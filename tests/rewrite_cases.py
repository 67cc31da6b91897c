"""Test helper: every fixture's rewrites, computed once per test session (planning is not free)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jax_purity_lint.diagnostics import Diagnostic
from jax_purity_lint.engine import analyze_source
from jax_purity_lint.rewrites import ModuleFix, fix_source
from markers import fixture_files


@dataclass(frozen=True)
class FixtureFix:
    path: Path
    source: str
    diagnostics: tuple[Diagnostic, ...]
    safe: ModuleFix  # what `fix` writes
    everything: ModuleFix  # what `fix --diff` shows

    @property
    def fully_safe(self) -> bool:
        """Every diagnosis has a safe rewrite, and the rewritten module has no diagnosis left."""
        return bool(self.diagnostics) and self.safe.changed and not analyze_source(self.safe.rewritten, str(self.path))

    @property
    def code(self) -> str:
        """The code the fixture is about, from its name (`jpl100_...`, `seed_...`)."""
        prefix = self.path.name.split("_")[0]
        return prefix.upper() if prefix.startswith("jpl") else prefix


@lru_cache(maxsize=None)
def fixture_fix(path: Path) -> FixtureFix:
    source = path.read_text(encoding="utf-8")
    diagnostics = tuple(analyze_source(source, str(path)))
    if not diagnostics:
        empty = fix_source(source, str(path))
        return FixtureFix(path, source, diagnostics, empty, empty)
    safe = fix_source(source, str(path))
    everything = fix_source(source, str(path), unsafe=True)
    return FixtureFix(path, source, diagnostics, safe, everything)


def diagnosed_fixtures() -> list[Path]:
    return [path for path in fixture_files() if analyze_source(path.read_text(encoding="utf-8"), str(path))]
