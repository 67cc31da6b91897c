"""Orchestration: for each file, the static diagnoses, then the fewest runs that decide them.

Per module, in order, stopping as soon as the answer is known:

1. eager (``jax.disable_jit()`` and the known-gap patches) -- the reference; if it fails, stop;
2. jitted -- if it agrees with eager, every diagnosis is "not reproduced";
3. jitted with one trace site switched off, once per distinct diagnosed site that the eager run
   reached and that can be switched off;
4. eager again, unless a switched-off run already reproduced the eager run exactly (an independent
   interpreter giving the same result is the determinism check it would have been).

Files run in parallel (``jobs`` threads, each waiting on its own subprocesses).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Sequence

from ..diagnostics import Diagnostic
from ..settings import Settings
from . import sandbox
from .compare import ATOL, RTOL
from .divergence import Divergence, compare_runs
from .experiment import RunResult, Subject, describe_subject, run_experiment
from .sandbox import SandboxLimits
from .site_removal import SiteNotFound, SiteRequest, rewrite_sites
from .state_watch import watches_for
from .transforms import is_trace_only
from .verdicts import (
    ALONE_ON,
    SWITCHED_OFF,
    DiagnosisVerdict,
    ModuleRuns,
    SiteOutcome,
    Verdict,
    decide_verdict,
    untraceable_failure,
)

if TYPE_CHECKING:
    import libcst as cst

    from ..engine import FileAnalysis
    from ..surfaces.config import Config
    from ..surfaces.notebooks import JoinedNotebook
    from ..surfaces.project import Project

# (source, filename, settings) -> the file's analysis, as engine.analyse_file.
Analyzer = Callable[[str, str, Optional[Settings]], "FileAnalysis"]
# Never walked into, whatever the configuration says: hidden folders and installed or cached code.
_ALWAYS_SKIPPED = (".*", "__pycache__", "node_modules", "site-packages")


@dataclass
class ConfirmOptions:
    jobs: int = 1
    timeout: float = 60.0  # seconds per run
    memory_mb: Optional[int] = 6144  # address-space limit per run
    output_cap: int = 1 << 20  # bytes (and characters) of output kept per stream
    include_clean: bool = False  # also run modules without diagnoses, to see whether they agree
    always_rerun_eager: bool = False
    script_args: tuple[str, ...] = ()  # sys.argv[1:] of a script run as `__main__`
    pytest_args: Optional[tuple[str, ...]] = None  # drive every file through these tests of the user's
    # Told (path, label) as each run starts and ends: the progress line.
    on_run_started: Optional[Callable[[str, str], None]] = None
    on_run_finished: Optional[Callable[[str, str], None]] = None
    rtol: float = RTOL
    atol: float = ATOL
    warm_start: bool = True  # fork each run from a warm interpreter that has imported JAX (warm_start.py)

    def limits(self) -> SandboxLimits:
        memory = None if not self.memory_mb else self.memory_mb << 20
        return SandboxLimits(timeout=self.timeout, memory_bytes=memory, output_cap=self.output_cap)


@dataclass
class RunSummary:
    label: str
    seconds: float
    outcome: str  # "ok" or the failure's summary

    @classmethod
    def of(cls, run: RunResult) -> "RunSummary":
        return cls(run.label, run.duration, "ok" if run.ok else run.failure.summary())


@dataclass
class FileReport:
    path: str
    verdicts: list[DiagnosisVerdict] = field(default_factory=list)
    drive: Optional[str] = None  # scenario | main | import | cells | pytest
    # agree | diverge | nondeterministic | untraceable (jit cannot trace the code) | eager failed | not run
    agreement: str = "not run"
    first_difference: Optional[str] = None
    error: Optional[str] = None  # the file could not be analysed or run at all
    runs: list[RunSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def diverges(self) -> bool:
        return self.agreement == "diverge"


@dataclass
class ConfirmReport:
    files: list[FileReport]
    seconds: float

    def verdicts(self) -> list[DiagnosisVerdict]:
        return [verdict for report in self.files for verdict in report.verdicts]

    def counts(self) -> dict[Verdict, int]:
        counts = {verdict: 0 for verdict in Verdict}
        for verdict in self.verdicts():
            counts[verdict.verdict] += 1
        return counts

    @property
    def any_confirmed(self) -> bool:
        return any(verdict.verdict is Verdict.CONFIRMED for verdict in self.verdicts())


def collect_files(paths: Iterable[str], project: Optional["Project"] = None) -> list[Path]:
    """Python files named, and those under folders named (hidden and cache folders skipped, and
    with a `project`, what its configuration excludes, as `check` skips it)."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(_walk(path, project))
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path, None)
    return list(unique)


def _walk(folder: Path, project: Optional["Project"]) -> list[Path]:
    from ..surfaces.files import discover

    def exclusions_in(here: Path) -> tuple[str, ...]:
        return (*(project.exclusions_in(here) if project is not None else ()), *_ALWAYS_SKIPPED)

    return [path for path in discover([folder], exclusions_in) if path.suffix in (".py", ".ipynb")]


@dataclass
class Diagnoses:
    """What a file's analysis gives `confirm`: the diagnoses to confirm, and the analysed tree with the
    node of each diagnosed trace site, so that the sites are rewritten where the analysis found them."""

    diagnostics: list[Diagnostic]
    module: Optional["cst.Module"] = None
    site_nodes: dict[str, "cst.CSTNode"] = field(default_factory=dict)  # "line:col" -> the site's node
    cells: Optional["JoinedNotebook"] = None  # a notebook's code cells, joined: the source that runs

    def place(self, line: int) -> str:
        """How the report names a line of the source that runs ("cell 3, line 2" in a notebook)."""
        if self.cells is None:
            return f"line {line}"
        from ..surfaces.notebooks import cell_place

        return cell_place(line, self.cells)


# The analysis shares one project index per process and is not made for threads (`check -j` runs
# processes); it holds the GIL throughout, so the files' threads lose nothing by taking turns.
_one_analysis_at_a_time = threading.Lock()


def diagnoses_to_confirm(
    source: str, path: Path, config: Optional["Config"], analyzer: Analyzer, cells: Optional["JoinedNotebook"] = None
) -> Diagnoses:
    """What `check` reports for the file under `config`: its settings (jit-functions...), then
    select/ignore and `# noqa` on the diagnosed line. Without a config, every diagnosis the
    analysis makes, opt-in codes included (the fixture sweep confirms them all). `cells`: the
    notebook `source` joins (its messages name cells, as `check` says them)."""
    settings = None if config is None else config.settings
    with _one_analysis_at_a_time:
        if cells is None:
            file = analyzer(source, str(path), settings)
        else:
            from ..surfaces.notebooks import cell_place

            file = analyzer(source, str(path), settings, place=lambda line: cell_place(line, cells))
    diagnostics = file.diagnostics
    if config is not None:
        from ..surfaces.check import filter_diagnostics

        diagnostics = filter_diagnostics(diagnostics, source, config)
    site_nodes = {_site_key(located.diagnostic): located.finding.context.site.node for located in file.findings}
    return Diagnoses(diagnostics, None if file.parsed is None else file.parsed.module, site_nodes, cells)


def default_analyzer() -> Analyzer:
    from ..engine import analyse_file  # the static analysis, imported only when needed

    return analyse_file


def _site_key(diagnosis: Diagnostic) -> Optional[str]:
    return None if diagnosis.site is None else f"{diagnosis.site.line}:{diagnosis.site.col}"


class _FileConfirmer:
    def __init__(self, path: Path, source: str, diagnoses: Diagnoses, options: ConfirmOptions) -> None:
        self.path = path
        self.source = source
        self.diagnostics = sorted(diagnoses.diagnostics, key=lambda d: d.sort_key())
        self.module = diagnoses.module  # the analysed tree of `source`, when the analysis ran here
        self.site_nodes = diagnoses.site_nodes
        self.diagnoses = diagnoses
        self.options = options
        self.limits = options.limits()
        self.report = FileReport(str(path))
        self.site_names: dict[str, str] = {}
        self.watches = watches_for(self.diagnostics)  # the state each diagnosed site's calls are watched for

    # -- running ----------------------------------------------------------------------------------

    def _run(self, subject: Subject, source: str, mode: str, label: str) -> RunResult:
        if self.options.on_run_started is not None:
            self.options.on_run_started(str(self.path), label)
        try:
            run = run_experiment(subject, source, mode, label, self.limits, watches=self.watches, warm=self.options.warm_start)
        finally:
            if self.options.on_run_finished is not None:
                self.options.on_run_finished(str(self.path), label)
        self.report.runs.append(RunSummary.of(run))
        if run.leftover_processes_killed:
            self.report.notes.append(f"{label}: killed {run.leftover_processes_killed} process(es) the module left running")
        return run

    def _compare(self, eager: RunResult, other: RunResult) -> Divergence:
        divergence = compare_runs(eager, other, site_name=self._site_name, rtol=self.options.rtol, atol=self.options.atol)
        for note in divergence.notes:
            if note not in self.report.notes:
                self.report.notes.append(note)
        return divergence

    def _site_name(self, key: str) -> str:
        return self.site_names.get(key, f"the trace site at {key}")

    def _rewrite(self, requests: list[SiteRequest], **which) -> str:
        return rewrite_sites(self.source, requests, module=self.module, **which)

    # -- the method -------------------------------------------------------------------------------

    def confirm(self) -> FileReport:
        if not self.diagnostics and not self.options.include_clean:
            self.report.notes.append("no diagnosis: not run")
            return self.report
        if not self.diagnostics and self.options.pytest_args is not None:
            # The tests exercise the whole project: how they differ says nothing about this file.
            self.report.notes.append("no diagnosis: not run (with --pytest, only diagnosed files are run)")
            return self.report
        try:
            subject = describe_subject(self.path, self.source, self.options.script_args)
        except SyntaxError as error:
            self.report.error = f"cannot parse: {error}"
            self.report.verdicts = [DiagnosisVerdict(d, Verdict.SKIPPED, f"the file cannot be parsed: {error}") for d in self.diagnostics]
            return self.report
        if self.diagnoses.cells is not None and subject.drive == "import":
            # A notebook: its cells run in order, each one even when an earlier one raised.
            subject = dataclasses.replace(subject, drive="cells", cell_starts=_cell_starts(self.diagnoses.cells))
        if self.options.pytest_args is not None and self.diagnoses.cells is None:
            subject = dataclasses.replace(
                subject, drive="pytest", pytest_args=self.options.pytest_args, cwd=os.getcwd(), extra_sys_path=()
            )
            if not self.path.resolve().is_relative_to(Path(os.getcwd()).resolve()):
                reason = "with --pytest, the file must be inside the current folder (the tests run in a copy of it)"
                self.report.verdicts = [DiagnosisVerdict(d, Verdict.SKIPPED, reason) for d in self.diagnostics]
                return self.report
        self.report.drive = subject.drive
        if subject.extra_sys_path:
            self.report.notes.append(f"its folder {subject.extra_sys_path[0]} is on sys.path: it imports modules next to it")
        sites, requests = self._sites()
        try:
            instrumented = self._rewrite(list(requests.values()))
        except (SiteNotFound, ValueError) as error:  # should not happen once each site was located
            self.report.notes.append(f"trace sites not instrumented: {error}")
            instrumented = self.source
            requests = {}

        if subject.drive == "pytest":
            subject, runs = self._tests_that_reach_the_sites(subject, instrumented, requests)
        else:
            runs = ModuleRuns(subject.drive, self._run(subject, instrumented, "eager", "eager"))
        reached = any(runs.eager.calls_at(key) for key in requests)
        if runs.eager.ok and (reached or self.options.include_clean):
            self._run_the_rest(subject, instrumented, runs, sites, requests)
        elif runs.eager.ok:
            self.report.notes.append("the eager run called none of the diagnosed trace sites: nothing to compare")
        else:
            self.report.agreement = "eager failed"
            self.report.first_difference = f"the eager run fails: {runs.eager.failure.summary()}"
        self.report.verdicts = [decide_verdict(d, runs, sites.get(_site_key(d) or "")) for d in self.diagnostics]
        return self.report

    def _tests_that_reach_the_sites(
        self, subject: Subject, instrumented: str, requests: dict[str, SiteRequest]
    ) -> tuple[Subject, "ModuleRuns"]:
        """A first eager run of all the tests given records which of them call a diagnosed site; only
        those run again (eager, as the reference, then jitted and with sites switched off)."""
        given = " ".join(subject.pytest_args) or "(pytest's defaults)"
        first = self._run(subject, instrumented, "eager", "eager, every test given")
        runs = ModuleRuns(subject.drive, first)
        if not first.ok:
            return subject, runs
        outcomes = first.result or {}
        ran = sorted(outcomes)
        reaching = list(dict.fromkeys(t for key in requests for t in first.records.get(key, {}).get("tests", [])))
        # A test that fails eagerly may stop before the site: say so, or "0 reach" reads as a fact of the code.
        failed = [t for t in ran if outcomes.get(t) not in ("passed", "skipped")]
        failures = f" ({len(failed)} did not pass: {', '.join(failed[:3])}{', ...' if len(failed) > 3 else ''})" if failed else ""
        self.report.notes.append(
            f"pytest {given}: {len(ran)} test(s) ran eagerly in {first.duration:.1f} s{failures}; "
            f"{len(reaching)} reach a diagnosed trace site" + (f": {', '.join(reaching)}" if reaching else "")
        )
        if not reaching or set(reaching) >= set(ran):
            return subject, runs
        selected = dataclasses.replace(subject, pytest_args=tuple(reaching))
        return selected, ModuleRuns(subject.drive, self._run(selected, instrumented, "eager", "eager"))

    def _sites(self) -> tuple[dict[str, SiteOutcome], dict[str, SiteRequest]]:
        """Each distinct diagnosed site: located in the source (a request to instrument it) or not."""
        sites: dict[str, SiteOutcome] = {}
        requests: dict[str, SiteRequest] = {}
        for diagnosis in self.diagnostics:
            key = _site_key(diagnosis)
            if key is None or key in sites:
                continue
            site = diagnosis.site
            self.site_names[key] = f"the {site.transform} at {self.diagnoses.place(site.line)} ({site.function})"
            request = SiteRequest(site.line, site.col, site.transform, self.site_nodes.get(key))
            try:
                self._rewrite([request])
            except (SiteNotFound, ValueError) as error:
                sites[key] = SiteOutcome(key, problem=f"the trace site cannot be found in the source: {error}")
                continue
            requests[key] = request
            if is_trace_only(site.transform):
                sites[key] = SiteOutcome(key, problem=f"{site.transform} only traces: its value is a jaxpr, which has no eager counterpart")
            else:
                sites[key] = SiteOutcome(key)
        return sites, requests

    def _run_the_rest(
        self, subject: Subject, instrumented: str, runs: ModuleRuns, sites: dict[str, SiteOutcome], requests: dict[str, SiteRequest]
    ) -> None:
        runs.jit = self._run(subject, instrumented, "jit", "jitted")
        runs.jit_divergence = self._compare(runs.eager, runs.jit)
        if not runs.jit_divergence:
            self.report.agreement = "agree"
            return
        self.report.first_difference = runs.jit_divergence.differences[0].describe()
        if untraceable_failure(runs):  # no statement about state: no attribution to make
            self.report.agreement = "untraceable"
            return
        self.report.agreement = "diverge"

        for key, site in sites.items():
            if site.problem or key not in requests or runs.eager.calls_at(key) == 0:
                continue
            request = requests[key]
            jitted_log = runs.jit.records.get(key)
            only_inside_other_traces = bool(jitted_log) and jitted_log["recorded_calls"] == 0 and jitted_log["nested_calls"] > 0
            if only_inside_other_traces:
                # It cannot be switched off alone (a loop inside a trace has tracer bounds): the dual
                # experiment keeps everything eager but this one site.
                alone_on = self._rewrite(list(requests.values()), switched_on=request)
                site.experiment = ALONE_ON
                site.run = self._run(subject, alone_on, "eager", f"eager, only site {key} jitted")
            else:
                switched_off = self._rewrite(list(requests.values()), switched_off=request)
                site.experiment = SWITCHED_OFF
                site.run = self._run(subject, switched_off, "jit", f"jitted, site {key} off")
            site.divergence = self._compare(runs.eager, site.run)

        # A switched-off run that matches eager exactly is a second, independent reproduction of the
        # eager result: the determinism check a second eager run would have been.
        reproduced_exactly = any(
            site.experiment == SWITCHED_OFF and site.run.ok and not site.divergence for site in sites.values() if site.run is not None
        )
        if self.options.always_rerun_eager or not reproduced_exactly:
            runs.eager_again = self._run(subject, instrumented, "eager", "eager again")
            if runs.eager_again.ok:
                runs.eager_again_divergence = self._compare(runs.eager, runs.eager_again)
            if not runs.eager_again.ok or runs.eager_again_divergence:
                self.report.agreement = "nondeterministic"


def confirm_file(
    path: Path,
    options: ConfirmOptions,
    diagnostics: Optional[list[Diagnostic]] = None,
    analyzer: Optional[Analyzer] = None,
    config: Optional["Config"] = None,
) -> FileReport:
    """Verdicts for one file; never raises (an internal failure becomes the report's error).
    `diagnostics` given are confirmed as they are; otherwise see diagnoses_to_confirm."""
    started = time.monotonic()
    report = FileReport(str(path))
    try:
        cells = _notebook_cells(Path(path)) if Path(path).suffix == ".ipynb" else None
        if cells is _NOT_PYTHON:
            report.notes.append("not a Python notebook: not run")
            return report
        source = Path(path).read_text(encoding="utf-8") if cells is None else cells.source
        if diagnostics is None:
            diagnoses = diagnoses_to_confirm(source, Path(path), config, analyzer or default_analyzer(), cells)
        else:  # handed in as data: their sites are found by line and column
            diagnoses = Diagnoses(list(diagnostics), cells=cells)
        report = _FileConfirmer(Path(path), source, diagnoses, options).confirm()
        if cells is not None:
            report.verdicts = [_in_cells(verdict, cells) for verdict in report.verdicts]
    except (OSError, UnicodeDecodeError, ValueError) as error:  # ValueError: a notebook that is not JSON
        report.error = f"cannot read: {error}"
    except Exception as error:  # the checker must outlive anything a file does to it
        report.error = f"internal error: {type(error).__name__}: {error}"
        report.notes.append(traceback.format_exc(limit=5))
    report.seconds = time.monotonic() - started
    return report


_NOT_PYTHON = object()


def _notebook_cells(path: Path):
    """The notebook's code cells joined as `check` joins them (magics and shell lines as `pass`): the
    program `confirm` runs, the cells in order, as a kernel runs them."""
    from ..surfaces.notebooks import is_python_notebook, join_cells, load_notebook

    notebook = load_notebook(path)
    return join_cells(notebook) if is_python_notebook(notebook) else _NOT_PYTHON


def _cell_starts(cells: "JoinedNotebook") -> tuple[int, ...]:
    """The joined source's first line of each code cell."""
    starts: dict[int, int] = {}
    for line, (cell, _line_in_cell) in enumerate(cells.origins, start=1):
        starts.setdefault(cell, line)
    return tuple(starts[cell] for cell in sorted(starts))


def _in_cells(verdict: DiagnosisVerdict, cells: "JoinedNotebook") -> DiagnosisVerdict:
    from ..surfaces.notebooks import to_cells

    return dataclasses.replace(verdict, diagnosis=to_cells(verdict.diagnosis, cells))


def confirm_paths(
    paths: Sequence[str],
    options: ConfirmOptions,
    *,
    analyzer: Optional[Analyzer] = None,
    diagnostics_by_file: Optional[dict[str, list[Diagnostic]]] = None,
    on_file_done: Optional[Callable[[int, int, FileReport], None]] = None,
    project: Optional["Project"] = None,
) -> ConfirmReport:
    """`project`: the configuration `check` would use (excludes, select/ignore, `# noqa`, settings);
    without it, every Python file named or walked and every diagnosis. Raises ConfigError, before
    anything runs, if a file's pyproject.toml is wrong."""
    started = time.monotonic()
    sandbox.allow_new_runs()
    files = collect_files(paths, project)
    configs = {path: None if project is None else project.config_for(path) for path in files}
    if analyzer is None and diagnostics_by_file is None:
        analyzer = default_analyzer()  # fail early (ImportError) rather than once per file
    reports: dict[Path, FileReport] = {}
    with ThreadPoolExecutor(max_workers=max(1, options.jobs), thread_name_prefix="jpl-confirm") as pool:
        futures = {
            pool.submit(
                confirm_file,
                path,
                options,
                None if diagnostics_by_file is None else diagnostics_by_file.get(str(path), []),
                analyzer,
                configs[path],
            ): path
            for path in files
        }
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                reports[futures[future]] = future.result()
                if on_file_done is not None:
                    on_file_done(done, len(files), reports[futures[future]])
        except BaseException:
            for future in futures:
                future.cancel()
            sandbox.kill_all_running()  # the running children end now; their threads then return
            raise
    return ConfirmReport([reports[path] for path in files], time.monotonic() - started)
