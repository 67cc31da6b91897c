"""How one run departs from the eager reference run: every difference, each with a stable key.

Channels compared: how the run ended (only the other run failing is a difference), the scenario's
value, each trace site's recorded calls, stdout and stderr. The keys let attribution ask "which of
the jitted run's differences disappear when this one site is switched off?".

A site whose calls happened inside another trace in either run (its values were tracers there) is
not compared call by call: what it computed shows up in the outer call's value instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .compare import ATOL, RTOL, compare_text, compare_values, describe
from .experiment import RunResult

MAX_CALL_DIFFERENCES_PER_SITE = 20


@dataclass(frozen=True)
class Difference:
    key: tuple  # stable identity across runs, for attribution
    where: str  # which call / channel showed it, e.g. "call #2 of the jax.jit at line 12"
    eager: str
    other: str  # the run compared with eager (jitted, or jitted with a site switched off)
    detail: str = ""

    def describe(self, other_name: str = "jitted") -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.where}: eager {self.eager}, {other_name} {self.other}{detail}"


@dataclass
class Divergence:
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be compared, and why

    def __bool__(self) -> bool:
        return bool(self.differences)

    @property
    def keys(self) -> set[tuple]:
        return {difference.key for difference in self.differences}


SiteNamer = Callable[[str], str]  # site key "12:4" -> "the jax.jit at line 12 (f)"


def _default_site_name(key: str) -> str:
    return f"the trace site at {key}"


def compare_runs(eager: RunResult, other: RunResult, *, site_name: Optional[SiteNamer] = None, rtol: float = RTOL, atol: float = ATOL) -> Divergence:
    """Differences of ``other`` from ``eager``, which must have succeeded."""
    if not eager.ok:
        raise ValueError("the eager reference run failed: nothing to compare against")
    name = site_name or _default_site_name
    divergence = Divergence()
    if not other.ok:
        failure = other.failure
        where = {"scenario": "scenario()", "import": "importing the module"}.get(failure.phase, "the run")
        divergence.differences.append(
            Difference(("failure", failure.kind, failure.type), where, "ran to completion", f"failed: {failure.summary()}")
        )
    else:
        if eager.drive == "scenario":
            for difference in compare_values(eager.result, other.result, rtol=rtol, atol=atol):
                divergence.differences.append(
                    Difference(("result", difference.path), f"the value of scenario(){difference.path}", difference.eager, difference.jitted, _reason(difference.reason))
                )
    _compare_records(eager, other, name, divergence, rtol, atol)
    if other.ok:  # a failed run stopped early: its output is cut short, not different
        for stream in ("stdout", "stderr"):
            for difference in compare_text(getattr(eager, stream), getattr(other, stream)):
                divergence.differences.append(Difference((stream, *difference.key), f"{stream} line {difference.line}", difference.eager, difference.jitted))
            if getattr(eager, f"{stream}_truncated") or getattr(other, f"{stream}_truncated"):
                divergence.notes.append(f"{stream} was longer than the capture limit: only its beginning was compared")
    return divergence


def _reason(reason: str) -> str:
    return "" if reason == "value" else reason


def _compare_records(eager: RunResult, other: RunResult, name: SiteNamer, divergence: Divergence, rtol: float, atol: float) -> None:
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
            divergence.differences.append(
                Difference(("calls", key), f"the number of calls of {site}", str(left["recorded_calls"]), str(right["recorded_calls"]))
            )
        found = 0
        for call_left, call_right in zip(left["calls"], right["calls"]):
            if found >= MAX_CALL_DIFFERENCES_PER_SITE:
                break
            where = f"call #{call_left['index'] + 1} of {site}"
            if "error" in call_left or "error" in call_right:
                left_text = _call_outcome(call_left)
                right_text = _call_outcome(call_right)
                if left_text != right_text:
                    divergence.differences.append(Difference(("call", key, call_left["index"], "error"), where, left_text, right_text))
                    found += 1
                continue
            for difference in compare_values(call_left["value"], call_right["value"], rtol=rtol, atol=atol, limit=5):
                path = f" at {difference.path}" if difference.path else ""
                divergence.differences.append(
                    Difference(("call", key, call_left["index"], difference.path), f"{where}{path}", difference.eager, difference.jitted, _reason(difference.reason))
                )
                found += 1


def _call_outcome(call: dict) -> str:
    if "error" in call:
        error = call["error"]
        return f"raised {error['type']}: {error['message']}"
    return f"returned {describe(call['value'])}"
