"""Child side of `confirm --pytest`: the user's own tests drive the diagnosed module.

The tests run in this interpreter (`pytest.main`, no worker processes), from a copy of the user's
folder (what they write stays there), and import the module as they always do; an import hook hands
them the instrumented source instead of the file's (same path, same line numbers), so every call of a
diagnosed trace site is recorded, with the test that made it. The run's value is each test's outcome;
its output, what each test printed and the warnings it raised (pytest records them per test).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import CodeType
from typing import Optional

from .import_hook import InstrumentedModuleFinder

# What pytest is told besides the user's arguments: no cache written into the project, and no worker
# processes (a worker would import the module without the hook).
QUIET_OPTIONS = ("-q", "-p", "no:cacheprovider")
PYTEST_EXIT = {2: "interrupted", 3: "an internal error", 4: "a usage error", 5: "no tests collected"}
WARNINGS_KEPT = 200


class TestTracker:
    """A pytest plugin: which test runs now (for the recorder) and how each test ended."""

    def __init__(self, recorder, finder: InstrumentedModuleFinder) -> None:
        self.recorder = recorder
        self.finder = finder
        self.outcomes: dict[str, str] = {}
        self.printed: dict[str, str] = {}  # what each test printed (pytest's capture of it)
        # Why a test file could not be collected ("a missing dependency"): what the user must fix.
        self.collection_errors: list[str] = []
        # The warnings each test raised, as pytest recorded them: its capture keeps them from
        # `warnings.showwarning`, so a warning at trace time would otherwise go unseen.
        self.warned: list[str] = []

    def _test_id(self, item) -> str:
        # The test file's path from where pytest runs, so the selection works whatever pytest's root is.
        nodeid = item.nodeid
        return os.path.relpath(item.path) + nodeid[nodeid.index("::"):] if "::" in nodeid else nodeid

    def pytest_collection(self, session) -> None:
        # pytest put its assertion-rewriting hook first while configuring; a diagnosed *test* module
        # must still come from the instrumented source (its asserts then read as plain asserts).
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        sys.meta_path.insert(0, self.finder)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            where = os.path.relpath(report.fspath) if getattr(report, "fspath", None) else "the tests"
            self.collection_errors.append(f"collecting {where} failed: {error_line(report.longreprtext)}")

    def pytest_runtest_setup(self, item) -> None:
        self.recorder.current_test = self._test_id(item)

    def pytest_warning_recorded(self, warning_message, when, nodeid, location) -> None:
        if when == "runtest" and len(self.warned) < WARNINGS_KEPT:
            test = self.recorder.current_test or nodeid
            self.warned.append(f"{test}: {warning_message.category.__name__}: {warning_message.message}")

    def pytest_runtest_logreport(self, report) -> None:
        test = self.recorder.current_test or report.nodeid
        if report.capstdout:  # each phase's report holds the test's output so far: the last one all of it
            self.printed[test] = report.capstdout
        if report.when == "call":
            self.outcomes[test] = report.outcome
        elif report.outcome != "passed":  # skipped, or an error in set-up or tear-down
            self.outcomes.setdefault(test, "skipped" if report.skipped else f"error in {report.when}")


def run_tests(
    job: dict, code: CodeType, recorder, context
) -> tuple[dict[str, str], str, list[str], Optional[str]]:
    """Run pytest on the job's arguments with the instrumented module: (outcome per test, what the
    tests printed, each under a `--- test id` line, the warnings they raised, a problem)."""
    import pytest

    sys.path.insert(0, os.getcwd())  # as `python -m pytest` does
    finder = InstrumentedModuleFinder(job["module_path"], code)
    sys.meta_path.insert(0, finder)
    options = list(QUIET_OPTIONS)
    if importlib.util.find_spec("xdist") is not None:
        options += ["-n", "0"]  # the project's addopts may ask for workers
    tracker = TestTracker(recorder, finder)
    with context:
        status = pytest.main([*job["pytest_args"], *options], plugins=[tracker])
    recorder.current_test = None
    problem = PYTEST_EXIT.get(int(status))
    printed = "".join(f"--- {test}\n{text}" for test, text in tracker.printed.items())
    if problem is None:
        return tracker.outcomes, printed, tracker.warned, None
    stopped = f"pytest stopped with status {int(status)} ({problem})"
    if tracker.collection_errors:
        more = len(tracker.collection_errors) - 1
        stopped += f": {tracker.collection_errors[0]}" + (f" (and {more} more)" if more else "")
    return tracker.outcomes, printed, tracker.warned, stopped


def error_line(report_text: str) -> str:
    """The line of pytest's report that names the error (`E   ModuleNotFoundError: ...`), else its last."""
    lines = [line.strip() for line in report_text.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    found = errors[-1] if errors else (lines[-1] if lines else "no detail")
    return found[:200]
