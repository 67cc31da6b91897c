"""Text and JSON renderings of a ConfirmReport, with the summary line, and the stderr progress bar."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from typing import IO, Optional

from .confirm import ConfirmReport, FileReport
from .verdicts import VERDICT_ORDER, DiagnosisVerdict, Verdict


def summary_line(report: ConfirmReport) -> str:
    counts = report.counts()
    parts = [f"{counts[verdict]} {verdict.value}" for verdict in VERDICT_ORDER]
    diagnosed = sum(1 for f in report.files if f.verdicts)
    runs = sum(len(f.runs) for f in report.files)
    errors = sum(1 for f in report.files if f.error)
    tail = f", {errors} file(s) with errors" if errors else ""
    return (
        f"summary: {', '.join(parts)} "
        f"({len(report.verdicts())} diagnoses in {diagnosed} of {len(report.files)} files, {runs} runs, {report.seconds:.1f} s{tail})"
    )


def _verdict_text(verdict: DiagnosisVerdict, path: str) -> list[str]:
    diagnosis = verdict.diagnosis
    where = f"cell {diagnosis.cell}:line {diagnosis.line}" if diagnosis.cell is not None else f"{diagnosis.line}"
    lines = [f"{path}:{where}:{diagnosis.col + 1}: {diagnosis.code} {verdict.verdict.value}: {diagnosis.message}"]
    if diagnosis.site is not None:
        site = diagnosis.site
        cell = getattr(site, "cell", None)  # a notebook's site (surfaces.notebooks.NotebookTraceSite)
        place = f"cell {cell}, line {site.line}" if cell is not None else f"line {site.line}"
        lines.append(f"    site: {site.transform} at {place} ({site.function})")
    if verdict.verdict is Verdict.CONFIRMED and verdict.evidence is not None:
        lines.append(f"    evidence: {verdict.evidence.describe()}")
        if verdict.attribution:
            lines.append(f"    attribution: {verdict.attribution}")
    else:
        lines.append(f"    reason: {verdict.reason}")
        if verdict.evidence is not None:
            lines.append(f"    observed: {verdict.evidence.describe()}")
    return lines


def _file_text(report: FileReport, verbose: bool) -> list[str]:
    lines: list[str] = []
    if report.error:
        lines.append(f"{report.path}: error: {report.error}")
    for verdict in report.verdicts:
        lines.extend(_verdict_text(verdict, report.path))
    if verbose or (not report.verdicts and report.agreement not in ("not run",)):
        if report.agreement != "not run":
            difference = f": {report.first_difference}" if report.first_difference else ""
            lines.append(f"{report.path}: eager vs jitted: {report.agreement}{difference}")
    if verbose:
        for run in report.runs:
            lines.append(f"    run {run.label}: {run.outcome} ({run.seconds:.1f} s)")
        for note in report.notes:
            lines.append(f"    note: {note.strip()}")
    return lines


def render_text(report: ConfirmReport, verbose: bool = False) -> str:
    lines: list[str] = []
    for file_report in report.files:
        lines.extend(_file_text(file_report, verbose))
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _verdict_json(verdict: DiagnosisVerdict) -> dict:
    diagnosis = verdict.diagnosis
    site = diagnosis.site
    return {
        "code": diagnosis.code,
        "line": diagnosis.line,
        "col": diagnosis.col,
        "message": diagnosis.message,
        "function": diagnosis.function,
        "state": diagnosis.state,
        "site": None if site is None else {"line": site.line, "col": site.col, "transform": site.transform, "function": site.function},
        "verdict": verdict.verdict.value,
        "reason": verdict.reason,
        "evidence": None if verdict.evidence is None else verdict.evidence.as_dict(),
        "attribution": verdict.attribution,
    }


def render_json(report: ConfirmReport) -> str:
    counts = report.counts()
    payload = {
        "files": [
            {
                "path": f.path,
                "drive": f.drive,
                "agreement": f.agreement,
                "first_difference": f.first_difference,
                "error": f.error,
                "verdicts": [_verdict_json(v) for v in f.verdicts],
                "runs": [{"label": r.label, "seconds": round(r.seconds, 3), "outcome": r.outcome} for r in f.runs],
                "notes": f.notes,
                "seconds": round(f.seconds, 3),
            }
            for f in report.files
        ],
        "summary": {
            **{verdict.value: counts[verdict] for verdict in VERDICT_ORDER},
            "files": len(report.files),
            "runs": sum(len(f.runs) for f in report.files),
            "seconds": round(report.seconds, 3),
        },
    }
    return json.dumps(payload, indent=2) + "\n"


class ProgressBar:
    """One line on stderr, redrawn in place as each run starts and ends: files done of all, runs done,
    what runs now and the time since the start. Silent unless stderr is a terminal."""

    def __init__(self, stream: Optional[IO[str]] = None, clock=time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.clock = clock
        self.started = clock()
        self.files_done = 0
        self.files_total = 0
        self.runs_done = 0
        self.running: dict[int, str] = {}  # a thread's current run -> what it is
        self.width = 0
        self.lock = threading.Lock()

    def update(self, done: int, total: int, _report: object = None) -> None:
        """A file is done (`on_file_done` of confirm_paths)."""
        with self.lock:
            self.files_done, self.files_total = done, total
            self._draw()

    def run_started(self, path: str, label: str) -> None:
        with self.lock:
            self.running[threading.get_ident()] = f"{path}: {label}"
            self._draw()

    def run_finished(self, path: str, label: str) -> None:
        with self.lock:
            self.running.pop(threading.get_ident(), None)
            self.runs_done += 1
            self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        total = f"/{self.files_total}" if self.files_total else ""
        now = "; running " + ", ".join(sorted(self.running.values())) if self.running else ""
        text = f"confirm: {self.files_done}{total} files, {self.runs_done} runs{now} ({self.clock() - self.started:.0f} s)"
        columns = shutil.get_terminal_size((100, 20)).columns - 1
        text = text[:columns]
        self.stream.write("\r" + text + " " * max(0, self.width - len(text)))
        self.width = len(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
