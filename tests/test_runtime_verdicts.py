"""verdicts.decide_verdict on hand-built runs: every branch of the method, without running anything."""

from jax_purity_lint.diagnostics import Diagnostic, TraceSite
from jax_purity_lint.runtime.divergence import compare_runs
from jax_purity_lint.runtime.experiment import RunFailure, RunResult
from jax_purity_lint.runtime.verdicts import ALONE_ON, SWITCHED_OFF, ModuleRuns, SiteOutcome, Verdict, decide_verdict

SITE = TraceSite(line=5, col=1, transform="jax.jit", function="step")
DIAGNOSIS = Diagnostic("JPL100", 7, 15, "reads mutable global `g`", "step", "g", SITE)
PRINTING = Diagnostic("JPL400", 8, 4, "prints while tracing", "step", "print", SITE)


def log(*values, nested=0):
    return {"transform": "jax.jit", "calls": [{"index": i, "value": v} for i, v in enumerate(values)],
            "recorded_calls": len(values), "nested_calls": nested, "dropped_calls": 0}


def run(result, stdout="", failure=None, mode="jit", records=None, label="run"):
    return RunResult(label, mode, "scenario", failure, result=result, stdout=stdout,
                     records={"5:1": log(1.0, 2.0)} if records is None else records)


EAGER = run([1.0, 2.0], stdout="tracing\ntracing\n", mode="eager")


def module_runs(jitted, eager_again=None):
    runs = ModuleRuns("scenario", EAGER, jitted, compare_runs(EAGER, jitted))
    if eager_again is not None:
        runs.eager_again = eager_again
        runs.eager_again_divergence = compare_runs(EAGER, eager_again)
    return runs


def switched_off(result, stdout="tracing\ntracing\n", failure=None):
    removed = run(result, stdout, failure)
    return SiteOutcome("5:1", experiment=SWITCHED_OFF, run=removed, divergence=compare_runs(EAGER, removed))


STALE = run([1.0, 1.0], stdout="tracing\n", records={"5:1": log(1.0, 1.0)})


def test_confirmed_when_switching_the_site_off_restores_eager():
    verdict = decide_verdict(DIAGNOSIS, module_runs(STALE), switched_off([1.0, 2.0]))
    assert verdict.verdict is Verdict.CONFIRMED
    assert verdict.evidence.describe().startswith("the value of scenario()[1]: eager 2.0, jitted 1.0")
    assert "call #2 of" in verdict.evidence.detail  # which call showed it
    assert verdict.attribution == "with this site switched off the jitted run matches the eager run"


def test_print_diagnoses_show_the_output_difference():
    verdict = decide_verdict(PRINTING, module_runs(STALE), switched_off([1.0, 2.0]))
    assert verdict.verdict is Verdict.CONFIRMED
    assert verdict.evidence.where == "stdout line 2"


def test_not_attributable_when_the_divergence_stays():
    verdict = decide_verdict(DIAGNOSIS, module_runs(STALE), switched_off([1.0, 1.0], "tracing\n"))
    assert verdict.verdict is Verdict.NOT_REPRODUCED
    assert verdict.reason.startswith("divergence not attributable to this site")


def test_confirmed_when_switching_off_changes_the_departure():
    verdict = decide_verdict(DIAGNOSIS, module_runs(STALE), switched_off([1.0, 1.5], "tracing\n"))
    assert verdict.verdict is Verdict.CONFIRMED
    assert "with this site off 1.5" in verdict.attribution


def test_not_reproduced_when_runs_agree():
    verdict = decide_verdict(DIAGNOSIS, module_runs(run([1.0, 2.0], stdout="tracing\ntracing\n")), SiteOutcome("5:1"))
    assert verdict.verdict is Verdict.NOT_REPRODUCED
    assert "latent bug" in verdict.reason


def test_jit_only_error_is_evidence():
    leaked = run(None, failure=RunFailure("exception", "scenario", "jax.errors.UnexpectedTracerError", "Encountered an unexpected tracer."))
    verdict = decide_verdict(DIAGNOSIS, module_runs(leaked), switched_off([1.0, 2.0]))
    assert verdict.verdict is Verdict.CONFIRMED
    assert "UnexpectedTracerError" in verdict.evidence.jitted


def test_untraceable_code_is_inconclusive_but_a_leaked_tracer_is_not():
    failure = RunFailure("exception", "scenario", "jax.errors.ConcretizationTypeError", "Abstract tracer value")
    raised_in_call = {"5:1": {**log(), "calls": [{"index": 0, "error": {"type": failure.type, "message": "..."}}], "recorded_calls": 1}}
    untraceable = run(None, failure=failure, records=raised_in_call)
    assert decide_verdict(DIAGNOSIS, module_runs(untraceable), switched_off([1.0, 2.0])).verdict is Verdict.INCONCLUSIVE
    leaked = run(None, failure=failure, records={"5:1": log(1.0)})
    assert decide_verdict(DIAGNOSIS, module_runs(leaked), switched_off([1.0, 2.0])).verdict is Verdict.CONFIRMED


def test_eager_failures():
    for failure, expected in [
        (RunFailure("import", "import", "ModuleNotFoundError", "No module named 'x'"), Verdict.SKIPPED),
        (RunFailure("timeout", "", message="did not finish within 5 s"), Verdict.INCONCLUSIVE),
        (RunFailure("exit", "import", "SystemExit", "the module called sys.exit(3)"), Verdict.INCONCLUSIVE),
    ]:
        runs = ModuleRuns("scenario", run(None, failure=failure, mode="eager"))
        verdict = decide_verdict(DIAGNOSIS, runs, SiteOutcome("5:1"))
        assert verdict.verdict is expected, failure


def test_nondeterministic_eager_is_inconclusive():
    verdict = decide_verdict(DIAGNOSIS, module_runs(STALE, eager_again=run([1.0, 2.5], "tracing\ntracing\n", mode="eager")), switched_off([1.0, 2.0]))
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert "not reproducible" in verdict.reason


def test_site_never_reached_is_skipped():
    eager = run([1.0], mode="eager", records={})
    runs = ModuleRuns("scenario", eager, eager, compare_runs(eager, eager))
    assert decide_verdict(DIAGNOSIS, runs, SiteOutcome("5:1")).verdict is Verdict.SKIPPED


def test_problem_sites_and_missing_sites_are_skipped():
    assert decide_verdict(DIAGNOSIS, module_runs(STALE), SiteOutcome("5:1", problem="cannot be found")).verdict is Verdict.SKIPPED
    no_site = Diagnostic("JPL001", 1, 0, "analysis failed", "", "", None)
    assert decide_verdict(no_site, module_runs(STALE), None).verdict is Verdict.SKIPPED


def test_switched_off_run_failing_differently_is_inconclusive():
    broken = switched_off(None, failure=RunFailure("crash", "", message="killed by SIGSEGV"))
    assert decide_verdict(DIAGNOSIS, module_runs(STALE), broken).verdict is Verdict.INCONCLUSIVE


def test_alone_on_experiment_for_sites_inside_other_traces():
    alone = run([1.0, 1.0], stdout="tracing\n", mode="eager")
    site = SiteOutcome("5:1", experiment=ALONE_ON, run=alone, divergence=compare_runs(EAGER, alone))
    verdict = decide_verdict(DIAGNOSIS, module_runs(STALE), site)
    assert verdict.verdict is Verdict.CONFIRMED
    assert "cannot be switched off alone" in verdict.attribution
    quiet = SiteOutcome("5:1", experiment=ALONE_ON, run=EAGER, divergence=compare_runs(EAGER, EAGER))
    assert decide_verdict(DIAGNOSIS, module_runs(STALE), quiet).verdict is Verdict.NOT_REPRODUCED
