"""The no-crash sweep: every .py file of the installed jax, flax, optax, equinox and numpy packages and
of the standard library goes through the linter twice, as it is and with trace sites woven in (every
module-level function, method and module-level instance jitted, so the rules run over all of it).

Nothing may escape, crash or hang a process, report a line outside the file, or end in a JPL001
"internal error". Slow (minutes): `pytest -m slow tests/test_sweep.py`; `python tests/test_sweep.py`
prints the report (files, wall time, JPL001 per reason, slowest files).
Environment: JPL_SWEEP_JOBS (processes, default: all cores), JPL_SWEEP_ROOTS (comma-separated
names from ROOTS, default: all), JPL_SWEEP_FILE_SECONDS (per-file limit before a file counts as hung).
"""

from __future__ import annotations

import ast
import collections
import faulthandler
import importlib.util
import os
import re
import sys
import sysconfig
import tempfile
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import pytest

from jax_purity_lint.engine import analyze_source, decode_source

PACKAGES = ("jax", "flax", "optax", "equinox", "numpy")
ROOTS = (*PACKAGES, "stdlib")
FILE_SECONDS = float(os.environ.get("JPL_SWEEP_FILE_SECONDS", "600"))
FAILURE_PREFIX = "could not analyse this file: "


# -- the corpus ------------------------------------------------------------------------------------


def root_folder(name: str) -> Optional[Path]:
    """Where an installed package (found without importing it) or the standard library lives."""
    if name == "stdlib":
        return Path(sysconfig.get_paths()["stdlib"])
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def corpus(names: Sequence[str] = ROOTS) -> list[Path]:
    files: list[Path] = []
    for name in names:
        folder = root_folder(name)
        if folder is None:
            continue
        for path in sorted(folder.rglob("*.py")):
            # The standard library folder holds the virtual environments' site-packages too.
            if name == "stdlib" and "site-packages" in path.relative_to(folder).parts:
                continue
            files.append(path)
    return files


# -- weaving trace sites in ------------------------------------------------------------------------

JAX_ALIAS = "_jpl_sweep_jax"


def woven(source: str) -> str:
    """`source` with a trailer that jits and calls every module-level function and method, through the
    class and through a module-level instance, then rebinds the module-level names (so reads of them
    are of changing globals that a traced call has seen). Appended, so the file's own lines keep their
    numbers."""
    trailer = [f"import jax as {JAX_ALIAS}"]
    for statement in _module_statements(source):
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            trailer.append(f"{JAX_ALIAS}.jit({statement.name})()")
        elif isinstance(statement, ast.ClassDef):
            instance = f"_jpl_sweep_{statement.name}"
            trailer.append(f"{instance} = {statement.name}()")
            for method in statement.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    trailer.append(f"{JAX_ALIAS}.jit({statement.name}.{method.name})()")
                    trailer.append(f"{JAX_ALIAS}.jit({instance}.{method.name})()")
        elif isinstance(statement, ast.Assign):
            names = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            trailer.extend(f"{name} = {name}" for name in names)
    separator = "" if source.endswith(("\n", "\r")) or not source else "\n"
    return source + separator + "\n".join(trailer) + "\n"


def _module_statements(source: str) -> list[ast.stmt]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # still woven with the import, so the broken file reaches the parser


# -- one file --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    path: str
    mode: str  # "as is" or "woven"
    kind: str  # "escaped", "internal error", "line out of range", "crashed", "hung"
    detail: str


@dataclass(frozen=True)
class FileOutcome:
    path: str
    seconds: float
    failures: tuple[tuple[str, str], ...]  # (mode, JPL001 message)
    problems: tuple[Problem, ...]
    findings: tuple[tuple[str, int], ...] = ()  # (mode, how many other diagnostics): the rules did run


def sweep_file(path: Path, heartbeat_folder: str) -> FileOutcome:
    """Both runs of one file; the heartbeat names the file, in case this process dies on it."""
    (Path(heartbeat_folder) / str(os.getpid())).write_text(str(path))
    faulthandler.dump_traceback_later(FILE_SECONDS, exit=True)  # a hang ends the process: reported
    started = time.perf_counter()
    failures: list[tuple[str, str]] = []
    problems: list[Problem] = []
    findings: list[tuple[str, int]] = []
    try:
        data = path.read_bytes()
        runs = [("as is", data)]
        try:
            runs.append(("woven", woven(decode_source(data))))
        except (UnicodeDecodeError, SyntaxError, LookupError):
            pass  # undecodable: the run as is already reports it
        for mode, source in runs:
            diagnostics = _diagnostics(str(path), mode, source, problems)
            messages = [d.message for d in diagnostics if d.code == "JPL001"]
            failures.extend((mode, message) for message in messages)
            findings.append((mode, len(diagnostics) - len(messages)))
    finally:
        faulthandler.cancel_dump_traceback_later()
    elapsed = time.perf_counter() - started
    return FileOutcome(str(path), elapsed, tuple(failures), tuple(problems), tuple(findings))


def _diagnostics(path: str, mode: str, source, problems: list[Problem]) -> list:
    """The diagnostics, after recording what must never happen: an escape, an internal error, a line
    outside the file."""
    try:
        diagnostics = analyze_source(source, path)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: B036 - the point is that nothing gets out, not even SystemExit
        formatted = traceback.format_exception(type(error), error, error.__traceback__)
        problems.append(Problem(path, mode, "escaped", "".join(formatted)[-3000:]))
        return []
    last_line = _last_line(source)
    for diagnostic in diagnostics:
        if not 1 <= diagnostic.line <= last_line:
            problems.append(
                Problem(path, mode, "line out of range", f"{diagnostic.line} > {last_line}: {diagnostic.message}")
            )
        if diagnostic.code == "JPL001" and "internal error" in diagnostic.message:
            problems.append(Problem(path, mode, "internal error", diagnostic.message))
    return diagnostics


def _last_line(source) -> int:
    try:
        text = source if isinstance(source, str) else decode_source(source)
    except (UnicodeDecodeError, SyntaxError, LookupError):
        text = source.decode("latin-1")  # undecodable: its JPL001 is at a line of the raw bytes
    return len(re.findall(r"\r\n|\r|\n", text)) + 1


# -- the whole corpus, in parallel, surviving dead processes -----------------------------------------


@dataclass
class SweepReport:
    files: int = 0
    seconds: float = 0.0
    outcomes: list[FileOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def reasons(self) -> collections.Counter:
        return collections.Counter(
            (mode, reason_of(message)) for outcome in self.outcomes for mode, message in outcome.failures
        )

    def files_with(self, mode: str, reason: str) -> list[str]:
        return sorted(
            {o.path for o in self.outcomes for m, message in o.failures if (m, reason_of(message)) == (mode, reason)}
        )

    def findings(self) -> collections.Counter:
        counts: collections.Counter = collections.Counter()
        for outcome in self.outcomes:
            for mode, count in outcome.findings:
                counts[mode] += count
        return counts

    def render(self) -> str:
        lines = [f"{self.files} files in {self.seconds:.0f} s wall time"]
        lines.append(
            "findings (JPL100-JPL402) per mode: " + ", ".join(f"{m}: {c}" for m, c in sorted(self.findings().items()))
        )
        lines.append("JPL001 per reason (mode, reason): count")
        for (mode, reason), count in sorted(self.reasons().items()):
            lines.append(f"  {mode:6} {reason}: {count}")
            if count <= 5:  # rare reasons: name the files, they are worth a look
                lines += [f"           {path}" for path in self.files_with(mode, reason)]
        slowest = sorted(self.outcomes, key=lambda o: -o.seconds)[:10]
        lines.append("slowest files:")
        lines += [f"  {o.seconds:6.1f} s  {o.path}" for o in slowest]
        lines.append(f"problems: {len(self.problems)}")
        lines += [f"  {p.kind} ({p.mode}) {p.path}: {p.detail[:500]}" for p in self.problems]
        return "\n".join(lines)


def reason_of(message: str) -> str:
    """The reason without the particulars (line numbers, quoted text), so that equal reasons count together."""
    reason = message.replace(FAILURE_PREFIX, "", 1) if message.startswith(FAILURE_PREFIX) else message
    if reason.startswith("internal error"):
        return reason
    reason = re.sub(r"\(line \d+\)|@ \d+:\d+|line \d+|\d+", "N", reason)
    return reason.split(":")[0] if reason.startswith(("libcst cannot parse it", "cannot decode")) else reason


def sweep(paths: Sequence[Path], jobs: int) -> SweepReport:
    report = SweepReport(files=len(paths))
    started = time.perf_counter()
    remaining = list(paths)
    with tempfile.TemporaryDirectory() as heartbeats:
        while remaining:
            done = _run_pool(remaining, jobs, heartbeats, report)
            lost = [p for p in remaining if str(p) not in done]
            culprits = _culprits(heartbeats, done)
            for culprit in culprits:
                report.problems.append(Problem(culprit, "either", "crashed or hung", "its process died on it"))
            remaining = [p for p in lost if str(p) not in culprits]
            if lost and not culprits:  # the pool broke without a heartbeat: do not loop forever
                report.problems.append(Problem("?", "either", "crashed", f"{len(lost)} files not swept"))
                break
    report.seconds = time.perf_counter() - started
    return report


def _run_pool(paths: Sequence[Path], jobs: int, heartbeats: str, report: SweepReport) -> set[str]:
    done: set[str] = set()
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            # Large files first, so that no single large file ends the sweep late on one core.
            ordered = sorted(paths, key=lambda p: -p.stat().st_size)
            futures = {pool.submit(sweep_file, path, heartbeats): path for path in ordered}
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    raise
                except Exception as error:  # the sweep's own fault: report it, sweep on
                    done.add(str(futures[future]))
                    report.problems.append(Problem(str(futures[future]), "either", "sweep error", repr(error)))
                    continue
                done.add(outcome.path)
                report.outcomes.append(outcome)
                report.problems.extend(outcome.problems)
    except BrokenProcessPool:
        pass
    return done


def _culprits(heartbeats: str, done: set[str]) -> list[str]:
    """Files a process was working on when the pool broke (a crash, or the per-file time limit)."""
    culprits = []
    for beat in Path(heartbeats).iterdir():
        path = beat.read_text()
        if path not in done:
            culprits.append(path)
        beat.unlink()
    return culprits


def default_jobs() -> int:
    return int(os.environ.get("JPL_SWEEP_JOBS", "0")) or os.cpu_count() or 1


def selected_roots() -> list[str]:
    chosen = os.environ.get("JPL_SWEEP_ROOTS", "")
    return [name for name in chosen.split(",") if name] or list(ROOTS)


# -- the tests ---------------------------------------------------------------------------------------


def test_woven_trailer_keeps_the_file_lines_and_adds_sites():
    source = "def f(x):\n    return x + N\n\nclass C:\n    def m(self):\n        pass\nN = 1"
    result = woven(source)
    assert result.startswith(source + "\n")
    assert f"{JAX_ALIAS}.jit(f)()" in result and f"{JAX_ALIAS}.jit(_jpl_sweep_C.m)()" in result and "N = N" in result
    # The woven site is found and the rebinding makes `N` a changing global, on the file's own line.
    assert [(d.code, d.line) for d in analyze_source(result)] == [("JPL100", 2)]


def test_reason_of_groups_particulars():
    assert (
        reason_of(FAILURE_PREFIX + "it is not valid Python: invalid syntax") == "it is not valid Python: invalid syntax"
    )
    assert reason_of(FAILURE_PREFIX + "libcst cannot parse it: Syntax Error @ 3:4.") == "libcst cannot parse it"


@pytest.mark.slow
@pytest.mark.parametrize("root", selected_roots())
def test_no_crash_over_installed_code(root):
    if root != "stdlib" and root_folder(root) is None:
        pytest.skip(f"{root} is not installed")
    report = sweep(corpus([root]), default_jobs())
    print(report.render())
    assert report.outcomes, "nothing was swept"
    assert not report.problems, report.render()


if __name__ == "__main__":
    names = sys.argv[1:] or selected_roots()
    print(sweep(corpus(names), default_jobs()).render())
