"""The one result type every surface (flake8, CLI, runtime checker, rewrites) consumes."""

from __future__ import annotations

import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

# Reported by the engine itself, not by a rule: the file could not be analysed.
ANALYSIS_FAILURE_CODE = "JPL001"
# Codes reported only when selected by name (`--select JPL202`, flake8 `--extend-select JPL202`):
# on real code they were wrong too often to be on by default. Each such rule says OPT_IN = True; a
# test holds this set to the registry (it lives here so that surfaces need not import the rules).
OPT_IN_CODES = frozenset({"JPL202", "JPL300"})


# The one naming rule of the registry: the module `rules/jpl100_mutable_global_read.py` holds JPL100.
# rules/__init__.py imports every such module and checks that it defines exactly that rule, so the
# codes can be listed from the module names alone, without importing the rules (and libcst) on a
# run served from the cache.
RULE_MODULE = re.compile(r"jpl(\d{3})_\w+")
RULES_FOLDER = Path(__file__).resolve().parent / "rules"


def rule_modules() -> dict[str, str]:
    """code -> module name, for every rule module of the registry."""
    found = (RULE_MODULE.fullmatch(info.name) for info in pkgutil.iter_modules([str(RULES_FOLDER)]))
    return {f"JPL{match.group(1)}": match.group(0) for match in found if match}


def opted_in(code: str, selected: Iterable[str]) -> bool:
    """A default code always; an opt-in code when a selected prefix is more specific than `JPL`."""
    return code not in OPT_IN_CODES or any(code.startswith(p) and len(p) > len("JPL") for p in selected)


@dataclass(frozen=True)
class TraceSite:
    """Where a function is handed to a trace-caching transformation.

    ``line``/``col`` locate the decorator expression or the call (1-based line, 0-based column).
    ``transform`` is the qualified name of the transformation, e.g. ``jax.jit``.
    """

    line: int
    col: int
    transform: str
    function: str  # name of the function whose trace is cached


@dataclass(frozen=True)
class Diagnostic:
    """One finding: ``code`` at ``line``/``col`` (1-based line, 0-based column, as flake8 expects)."""

    code: str
    line: int
    col: int
    message: str  # without the code prefix
    function: str  # the traced function in which the finding sits
    state: str  # the Python state touched, e.g. ``g``, ``self.n``, ``print``
    site: TraceSite | None  # the trace-caching site that makes this code run once (None for JPL001)
    path: tuple[str, ...] = field(default=())  # call path from the site's function to ``function``
    cell: Optional[int] = None  # for notebooks: 1-based code cell; ``line`` is then the line in that cell
    # Other places the finding involves, in other files: (absolute path, 1-based line, what happens there),
    # e.g. where another module changes the state read here.
    related: tuple[tuple[str, int, str], ...] = field(default=())

    def as_flake8(self) -> str:
        return f"{self.code} {self.message}"

    def sort_key(self) -> tuple[int, int, str]:
        return (self.line, self.col, self.code)
