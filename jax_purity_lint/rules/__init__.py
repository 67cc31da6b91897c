"""The rule registry, discovered: one rule per module named after its code (`jpl100_mutable_global_read.py`
holds JPL100), each class's docstring is its documentation. Adding a rule is adding its module."""

from __future__ import annotations

import importlib
import inspect

from ..codes import ANALYSIS_FAILURE_CODE, rule_modules
from .base import Evidence, Finding, FixAvailability, Rule, RuleContext


def discover_rules() -> tuple[type[Rule], ...]:
    """The Rule class each `jplNNN_*` module of this package defines, in code order. A module that defines
    none, several, or one whose code is not its name's is a mistake caught here, at import."""
    rules = []
    for code, name in sorted(rule_modules().items()):
        module = importlib.import_module(f"{__name__}.{name}")
        defined = [
            value
            for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, Rule) and value.__module__ == module.__name__
        ]
        if len(defined) != 1 or defined[0].code != code:
            raise ImportError(f"{module.__name__} must define exactly one rule, {code}")
        rules.append(defined[0])
    return tuple(rules)


ALL_RULES: tuple[type[Rule], ...] = discover_rules()
RULES_BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in ALL_RULES}


__all__ = [
    "ALL_RULES",
    "RULES_BY_CODE",
    "ANALYSIS_FAILURE_CODE",
    "Evidence",
    "Finding",
    "FixAvailability",
    "Rule",
    "RuleContext",
]
