"""The code registry: which JPL codes exist and which are opt-in, known without importing a rule.

Kept apart from the result types (diagnostics.py) so that the configuration, which validates the codes
a user selects, costs no more than a regex and a folder listing to import."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

# Reported by the engine itself, not by a rule: the file could not be analysed.
ANALYSIS_FAILURE_CODE = "JPL001"
# Codes reported only when selected by name (`--select JPL202`, flake8 `--extend-select JPL202`):
# on real code they were wrong too often to be on by default. Each such rule says OPT_IN = True; a
# test holds this set to the registry (it lives here so that surfaces need not import the rules).
OPT_IN_CODES = frozenset({"JPL104", "JPL202", "JPL300"})


# The one naming rule of the registry: the module `rules/jpl100_mutable_global_read.py` holds JPL100.
# rules/__init__.py imports every such module and checks that it defines exactly that rule, so the
# codes can be listed from the module names alone, without importing the rules (and libcst) on a
# run served from the cache.
RULE_MODULE = re.compile(r"jpl(\d{3})_\w+")
RULES_FOLDER = Path(__file__).resolve().parent / "rules"


def rule_modules() -> dict[str, str]:
    """code -> module name, for every rule module of the registry."""
    import pkgutil  # here: only a configuration that selects or ignores codes lists them

    found = (RULE_MODULE.fullmatch(info.name) for info in pkgutil.iter_modules([str(RULES_FOLDER)]))
    return {f"JPL{match.group(1)}": match.group(0) for match in found if match}


def opted_in(code: str, selected: Iterable[str]) -> bool:
    """A default code always; an opt-in code when a selected prefix is more specific than `JPL`."""
    return code not in OPT_IN_CODES or any(code.startswith(p) and len(p) > len("JPL") for p in selected)
