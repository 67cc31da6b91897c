"""Parent side: one experiment = one fresh, sandboxed interpreter running a module in one mode.

Prepares a private directory (the module copied into ``work/``, the job file beside it), runs
child.py there through sandbox.py, and reads back a RunResult. Every way the child can end --
returned, raised, sys.exit, os._exit, crashed, hung, never started -- becomes a RunResult.
"""

from __future__ import annotations

import ast
import json
import keyword
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .sandbox import SandboxLimits, SandboxOutcome, run_sandboxed, start_process
from .warm_start import warm_launch

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding jax_purity_lint/
# -s: no user site; -P: the script's folder is not put on sys.path; -B: no .pyc written next to
# a user's sibling modules. PYTHON* variables are filtered (below) instead of -E, so PYTHONHASHSEED
# can pin the ordering of sets of strings across runs.
_INTERPRETER_FLAGS = ("-s", "-P", "-B")
_BOOTSTRAP = (
    "import sys; root = sys.argv.pop(); sys.path.insert(0, root); "
    "from jax_purity_lint.runtime.child import main; main(sys.argv)"
)
# What every run imports before the user's code: a warm interpreter has them imported already.
_WARM_MODULES = ("jax_purity_lint.runtime.child", "jax")
_RESERVED_MODULE_NAMES = {"jax", "jaxlib", "numpy", "flax", "equinox", "optax", "jax_purity_lint", "scenario"}
STDERR_TAIL_CHARS = 2000


@dataclass
class RunFailure:
    kind: str  # exception | import | exit | timeout | crash | no-result | setup | start
    phase: str  # import | scenario | effects | "" (before or outside user code)
    type: str = ""
    message: str = ""
    detail: str = ""  # traceback or stderr tail

    def summary(self) -> str:
        where = {
            "import": " while importing the module", "scenario": " in scenario()", "effects": " flushing effects",
            "tests": " running the tests",
        }.get(
            self.phase, ""
        )
        if self.kind in ("exception", "import", "setup"):
            message = f": {self.message}" if self.message else ""
            return f"{self.type}{where}{message}"
        return f"{self.message}{where}" if self.kind == "exit" else self.message


@dataclass
class RunResult:
    label: str
    mode: str  # eager | jit
    drive: str  # scenario | main | import | cells | pytest
    failure: Optional[RunFailure]
    result: Any = None  # serialize.encode form of scenario()'s value
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    warnings: str = ""  # the warnings shown, one line each (`UserWarning: x is 1.0`)
    records: dict = field(default_factory=dict)  # site key -> SiteLog.export()
    duration: float = 0.0
    timings: dict = field(default_factory=dict)
    leftover_processes_killed: int = 0

    @property
    def ok(self) -> bool:
        return self.failure is None

    def calls_at(self, site_key: str) -> int:
        log = self.records.get(site_key)
        return 0 if log is None else log["recorded_calls"] + log["nested_calls"]


@dataclass(frozen=True)
class Subject:
    """The module under test and how to load it."""

    path: Path
    module_name: str
    drive: str  # scenario | main (a script: run as `__main__`) | import
    extra_sys_path: tuple[str, ...]
    argv: tuple[str, ...] = ()  # a script's arguments (sys.argv[1:])
    pytest_args: tuple[str, ...] = ()  # drive "pytest": what pytest is given (the user's tests)
    in_package: bool = False  # `pkg/mod.py`: imported as `pkg.mod` (module_name), its root on sys.path
    cell_starts: tuple[int, ...] = ()  # drive "cells": the first line of each code cell in the source
    cwd: Optional[str] = None  # where the run starts (drive "pytest": the user's folder); else a copy's


def module_name_for(path: Path) -> str:
    stem = path.stem
    if stem.isidentifier() and not keyword.iskeyword(stem):
        if stem not in sys.stdlib_module_names and stem not in _RESERVED_MODULE_NAMES:
            return stem
    safe = "".join(ch if ch.isalnum() else "_" for ch in stem)
    return f"jpl_subject_{safe}"


def has_scenario(tree: ast.Module) -> bool:
    """A module-level `def scenario()` that can be called without arguments."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "scenario":
            arguments = node.args
            required = len(arguments.posonlyargs) + len(arguments.args) - len(arguments.defaults)
            kw_required = sum(default is None for default in arguments.kw_defaults)
            return required == 0 and kw_required == 0
    return False


def has_main_guard(tree: ast.Module) -> bool:
    """A module-level `if __name__ == "__main__":`: a script, whose work runs only as `__main__`."""
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1:
            sides = [node.test.left, *node.test.comparators]
            names = [side for side in sides if isinstance(side, ast.Name) and side.id == "__name__"]
            texts = [side for side in sides if isinstance(side, ast.Constant) and side.value == "__main__"]
            if names and texts and isinstance(node.test.ops[0], ast.Eq):
                return True
    return False


def sibling_imports(tree: ast.Module, folder: Path) -> bool:
    """Whether the module imports a module that lives next to it (then its folder goes on sys.path)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return any((folder / f"{name}.py").is_file() or (folder / name).is_dir() for name in names)


def describe_subject(path: Path, source: str, argv: tuple[str, ...] = ()) -> Subject:
    """How to drive the module: its `scenario()`; else, a script, run as `__main__` (with `argv`);
    else importing it."""
    tree = ast.parse(source)
    folder = path.resolve().parent
    extra = (str(folder),) if sibling_imports(tree, folder) else ()
    drive = "scenario" if has_scenario(tree) else "main" if has_main_guard(tree) else "import"
    arguments = tuple(argv) if drive == "main" else ()
    package = package_of(path)
    if package is not None:  # a package's module: its relative imports need the package
        root, dotted = package
        return Subject(path.resolve(), dotted, drive, (str(root),), arguments, in_package=True)
    return Subject(path.resolve(), module_name_for(path), drive, extra, arguments)


def package_of(path: Path) -> Optional[tuple[Path, str]]:
    """(the folder holding the top package, `pkg.sub.mod`) for a module inside a package; else None."""
    path = path.resolve()
    if path.suffix != ".py" or not (path.parent / "__init__.py").is_file():
        return None
    parts = [] if path.stem == "__init__" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.name.isidentifier():
        parts.insert(0, folder.name)
        folder = folder.parent
    return (folder, ".".join(parts)) if parts and all(p.isidentifier() for p in parts) else None


def _shared_environment() -> dict[str, str]:
    """The environment of every run, but for the folders of its own (HOME and TMPDIR)."""
    # PYTHONSTARTUP, PYTHONINSPECT and friends change how the interpreter behaves: dropped.
    # PYTHONPATH is how some projects make their own packages importable: kept.
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON") or name == "PYTHONPATH"}
    env.update(PYTHONHASHSEED="0", JAX_PLATFORMS=os.environ.get("JPL_CONFIRM_JAX_PLATFORMS", "cpu"))
    return env


def _child_environment(run_dir: Path, shared: dict[str, str]) -> dict[str, str]:
    return {**shared, "HOME": str(run_dir / "home"), "TMPDIR": str(run_dir / "tmp")}


def _failure_without_result(outcome: SandboxOutcome, limits: SandboxLimits) -> RunFailure:
    stderr_tail = outcome.stderr.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:]
    if outcome.start_error:
        return RunFailure("start", "", message=f"could not start the interpreter: {outcome.start_error}")
    if outcome.timed_out:
        return RunFailure("timeout", "", message=f"did not finish within {limits.timeout:g} s", detail=stderr_tail)
    if outcome.returncode is not None and outcome.returncode < 0:
        hint = ""
        if outcome.signal_name in ("SIGABRT", "SIGKILL", "SIGBUS"):
            hint = " (possibly the memory limit)"
        return RunFailure("crash", "", message=f"the interpreter was killed by {outcome.signal_name}{hint}", detail=stderr_tail)
    return RunFailure(
        "no-result",
        "",
        message=f"the interpreter exited with status {outcome.returncode} before reporting (os._exit or a fatal error)",
        detail=stderr_tail,
    )


def run_experiment(
    subject: Subject, source: str, mode: str, label: str, limits: SandboxLimits, record_limit: int = 200,
    watches: Optional[dict[str, list[dict]]] = None, warm: bool = True,
) -> RunResult:
    """Run ``source`` (the module's text, possibly rewritten) as ``subject`` in ``mode``. ``watches``:
    per site key, the state to read around each call (state_watch.watches_for). ``warm``: the run is
    forked from a warm interpreter that has imported JAX (warm_start.py) rather than started cold."""
    run_dir = Path(tempfile.mkdtemp(prefix="jpl-confirm-"))
    try:
        work = run_dir / "work"
        for folder in (work, run_dir / "home", run_dir / "tmp"):
            folder.mkdir()
        source_path = work / subject.path.name
        source_path.write_text(source, encoding="utf-8")
        result_path = run_dir / "result.json"
        job = {
            "mode": mode,
            "drive": subject.drive,
            "module_name": subject.module_name,
            "source_path": str(source_path),
            "original_path": str(subject.path),
            "result_path": str(result_path),
            "extra_sys_path": list(subject.extra_sys_path),
            "argv": list(subject.argv),
            "pytest_args": list(subject.pytest_args),
            "in_package": subject.in_package,
            "cell_starts": list(subject.cell_starts),
            "output_cap": limits.output_cap,
            "record_limit": record_limit,
            "watches": watches or {},
        }
        job_path = run_dir / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        argv = [sys.executable, *_INTERPRETER_FLAGS, "-c", _BOOTSTRAP, str(job_path), PACKAGE_ROOT]
        cwd = str(work)
        if subject.drive == "pytest":  # the tests run in a copy of the user's folder: their files stay as they are
            cwd, job["module_path"] = _copy_of_project(subject, run_dir / "project")
            job_path.write_text(json.dumps(job), encoding="utf-8")
        shared = _shared_environment()
        launch = warm_launch(sys.executable, _INTERPRETER_FLAGS, shared, PACKAGE_ROOT, _WARM_MODULES) if warm else start_process
        outcome = run_sandboxed(argv, cwd=cwd, env=_child_environment(run_dir, shared), limits=limits, launch=launch)
        return _read_result(result_path, outcome, limits, label, mode, subject.drive)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# Not copied with the project: version control, environments, caches, build output.
_NOT_COPIED = (".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
               ".pytest_cache", ".mypy_cache", ".ruff_cache", ".jpl_cache", "build", "dist", "*.egg-info")


def _copy_of_project(subject: Subject, destination: Path) -> tuple[str, str]:
    """Copy the folder the tests run from; (the copy, the diagnosed module's path in it). Raises
    ValueError when the module is not inside that folder."""
    root = Path(subject.cwd or ".").resolve()
    try:
        relative = subject.path.resolve().relative_to(root)
    except ValueError:
        raise ValueError(f"{subject.path} is not inside the folder the tests run from ({root})") from None
    shutil.copytree(root, destination, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_COPIED))
    return str(destination), str(destination / relative)


def _read_result(result_path: Path, outcome: SandboxOutcome, limits: SandboxLimits, label: str, mode: str, drive: str) -> RunResult:
    common = dict(label=label, mode=mode, drive=drive, duration=outcome.duration, leftover_processes_killed=outcome.leftover_processes_killed)
    payload = None
    if not outcome.timed_out and result_path.is_file():
        try:
            payload = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            payload = None
    if payload is None:
        return RunResult(failure=_failure_without_result(outcome, limits), stderr=outcome.stderr.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:], **common)
    failure = None
    if payload.get("failure"):
        raw = payload["failure"]
        message = raw.get("message", "")
        if raw.get("kind") == "exit":
            message = f"the module called sys.exit({raw.get('exit_code')!r})"
        failure = RunFailure(raw.get("kind", "exception"), raw.get("phase", ""), raw.get("type", ""), message, raw.get("traceback", ""))
    return RunResult(
        failure=failure,
        result=payload.get("result"),
        stdout=payload.get("stdout", ""),
        stderr=payload.get("stderr", ""),
        stdout_truncated=bool(payload.get("stdout_truncated")),
        stderr_truncated=bool(payload.get("stderr_truncated")),
        warnings="\n".join(payload.get("warnings") or ()),
        records=payload.get("records") or {},
        timings=payload.get("timings") or {},
        **common,
    )
