"""The state a diagnosis names, read around each recorded call (runtime/state_watch.py, site_runtime.py),
compared between the runs (divergence.py) and shown as evidence (verdicts.py)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from jax_purity_lint.diagnostics import Diagnostic, TraceSite
from jax_purity_lint.runtime.confirm import ConfirmOptions, confirm_file
from jax_purity_lint.runtime.divergence import compare_runs
from jax_purity_lint.runtime.experiment import RunResult
from jax_purity_lint.runtime.site_runtime import SiteRecorder
from jax_purity_lint.runtime.state_watch import watches_for
from jax_purity_lint.runtime.verdicts import SWITCHED_OFF, ModuleRuns, SiteOutcome, Verdict, decide_verdict

jax = pytest.importorskip("jax")


def run_instrumented(source: str, watches: dict) -> tuple[dict, SiteRecorder]:
    """Run `source` (which calls `__jpl_runtime__.site` itself) in a fresh module namespace."""
    recorder = SiteRecorder(watches=watches)
    namespace = {"__name__": "fake_module", "__jpl_runtime__": recorder}
    exec(compile(textwrap.dedent(source), "fake_module.py", "exec"), namespace)
    return namespace, recorder


def states(recorder: SiteRecorder, key: str) -> list:
    return [call.get("state") for call in recorder.export()[key]["calls"]]


# -- recording -----------------------------------------------------------------------------------------


def test_a_global_is_read_before_and_after_each_call_from_the_module_holding_the_site():
    namespace, recorder = run_instrumented(
        """
        import jax
        total = 0
        scale = 1.0

        def add(x):
            global total
            total += 1  # runs while tracing only, under jit
            return x * scale

        fast = __jpl_runtime__.site(9, 7, "jax.jit", jax.jit)(add)
        fast(1.0)
        scale = 3.0
        fast(1.0)
        """,
        {"9:7": [{"name": "total", "scope": "global"}, {"name": "scale", "scope": "global"}]},
    )
    assert states(recorder, "9:7") == [
        {"total": {"before": 0, "after": 1}, "scale": {"before": 1.0, "after": 1.0}},
        {"total": {"before": 1, "after": 1}, "scale": {"before": 3.0, "after": 3.0}},
    ]
    assert namespace["total"] == 1


def test_a_self_attribute_is_read_on_the_instance_of_a_method_and_of_a_bound_method():
    _, recorder = run_instrumented(
        """
        import functools
        import jax

        class Counter:
            def __init__(self):
                self.count = 0

            @__jpl_runtime__.site(8, 5, "jax.jit", functools.partial(jax.jit, static_argnums=0))
            def step(self, x):
                self.count += 1
                return x * 2

            def tick(self):
                self.count += 10
                return self.count

        counter = Counter()
        counter.step(1.0)
        counter.step(2.0)
        other = Counter()
        fast_tick = __jpl_runtime__.site(19, 12, "jax.jit", jax.jit)(other.tick)
        fast_tick()
        fast_tick()
        """,
        {"8:5": [{"name": "self.count", "scope": "self"}], "19:12": [{"name": "self.count", "scope": "self"}]},
    )
    assert states(recorder, "8:5") == [
        {"self.count": {"before": 0, "after": 1}},
        {"self.count": {"before": 1, "after": 1}},  # traced once: the second call does not count
    ]
    assert states(recorder, "19:12") == [
        {"self.count": {"before": 0, "after": 10}},
        {"self.count": {"before": 10, "after": 10}},
    ]


def test_a_closure_cell_and_an_argument_are_read_too():
    _, recorder = run_instrumented(
        """
        import jax

        def make():
            steps = 0

            def step(x):
                nonlocal steps
                steps += 1
                return x
            return __jpl_runtime__.site(10, 19, "jax.jit", jax.jit)(step)

        @__jpl_runtime__.site(13, 1, "jax.jit", jax.jit)
        def normalize(batch):
            batch["count"] = batch["count"] + 1
            return batch["x"]

        step = make()
        step(1.0)
        step(2.0)
        normalize({"x": 4.0, "count": 0})
        """,
        {"10:19": [{"name": "steps", "scope": "closure"}], "13:1": [{"name": "batch", "scope": "argument"}]},
    )
    assert states(recorder, "10:19") == [{"steps": {"before": 0, "after": 1}}, {"steps": {"before": 1, "after": 1}}]
    # jitted, the function changes its own copy of the dict: the caller's keeps count 0
    unchanged = {"$dict": [["x", 4.0], ["count", 0]]}
    assert states(recorder, "13:1") == [{"batch": {"before": unchanged, "after": unchanged}}]


def test_the_state_of_an_immediate_call_is_read_around_the_call_itself():
    _, recorder = run_instrumented(
        """
        import jax
        import jax.numpy as jnp
        bodies_run = 0

        def body(carry, x):
            global bodies_run
            bodies_run += 1  # once per trace of the body, not once per element
            return carry + x, carry

        __jpl_runtime__.site(11, 0, "jax.lax.scan", jax.lax.scan)(body, 0.0, jnp.arange(3.0))
        """,
        {"11:0": [{"name": "bodies_run", "scope": "global"}]},
    )
    assert states(recorder, "11:0") == [{"bodies_run": {"before": 0, "after": 1}}]


def test_unreadable_and_huge_state_is_recorded_as_such_and_the_call_still_returns():
    namespace, recorder = run_instrumented(
        """
        import jax

        class Model:
            property_runs = 0

            def __init__(self):
                self.weights = list(range(100_000))

            @property
            def total(self):
                Model.property_runs += 1
                raise RuntimeError("a property must not run")

            def __getattr__(self, name):
                raise RuntimeError("__getattr__ must not run")

        model = Model()

        @__jpl_runtime__.site(19, 1, "jax.jit", jax.jit)
        def predict(x):
            return x + 1.0

        result = predict(1.0)
        """,
        {"19:1": [
            {"name": "model.total", "scope": "global"},
            {"name": "model.missing", "scope": "global"},
            {"name": "not_yet_defined", "scope": "global"},
            {"name": "model.weights", "scope": "global"},
        ]},
    )
    assert float(namespace["result"]) == 2.0
    assert namespace["Model"].property_runs == 0
    (state,) = states(recorder, "19:1")
    assert state["model.total"]["before"] == {"$unread": "total is a property: not run"}
    assert state["model.missing"]["after"] == {"$unread": "no attribute missing"}
    assert state["not_yet_defined"]["before"] == {"$unread": "not defined"}
    weights = state["model.weights"]["after"]
    assert weights[:3] == [0, 1, 2] and weights[-1] == {"$truncated": f"{100_000 - len(weights) + 1} more values"}
    assert len(json.dumps(state)) < 20_000  # 100,000 numbers kept to a few hundred


def test_only_names_and_attribute_chains_of_state_rules_are_watched():
    site = TraceSite(5, 1, "jax.jit", "step")
    diagnoses = [
        Diagnostic("JPL100", 7, 4, "", "step", "cfg.lr", site),
        Diagnostic("JPL100", 8, 4, "", "step", "cfg.lr", site),  # the same state: watched once
        Diagnostic("JPL100", 9, 4, "", "step", 'CONFIG["lr"]', site),
        Diagnostic("JPL200", 10, 4, "", "step", "self.count", site),
        Diagnostic("JPL400", 11, 4, "", "step", "print", site),
        Diagnostic("JPL401", 12, 4, "", "step", "time.time", site),
        Diagnostic("JPL103", 13, 4, "", "step", "steps", TraceSite(20, 5, "jax.jit", "inner")),
    ]
    assert watches_for(diagnoses) == {
        "5:1": [{"name": "cfg.lr", "scope": "global"}, {"name": "self.count", "scope": "self"}],
        "20:5": [{"name": "steps", "scope": "closure"}],
    }


# -- comparing and choosing the evidence -----------------------------------------------------------------

SITE = TraceSite(line=5, col=1, transform="jax.jit", function="step")
COUNTING = Diagnostic("JPL200", 7, 8, "assigns `self.count`", "step", "self.count", SITE)
READING = Diagnostic("JPL100", 8, 15, "reads mutable global `g`", "step", "g", SITE)


def counted_run(values: list, counts: list, g: list, mode: str = "jit") -> RunResult:
    calls = [
        {"index": i, "value": value, "state": {"self.count": {"before": before, "after": after}, "g": {"before": seen, "after": seen}}}
        for i, (value, (before, after), seen) in enumerate(zip(values, counts, g))
    ]
    log = {"transform": "jax.jit", "calls": calls, "recorded_calls": len(calls), "nested_calls": 0, "dropped_calls": 0}
    return RunResult("run", mode, "import", None, records={"5:1": log})


EAGER = counted_run([2.0, 6.0], [(0, 1), (1, 2)], [1.0, 3.0], mode="eager")
JITTED = counted_run([2.0, 2.0], [(0, 1), (1, 1)], [1.0, 3.0])


def runs_and_switched_off() -> tuple[ModuleRuns, SiteOutcome]:
    removed = counted_run([2.0, 6.0], [(0, 1), (1, 2)], [1.0, 3.0])
    runs = ModuleRuns("import", EAGER, JITTED, compare_runs(EAGER, JITTED))
    return runs, SiteOutcome("5:1", experiment=SWITCHED_OFF, run=removed, divergence=compare_runs(EAGER, removed))


def test_a_state_difference_is_a_difference_of_its_own_and_the_evidence_of_a_state_rule():
    runs, site = runs_and_switched_off()
    assert [d.describe() for d in runs.jit_divergence.differences] == [
        "call #2 of the trace site at 5:1: eager 6.0, jitted 2.0",
        "call #2 of the trace site at 5:1: `self.count` after the call: eager 2, jitted 1",
    ]
    verdict = decide_verdict(COUNTING, runs, site)
    assert verdict.verdict is Verdict.CONFIRMED
    assert verdict.evidence.describe() == "call #2 of the trace site at 5:1: `self.count` after the call: eager 2, jitted 1"


def test_the_state_a_call_saw_in_both_runs_is_said_beside_its_value():
    runs, site = runs_and_switched_off()
    verdict = decide_verdict(READING, runs, site)
    assert verdict.evidence.describe() == (
        "call #2 of the trace site at 5:1: eager 6.0, jitted 2.0 (`g` was 3.0 before the call in both runs)"
    )


def test_a_state_difference_alone_makes_the_runs_diverge():
    same_values = counted_run([2.0, 2.0], [(0, 1), (1, 2)], [1.0, 1.0], mode="eager")
    stale_count = counted_run([2.0, 2.0], [(0, 1), (1, 1)], [1.0, 1.0])
    (difference,) = compare_runs(same_values, stale_count).differences
    assert difference.key == ("state", "5:1", 1, "self.count", "after", "")


# -- end to end ----------------------------------------------------------------------------------------

STATEFUL = textwrap.dedent(
    """\
    import functools

    import jax

    scale = 1.0


    @jax.jit
    def scaled(x):
        return x * scale


    class Counter:
        def __init__(self):
            self.count = 0

        @functools.partial(jax.jit, static_argnums=0)
        def step(self, x):
            self.count += 1
            return x * 2


    first = scaled(1.0)
    scale = 3.0
    second = scaled(1.0)
    counter = Counter()
    counter.step(1.0)
    counter.step(2.0)
    """
)


@pytest.mark.runtime
def test_confirm_names_the_state_in_its_evidence(tmp_path: Path) -> None:
    pytest.importorskip("jax_purity_lint.engine", reason="the static analysis is not importable")
    path = tmp_path / "stateful.py"
    path.write_text(STATEFUL, encoding="utf-8")
    report = confirm_file(path, ConfirmOptions())
    verdicts = {verdict.diagnosis.state: verdict for verdict in report.verdicts}
    assert {state: verdict.verdict for state, verdict in verdicts.items()} == {
        "scale": Verdict.CONFIRMED, "self.count": Verdict.CONFIRMED
    }, [(v.diagnosis.code, v.verdict, v.reason) for v in report.verdicts]
    # `step` returns the same values in both runs: only the state shows the stale trace
    assert verdicts["self.count"].evidence.describe() == (
        "call #2 of the jax.jit at line 17 (step): `self.count` after the call: eager 2, jitted 1"
    )
    assert verdicts["scale"].evidence.describe() == (
        "call #2 of the jax.jit at line 8 (scaled): eager 3.0, jitted 1.0 (float32 array) "
        "(`scale` was 3.0 before the call in both runs)"
    )
