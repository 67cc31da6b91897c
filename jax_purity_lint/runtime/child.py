"""Child side: the program a sandboxed interpreter runs for one experiment.

    python -I -c "<bootstrap>" JOB.json

reads the job (which module, eager or jit, scenario or import), loads the user's module from the
copy in its working directory (the source may have been rewritten by site_removal.py), runs it,
and writes everything the parent compares to the job's result file as JSON: the scenario's value,
what each trace site returned, captured stdout/stderr, and how the run ended. It then leaves with
``os._exit`` so that user threads or atexit handlers cannot keep it alive.
"""

from __future__ import annotations

import builtins
import faulthandler
import io
import json
import os
import sys
import time
import traceback
import types
import warnings
from contextlib import nullcontext
from typing import Any

# Imported before any user code runs, so the user's module cannot shadow them.
from .serialize import blank_addresses, encode
from .site_runtime import SiteRecorder, describe_exception

TRACEBACK_CHARS = 4000


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``cap`` characters and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[str] = []
        self.kept = 0
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        self.total += len(text)
        room = self.cap - self.kept
        if room > 0:
            piece = text[:room]
            self.parts.append(piece)
            self.kept += len(piece)
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)

    @property
    def truncated(self) -> bool:
        return self.total > self.kept

    @property
    def encoding(self) -> str:  # some code asks sys.stdout for it
        return "utf-8"

    def isatty(self) -> bool:
        return False


def _traceback_tail(error: BaseException) -> str:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return blank_addresses(text[-TRACEBACK_CHARS:])


def _failure(phase: str, error: BaseException) -> dict:
    failure = {"phase": phase, **describe_exception(error), "traceback": _traceback_tail(error)}
    if isinstance(error, SystemExit):
        failure["kind"] = "exit"
        failure["exit_code"] = error.code if isinstance(error.code, (int, str, type(None))) else repr(error.code)
    elif isinstance(error, ImportError) and phase == "import":
        failure["kind"] = "import"
    else:
        failure["kind"] = "exception"
    return failure


def _load_and_run(job: dict, recorder: SiteRecorder, outcome: dict) -> None:
    import jax

    source_path = job["source_path"]
    with open(source_path, encoding="utf-8") as handle:
        source = handle.read()

    if job["mode"] == "eager":
        from .eager_patches import apply_eager_patches

        apply_eager_patches(uses_flax_linen="linen" in source)
        context = jax.disable_jit()
    else:
        context = nullcontext()
    if job["drive"] == "pytest":  # the tests import the module themselves
        code = compile(source, job["original_path"], "exec", dont_inherit=True)
        _run_user_tests(job, code, recorder, outcome, context)
        return
    if job.get("in_package"):  # `pkg/mod.py`: imported as `pkg.mod`, with its package around it
        code = compile(source, job["original_path"], "exec", dont_inherit=True)
        _import_from_package(job, code, outcome, context)
        return
    as_script = job["drive"] == "main"
    module = types.ModuleType("__main__" if as_script else job["module_name"])
    module.__file__ = source_path
    sys.modules[job["module_name"]] = module
    if as_script:  # as `python script.py ARGS` runs it: its `if __name__ == "__main__":` block runs
        sys.modules["__main__"] = module
        sys.argv = [job["original_path"], *job.get("argv", [])]
    # Compiled under the original path: tracebacks name the user's file; lines are unchanged.
    code = compile(source, job["original_path"], "exec", dont_inherit=True)

    phase = "import"
    started = time.perf_counter()
    try:
        with context:
            if job["drive"] == "cells" and job.get("cell_starts"):
                outcome["result"] = _run_cells(source, job, module)
            else:
                exec(code, module.__dict__)
            outcome["timings"]["import"] = time.perf_counter() - started
            if job["drive"] == "scenario":
                phase = "scenario"
                _call_scenario(module, outcome)
            phase = "effects"
            jax.effects_barrier()  # jax.debug.print and callbacks land before output is collected
    except BaseException as error:  # SystemExit, KeyboardInterrupt and the rest are user outcomes
        outcome["failure"] = _failure(phase, error)


def _call_scenario(module: types.ModuleType, outcome: dict) -> None:
    scenario = getattr(module, "scenario", None)
    if not callable(scenario):
        raise RuntimeError("the module defines no callable scenario()")
    started = time.perf_counter()
    value = scenario()
    outcome["timings"]["scenario"] = time.perf_counter() - started
    outcome["result"] = encode(value)


def _run_cells(source: str, job: dict, module: types.ModuleType) -> dict:
    """A notebook's code cells, one after the other in one namespace, as a kernel runs them: a cell that
    raises is recorded and the next one still runs (as "run all" with errors allowed). Each cell is
    compiled from its own statements of the joined source, so line numbers stay those of the source."""
    import ast

    import jax

    tree = ast.parse(source, job["original_path"])
    starts = job["cell_starts"]  # the joined source's first line of each code cell, in order
    cells: list[list[ast.stmt]] = [[] for _ in starts]
    for statement in tree.body:
        index = max((i for i, start in enumerate(starts) if start <= statement.lineno), default=0)
        cells[index].append(statement)
    outcomes: dict[str, str] = {}
    for number, body in enumerate(cells, start=1):
        if not body:
            continue
        code = compile(ast.Module(body=body, type_ignores=[]), job["original_path"], "exec", dont_inherit=True)
        try:
            exec(code, module.__dict__)
            jax.effects_barrier()
            outcomes[f"cell {number}"] = "ran"
        except Exception as error:  # the cell's own error: recorded, and the notebook goes on
            described = describe_exception(error)
            outcomes[f"cell {number}"] = f"raised {described['type']}: {described['message']}"
    return outcomes


def _import_from_package(job: dict, code, outcome: dict, context) -> None:
    import importlib
    import runpy

    import jax

    from .import_hook import InstrumentedModuleFinder

    sys.meta_path.insert(0, InstrumentedModuleFinder(job["original_path"], code))
    phase = "import"
    started = time.perf_counter()
    try:
        with context:
            if job["drive"] == "main":  # as `python -m pkg.mod ARGS` runs it
                sys.argv = [job["original_path"], *job.get("argv", [])]
                runpy.run_module(job["module_name"], run_name="__main__", alter_sys=True)
                module = None
            else:
                module = importlib.import_module(job["module_name"])
            outcome["timings"]["import"] = time.perf_counter() - started
            if job["drive"] == "scenario" and module is not None:
                phase = "scenario"
                _call_scenario(module, outcome)
            phase = "effects"
            jax.effects_barrier()
    except BaseException as error:
        outcome["failure"] = _failure(phase, error)


def _run_user_tests(job: dict, code, recorder: SiteRecorder, outcome: dict, context) -> None:
    from .pytest_drive import run_tests

    started = time.perf_counter()
    try:
        outcomes, printed, warned, problem = run_tests(job, code, recorder, context)
        outcome["timings"]["tests"] = time.perf_counter() - started
        outcome["result"] = outcomes  # {test: "passed" | "failed" | ...}: plain JSON
        outcome["tests_stdout"] = printed
        outcome["tests_warnings"] = warned
        if problem is not None:  # pytest's report (on the captured stdout) says why
            report = getattr(sys.stdout, "getvalue", lambda: "")()[-TRACEBACK_CHARS:]
            outcome["failure"] = {"phase": "tests", "kind": "exception", "type": "pytest", "message": problem,
                                  "traceback": report}
        import jax

        jax.effects_barrier()
    except BaseException as error:
        outcome["failure"] = _failure("tests", error)


def run_job(job: dict) -> dict:
    outcome: dict[str, Any] = {"mode": job["mode"], "drive": job["drive"], "timings": {}, "result": None, "failure": None}
    for path in reversed(job.get("extra_sys_path", [])):
        sys.path.insert(1, path)
    sys.argv = [job["source_path"]]

    started = time.perf_counter()
    import jax  # noqa: F401  (loaded here so its import time is measured apart from the user's)

    outcome["timings"]["jax_import"] = time.perf_counter() - started

    recorder = SiteRecorder(record_limit=job.get("record_limit", 200), watches=job.get("watches"))
    builtins.__jpl_runtime__ = recorder  # type: ignore[attr-defined]

    cap = job.get("output_cap", 1 << 20)
    stdout, stderr = CappedText(cap), CappedText(cap)
    caught_warnings: list[str] = []

    def keep_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if len(caught_warnings) < 50:
            caught_warnings.append(f"{category.__name__}: {message}")

    real_stdout, real_stderr, real_showwarning = sys.stdout, sys.stderr, warnings.showwarning
    sys.stdout, sys.stderr, warnings.showwarning = stdout, stderr, keep_warning
    try:
        _load_and_run(job, recorder, outcome)
    finally:
        sys.stdout, sys.stderr, warnings.showwarning = real_stdout, real_stderr, real_showwarning

    # pytest's own report (timings, progress) is not the code's output: what the tests printed is.
    outcome["stdout"] = outcome.pop("tests_stdout", "") if job["drive"] == "pytest" else stdout.getvalue()
    outcome["stdout_truncated"] = stdout.truncated
    outcome["stderr"] = stderr.getvalue()
    outcome["stderr_truncated"] = stderr.truncated
    outcome["warnings"] = caught_warnings + outcome.pop("tests_warnings", [])
    outcome["records"] = recorder.export()
    return outcome


def _write_atomically(path: str, payload: dict) -> None:
    temporary = path + ".partial"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, default=repr)
    os.replace(temporary, path)


def main(argv: list[str]) -> None:
    faulthandler.enable()  # a segfault leaves a Python traceback on the (captured) stderr
    with open(argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    try:
        outcome = run_job(job)
    except BaseException as error:  # the checker's own machinery failed: say so rather than vanish
        outcome = {"failure": {**_failure("setup", error), "kind": "setup"}}
    try:
        _write_atomically(job["result_path"], outcome)
    except BaseException as error:
        sys.__stderr__.write(f"jax-purity-lint child: cannot write result: {error!r}\n")
    finally:
        sys.__stdout__.flush()
        sys.__stderr__.flush()
        os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
