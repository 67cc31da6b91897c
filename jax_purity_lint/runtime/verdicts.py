"""One verdict per diagnosis, decided from the runs of its module (decide_verdict is pure: every input
is a finished run or a comparison, so it is unit-testable without running anything).

- confirmed: the jitted run departs from the eager one, reproducibly, and switching off this
  diagnosis's trace site makes (some of) that departure go away;
- not reproduced: the runs agree, or the departure does not go away with this site switched off;
- inconclusive: the eager reference itself fails or is not reproducible, the jitted run fails for a
  reason unrelated to Python state, or the run with the site switched off fails;
- skipped: nothing drives this site (no scenario() and the import never calls it), the module cannot
  be imported, or the site cannot be switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from ..diagnostics import Diagnostic
from ..rules import RULES_BY_CODE, Evidence as EvidenceChannel
from .divergence import Difference, Divergence, changed_between, failure_key
from .experiment import RunResult

# Errors that mean "this code cannot be traced at all", whatever the Python state: no evidence of
# an impurity.
UNTRACEABLE_ERRORS = (
    "ConcretizationTypeError",
    "TracerBoolConversionError",
    "TracerIntegerConversionError",
    "TracerArrayConversionError",
    "NonConcreteBooleanIndexError",
)


class Verdict(str, Enum):
    CONFIRMED = "confirmed"
    NOT_REPRODUCED = "not reproduced"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"


VERDICT_ORDER = (Verdict.CONFIRMED, Verdict.NOT_REPRODUCED, Verdict.INCONCLUSIVE, Verdict.SKIPPED)


@dataclass(frozen=True)
class Evidence:
    where: str  # which call (or channel) showed the difference
    eager: str
    jitted: str
    detail: str = ""

    def describe(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.where}: eager {self.eager}, jitted {self.jitted}{detail}"

    def as_dict(self) -> dict:
        return {"where": self.where, "eager": self.eager, "jitted": self.jitted, "detail": self.detail}


@dataclass
class DiagnosisVerdict:
    diagnosis: Diagnostic
    verdict: Verdict
    reason: str
    evidence: Optional[Evidence] = None
    attribution: str = ""  # what switching the site off showed


SWITCHED_OFF = "switched off"  # jitted run with this one site switched off
ALONE_ON = "alone on"  # eager run with only this site jitted (when it cannot be switched off alone)


@dataclass
class SiteOutcome:
    """What was learnt about one trace site of a module."""

    key: str  # "line:col"
    problem: Optional[str] = None  # why the site cannot be driven or switched off (-> skipped)
    experiment: str = ""  # SWITCHED_OFF or ALONE_ON
    run: Optional[RunResult] = None
    divergence: Optional[Divergence] = None  # of ``run`` from the eager run


@dataclass
class ModuleRuns:
    """The runs of one module that every diagnosis in it shares."""

    drive: str  # scenario | import
    eager: RunResult
    jit: Optional[RunResult] = None
    jit_divergence: Optional[Divergence] = None
    eager_again: Optional[RunResult] = None
    eager_again_divergence: Optional[Divergence] = None


def untraceable_failure(runs: ModuleRuns) -> Optional[str]:
    """The jitted run failed only because the code cannot be traced (a concretization error raised
    while a trace site was tracing), not because of Python state. The same error raised outside any
    traced call -- `float()` of a tracer leaked into a global -- is state, and does not count."""
    jit = runs.jit
    if jit is None or jit.ok or jit.failure.kind != "exception":
        return None
    error_type = jit.failure.type
    if error_type.rsplit(".", 1)[-1] not in UNTRACEABLE_ERRORS:
        return None
    raised_in_a_traced_call = any(
        call.get("error", {}).get("type") == error_type for log in jit.records.values() for call in log["calls"]
    )
    return jit.failure.summary() if raised_in_a_traced_call else None


def _eager_failure_verdict(diagnosis: Diagnostic, eager: RunResult) -> DiagnosisVerdict:
    failure = eager.failure
    if failure.kind == "import":
        return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, f"the module cannot be imported: {failure.summary()}")
    if failure.kind == "setup":
        return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, f"the checker could not set the run up: {failure.summary()}")
    return DiagnosisVerdict(diagnosis, Verdict.INCONCLUSIVE, f"the eager run itself fails: {failure.summary()}")


# The channels of differences, in the order each kind of rule prefers them as evidence. "own state" is
# the state the diagnosis names, at its own site; "state", what other diagnoses name.
OUTPUT_ORDER = ("stdout", "stderr", "warnings", "call", "result", "failure", "calls", "own state", "state")
STATE_ORDER = ("own state", "failure", "call", "result", "state", "calls", "stdout", "stderr", "warnings")


def _prefers_output(code: str) -> bool:
    rule = RULES_BY_CODE.get(code)
    return rule is not None and rule.EVIDENCE is EvidenceChannel.OUTPUT  # printed output or warnings


def _site_key(diagnosis: Diagnostic) -> Optional[str]:
    return None if diagnosis.site is None else f"{diagnosis.site.line}:{diagnosis.site.col}"


def _is_own_state(diagnosis: Diagnostic, difference: Difference) -> bool:
    """A difference in the state this diagnosis names, around a call of its own site."""
    key = difference.key
    return key[0] == "state" and key[1] == _site_key(diagnosis) and key[3] == diagnosis.state


def _evidence_priority(code: str, difference: Difference, own_state: bool = False) -> int:
    """``own_state``: the difference is in the state the diagnosis names, at its own site."""
    channel = difference.key[0]
    if channel == "state":
        channel = "own state" if own_state else "state"
    order = OUTPUT_ORDER if _prefers_output(code) else STATE_ORDER
    return order.index(channel) if channel in order else len(order)


def _what_the_call_saw(diagnosis: Diagnostic, difference: Difference) -> str:
    """"`g` was 2 before the call in both runs": the diagnosis's state, when it did not differ."""
    return dict(difference.state_seen).get(diagnosis.state, "")


def _at_the_site(diagnosis: Diagnostic, divergence: Divergence) -> str:
    """Scenario mode: what this site's calls showed -- for a state rule the first difference in its
    state, else the first call of this site that differed."""
    recorded = divergence.differences + divergence.supporting
    if not _prefers_output(diagnosis.code):
        state = next((d for d in recorded if _is_own_state(diagnosis, d)), None)
        if state is not None:
            return f"first differing state: {state.describe()}"
    at_site = next((d for d in recorded if d.key[0] == "call" and d.key[1] == _site_key(diagnosis)), None)
    return "" if at_site is None else f"first differing call: {at_site.describe()}"


def choose_evidence(diagnosis: Diagnostic, divergence: Divergence, among: Optional[set] = None) -> Optional[Evidence]:
    candidates = [d for d in divergence.differences if among is None or d.key in among]
    if not candidates:
        return None
    # stable: the first of its kind
    best = min(candidates, key=lambda d: _evidence_priority(diagnosis.code, d, _is_own_state(diagnosis, d)))
    detail = best.detail
    calls = [d for d in divergence.differences + divergence.supporting if d.key[0] == "call"]
    if best.key[0] == "failure":  # say which call raised, when a site saw it
        raising = next((d for d in calls if d.key[-1] == "error"), None)
        if raising is not None:
            detail = f"{raising.where} {raising.other}"
    elif best.key[0] == "call":
        detail = "; ".join(filter(None, [detail, _what_the_call_saw(diagnosis, best)]))
    elif best.key[0] != "state":  # scenario mode: name what this site's calls showed
        detail = "; ".join(filter(None, [detail, _at_the_site(diagnosis, divergence)]))
    return Evidence(best.where, best.eager, best.other, detail)


def decide_verdict(diagnosis: Diagnostic, runs: Optional[ModuleRuns], site: Optional[SiteOutcome]) -> DiagnosisVerdict:
    if diagnosis.site is None:
        return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, "the diagnosis names no trace site to switch off")
    if site is not None and site.problem:
        return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, site.problem)
    if runs is None:
        return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, "the module was not run")
    if not runs.eager.ok:
        return _eager_failure_verdict(diagnosis, runs.eager)
    key = f"{diagnosis.site.line}:{diagnosis.site.col}"
    if runs.eager.calls_at(key) == 0:
        if runs.drive == "scenario":
            return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, "scenario() never calls this trace site")
        if runs.drive == "pytest":
            return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, "none of the tests given to --pytest calls this trace site")
        if runs.drive == "cells":
            return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, "running the notebook's code cells in order never calls this trace site")
        if runs.drive == "main":
            return DiagnosisVerdict(
                diagnosis, Verdict.SKIPPED, "running the script as `__main__` never calls this trace site (see --args)"
            )
        return DiagnosisVerdict(
            diagnosis, Verdict.SKIPPED, "importing the module never calls this trace site, and it defines no scenario() to drive it"
        )
    divergence = runs.jit_divergence
    if divergence is None:
        return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, "the jitted run was not made")
    if not divergence:
        what = "scenario()'s value" if runs.drive == "scenario" else "the values returned at the trace sites"
        return DiagnosisVerdict(
            diagnosis,
            Verdict.NOT_REPRODUCED,
            f"eager and jitted runs agree ({what}, the calls of this site, printed output); "
            "the diagnosis may still be a latent bug that these inputs do not trigger",
        )
    untraceable = untraceable_failure(runs)
    if untraceable:
        return DiagnosisVerdict(
            diagnosis, Verdict.INCONCLUSIVE, f"the jitted run fails because the code cannot be traced at all ({untraceable}), whatever the Python state"
        )
    if runs.eager_again is not None:
        if not runs.eager_again.ok:
            return DiagnosisVerdict(diagnosis, Verdict.INCONCLUSIVE, f"a second eager run fails: {runs.eager_again.failure.summary()}")
        if runs.eager_again_divergence:
            first = runs.eager_again_divergence.differences[0]
            return DiagnosisVerdict(
                diagnosis, Verdict.INCONCLUSIVE, f"the eager run is not reproducible: two eager runs differ ({first.describe('second eager')})"
            )
    if site is None or site.run is None or site.divergence is None:
        return DiagnosisVerdict(diagnosis, Verdict.SKIPPED, "this trace site was not switched off, so the divergence cannot be attributed to it")
    if site.experiment == ALONE_ON:
        return _decide_alone_on(diagnosis, divergence, site)
    return _decide_switched_off(diagnosis, divergence, site)


def _decide_switched_off(diagnosis: Diagnostic, divergence: Divergence, site: SiteOutcome) -> DiagnosisVerdict:
    removed = site.run
    if not removed.ok:
        if failure_key(removed) not in divergence.keys:  # stopped early: no values to compare
            return DiagnosisVerdict(
                diagnosis, Verdict.INCONCLUSIVE, f"the jitted run with this site switched off fails: {removed.failure.summary()}"
            )
        fixed: set = set()  # the same failure as the jitted run: this site is not its cause
        changed: list[tuple[Difference, Difference]] = []
    else:
        fixed = divergence.keys - site.divergence.keys
        remaining = site.divergence.by_key()
        changed = [
            (difference, remaining[difference.key])
            for difference in divergence.differences
            if difference.key in remaining and changed_between(difference, remaining[difference.key])
        ]
    if fixed:
        if site.divergence:
            attribution = (
                f"switching this site off removes {len(fixed)} of the jitted run's {len(divergence.keys)} differences from eager; "
                "the others come from elsewhere"
            )
        else:
            attribution = "with this site switched off the jitted run matches the eager run"
        return DiagnosisVerdict(
            diagnosis, Verdict.CONFIRMED, "the jitted run departs from the eager run",
            evidence=choose_evidence(diagnosis, divergence, among=fixed), attribution=attribution,
        )
    if changed:
        jitted, switched_off = changed[0]
        attribution = (
            f"switching this site off changes the departure without removing it: {jitted.where}: eager {jitted.eager}, "
            f"jitted {jitted.other}, with this site off {switched_off.other}; the rest comes from elsewhere"
        )
        return DiagnosisVerdict(
            diagnosis, Verdict.CONFIRMED, "the jitted run departs from the eager run",
            evidence=choose_evidence(diagnosis, divergence, among={jitted.key for jitted, _ in changed}), attribution=attribution,
        )
    return DiagnosisVerdict(
        diagnosis,
        Verdict.NOT_REPRODUCED,
        "divergence not attributable to this site: with it switched off the jitted run departs from eager just the same "
        f"({divergence.differences[0].describe()})",
        evidence=choose_evidence(diagnosis, divergence),
    )


def _decide_alone_on(diagnosis: Diagnostic, divergence: Divergence, site: SiteOutcome) -> DiagnosisVerdict:
    """The site only ever ran inside another trace, so it cannot be switched off on its own: the dual
    experiment -- everything eager but this site -- must reproduce part of the jitted departure."""
    alone = site.run
    if not alone.ok and failure_key(alone) not in divergence.keys:
        return DiagnosisVerdict(
            diagnosis, Verdict.INCONCLUSIVE, f"the eager run with only this site jitted fails: {alone.failure.summary()}"
        )
    reproduced = divergence.keys & site.divergence.keys
    if not reproduced:
        return DiagnosisVerdict(
            diagnosis,
            Verdict.NOT_REPRODUCED,
            "divergence not attributable to this site: it runs inside another traced function, and an eager run with only "
            f"this site jitted does not depart from eager the way the jitted run does ({divergence.differences[0].describe()})",
            evidence=choose_evidence(diagnosis, divergence),
        )
    attribution = (
        "this site runs inside another traced function, so it cannot be switched off alone; instead an eager run with only "
        f"this site jitted reproduces {len(reproduced)} of the jitted run's {len(divergence.keys)} differences from eager"
    )
    return DiagnosisVerdict(
        diagnosis, Verdict.CONFIRMED, "the jitted run departs from the eager run",
        evidence=choose_evidence(diagnosis, divergence, among=reproduced), attribution=attribution,
    )
