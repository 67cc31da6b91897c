"""How one run departs from the eager reference run: every difference, each with a stable key.

What a run is judged by (its *primary* channels): how it ended (only the other run failing is a
difference), stdout and stderr, and its results -- scenario()'s value when the module has a
scenario, otherwise the values returned at the trace sites during the import. In scenario mode the
trace sites' calls are compared too, but only as *supporting* evidence ("which call showed it"):
the scenario is what the fixture protocol promises to be deterministic, not every intermediate.

Each call also carries the state its site's diagnoses name, read before and after it (state_watch.py):
a watched value that differs is a difference of its own ("call #2 of the jax.jit at line 7 (step):
`self.count` after the call: eager 2, jitted 1"), kept with the calls; a value that is the same in
both runs is kept beside the call's own differences, to say what the call saw.

The keys let attribution ask "which of the jitted run's differences disappear (or change) when this
one site is switched off?". A site whose calls happened inside another trace in either run (its
values were tracers there) is not compared call by call: the outer results show what it computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .compare import ATOL, RTOL, compare_text, compare_values, describe
from .experiment import RunResult

MAX_CALL_DIFFERENCES_PER_SITE = 20
MAX_STATE_DIFFERENCES_PER_SITE = 20
MAX_STATE_DIFFERENCES_PER_VALUE = 3
STATE_MOMENTS = ("before", "after")
_NO_VALUE = object()


@dataclass(frozen=True)
class Difference:
    key: tuple  # stable identity across runs, for attribution
    where: str  # which call / channel showed it, e.g. "call #2 of the jax.jit at line 12 (f)"
    eager: str
    other: str  # the run compared with eager (jitted, or a variant of it)
    detail: str = ""
    # the other run's encoded value at this place, to tell whether a variant run changed it
    other_value: Any = field(default=_NO_VALUE, compare=False, repr=False)
    # a call's difference: the watched state that was the same in both runs, as (name, "`g` was 2 ...")
    state_seen: tuple = field(default=(), compare=False, repr=False)

    def describe(self, other_name: str = "jitted") -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.where}: eager {self.eager}, {other_name} {self.other}{detail}"

    @property
    def has_value(self) -> bool:
        return self.other_value is not _NO_VALUE


@dataclass
class Divergence:
    differences: list[Difference] = field(default_factory=list)  # primary: decide agreement
    supporting: list[Difference] = field(default_factory=list)  # scenario mode: trace-site calls
    notes: list[str] = field(default_factory=list)  # what could not be compared, and why

    def __bool__(self) -> bool:
        return bool(self.differences)

    @property
    def keys(self) -> set[tuple]:
        return {difference.key for difference in self.differences}

    def by_key(self) -> dict[tuple, Difference]:
        return {difference.key: difference for difference in self.differences}


SiteNamer = Callable[[str], str]  # site key "12:4" -> "the jax.jit at line 12 (f)"


def _default_site_name(key: str) -> str:
    return f"the trace site at {key}"


def failure_key(run: RunResult) -> tuple:
    return ("failure", run.failure.kind, run.failure.type)


def compare_runs(eager: RunResult, other: RunResult, *, site_name: Optional[SiteNamer] = None, rtol: float = RTOL, atol: float = ATOL) -> Divergence:
    """Differences of ``other`` from ``eager``, which must have succeeded."""
    if not eager.ok:
        raise ValueError("the eager reference run failed: nothing to compare against")
    name = site_name or _default_site_name
    divergence = Divergence()
    if not other.ok:
        failure = other.failure
        where = {"scenario": "scenario()", "import": "importing the module"}.get(failure.phase, "the run")
        headline = f"{failure.type}: {failure.message}" if failure.type else failure.summary()
        divergence.differences.append(Difference(failure_key(other), where, "ran to completion", f"failed with {headline}"))
    elif eager.drive == "scenario":
        for difference in compare_values(eager.result, other.result, rtol=rtol, atol=atol):
            divergence.differences.append(
                Difference(
                    ("result", difference.path),
                    f"the value of scenario(){difference.path}",
                    difference.eager,
                    difference.jitted,
                    _reason(difference.reason),
                    other_value=difference.jitted_value,
                )
            )
    elif eager.drive in ("pytest", "cells") and isinstance(eager.result, dict):
        # Each test's (each cell's) outcome; the calls at the sites below say more.
        outcomes, others = eager.result, other.result if isinstance(other.result, dict) else {}
        for which in sorted(set(outcomes) & set(others), key=_natural):
            if outcomes[which] != others[which]:
                divergence.differences.append(
                    Difference(("outcome", which), f"the outcome of {which}", outcomes[which], others[which])
                )
    calls = divergence.supporting if eager.drive == "scenario" else divergence.differences
    _compare_records(eager, other, name, divergence, calls, rtol, atol)
    if other.ok:  # a failed run stopped early: its output is cut short, not different
        for stream in ("stdout", "stderr", "warnings"):
            for difference in compare_text(getattr(eager, stream), getattr(other, stream)):
                divergence.differences.append(Difference((stream, *difference.key), f"{stream} line {difference.line}", difference.eager, difference.jitted))
            if getattr(eager, f"{stream}_truncated", False) or getattr(other, f"{stream}_truncated", False):
                divergence.notes.append(f"{stream} was longer than the capture limit: only its beginning was compared")
    return divergence


def _natural(name: str) -> tuple:
    """"cell 2" before "cell 10"."""
    head, _, number = name.rpartition(" ")
    return (head, int(number)) if number.isdigit() else (name, 0)


def _reason(reason: str) -> str:
    return "" if reason == "value" else reason


def _compare_records(eager: RunResult, other: RunResult, name: SiteNamer, divergence: Divergence, into: list, rtol: float, atol: float) -> None:
    for key in sorted(set(eager.records) | set(other.records)):
        left = eager.records.get(key)
        right = other.records.get(key)
        if left is None or right is None:
            continue  # the other run stopped before reaching it, or never loaded the site
        if left["nested_calls"] or right["nested_calls"]:
            divergence.notes.append(f"{name(key)} was called inside another trace: compared through the outer results only")
            continue
        site = name(key)
        if other.ok and left["recorded_calls"] != right["recorded_calls"]:
            into.append(
                Difference(("calls", key), f"the number of calls of {site}", str(left["recorded_calls"]), str(right["recorded_calls"]), other_value=right["recorded_calls"])
            )
        found = state_found = 0
        for call_left, call_right in zip(left["calls"], right["calls"]):
            if found >= MAX_CALL_DIFFERENCES_PER_SITE and state_found >= MAX_STATE_DIFFERENCES_PER_SITE:
                break
            where = f"call #{call_left['index'] + 1} of {site}"
            if "test" in call_left:  # made by one of the user's tests (`confirm --pytest`)
                where += f" from {call_left['test']}"
            if found < MAX_CALL_DIFFERENCES_PER_SITE:
                seen = _state_seen(call_left, call_right, rtol, atol)
                differences = _call_differences(key, where, call_left, call_right, seen, rtol, atol)
                into.extend(differences)
                found += len(differences)
            if state_found < MAX_STATE_DIFFERENCES_PER_SITE:
                differences = _state_differences(key, where, call_left, call_right, rtol, atol)
                into.extend(differences)
                state_found += len(differences)


def _call_differences(key: str, where: str, left: dict, right: dict, seen: tuple, rtol: float, atol: float) -> list[Difference]:
    """How one call's outcome differs: its error, or its value (up to 5 places in it)."""
    if "error" in left or "error" in right:
        left_text, right_text = _call_outcome(left), _call_outcome(right)
        if left_text == right_text:
            return []
        return [Difference(("call", key, left["index"], "error"), where, left_text, right_text, other_value=right_text, state_seen=seen)]
    return [
        Difference(
            ("call", key, left["index"], difference.path),
            f"{where} at {difference.path}" if difference.path else where,
            difference.eager,
            difference.jitted,
            _reason(difference.reason),
            other_value=difference.jitted_value,
            state_seen=seen,
        )
        for difference in compare_values(left["value"], right["value"], rtol=rtol, atol=atol, limit=5)
    ]


def _shared_state(left: dict, right: dict) -> list[tuple[str, dict, dict]]:
    """(name, eager's before/after, the other run's) for each state both calls watched."""
    states_left, states_right = left.get("state") or {}, right.get("state") or {}
    return [(name, states_left[name], states_right[name]) for name in states_left if name in states_right]


def _state_differences(key: str, where: str, left: dict, right: dict, rtol: float, atol: float) -> list[Difference]:
    """Where the watched state differs, before or after the call: `self.count` after the call."""
    found = []
    for name, eager, other in _shared_state(left, right):
        for moment in STATE_MOMENTS:
            for difference in compare_values(eager[moment], other[moment], rtol=rtol, atol=atol, limit=MAX_STATE_DIFFERENCES_PER_VALUE):
                found.append(
                    Difference(
                        ("state", key, left["index"], name, moment, difference.path),
                        f"{where}: `{name}{difference.path}` {moment} the call",
                        difference.eager,
                        difference.jitted,
                        _reason(difference.reason),
                        other_value=difference.jitted_value,
                    )
                )
    return found


def _state_seen(left: dict, right: dict, rtol: float, atol: float) -> tuple:
    """(name, text) for each watched state that was the same in both runs around this call."""
    seen = []
    for name, eager, other in _shared_state(left, right):
        if any(compare_values(eager[moment], other[moment], rtol=rtol, atol=atol, limit=1) for moment in STATE_MOMENTS):
            continue
        before, after = eager["before"], eager["after"]
        changed = compare_values(before, after, rtol=rtol, atol=atol, limit=1)
        during = f" and {describe(after)} after it" if changed else ""
        seen.append((name, f"`{name}` was {describe(before)} before the call{during} in both runs"))
    return tuple(seen)


def _call_outcome(call: dict) -> str:
    if "error" in call:
        error = call["error"]
        return f"raised {error['type']}: {error['message']}"
    return f"returned {describe(call['value'])}"


def changed_between(first: Difference, second: Difference, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two runs' values at the same difference differ from each other (both differ from eager)."""
    if first.has_value and second.has_value:
        return bool(compare_values(first.other_value, second.other_value, rtol=rtol, atol=atol, limit=1))
    return first.other != second.other
