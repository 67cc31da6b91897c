"""The rule registry: one rule per module, each class's docstring is its documentation."""

from __future__ import annotations

from ..diagnostics import ANALYSIS_FAILURE_CODE
from .base import Finding, Rule, RuleContext
from .jpl100_mutable_global_read import MutableGlobalRead
from .jpl101_global_rebinding import GlobalRebinding
from .jpl102_global_mutation import GlobalMutation
from .jpl103_changing_closure import ChangingClosure
from .jpl200_self_mutation import SelfMutation
from .jpl201_self_container_mutation import SelfContainerMutation
from .jpl202_stale_self_read import StaleSelfRead
from .jpl300_argument_mutation import ArgumentMutation
from .jpl400_trace_time_print import TraceTimePrint
from .jpl401_host_randomness import HostRandomness
from .jpl402_outer_iterator import OuterIteratorConsumption

ALL_RULES: tuple[type[Rule], ...] = (
    MutableGlobalRead,
    GlobalRebinding,
    GlobalMutation,
    ChangingClosure,
    SelfMutation,
    SelfContainerMutation,
    StaleSelfRead,
    ArgumentMutation,
    TraceTimePrint,
    HostRandomness,
    OuterIteratorConsumption,
)

RULES_BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in ALL_RULES}


__all__ = ["ALL_RULES", "RULES_BY_CODE", "ANALYSIS_FAILURE_CODE", "Finding", "Rule", "RuleContext"]
