"""Timing and memory measurements, and a description of the machine they were taken on.

Every figure has a wall-clock time and a CPU time (user + system, children included). The machine
is shared and often loaded, so the ratios are taken on CPU time, which other processes inflate
far less than wall time; wall time is reported beside it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

T = TypeVar("T")


@dataclasses.dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0
    max_rss_kib: Optional[int] = None  # for a measured command: its largest process

    def __add__(self, other: "Timing") -> "Timing":
        return Timing(self.wall + other.wall, self.cpu + other.cpu)

    def scaled(self, factor: float) -> "Timing":
        return Timing(self.wall * factor, self.cpu * factor, self.max_rss_kib)


class Stopwatch:
    """Adds up the time of the steps it runs, in this process."""

    def __init__(self) -> None:
        self.timing = Timing()

    def run(self, step: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return step()
        finally:
            self.timing.wall += time.perf_counter() - wall
            self.timing.cpu += time.process_time() - cpu


def run_command(command: Sequence[str], cwd: Path, ok_statuses: Sequence[int] = (0, 1)) -> Timing:
    """Runs `command` (stdout discarded) and measures it with its children: wait4 reports the CPU
    time of the process and of every child it waited for (flake8's and our process pools)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(list(command), cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in ok_statuses:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{tail}")
    return Timing(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


PEAK_MEMORY_SCRIPT = """
import json, re, sys, tracemalloc
from pathlib import Path
from jax_purity_lint.engine import analyze_source
from jax_purity_lint.source.decoding import read_source

def status_kib(field):
    return int(re.search(field + r":\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

source = read_source(Path(sys.argv[1]))
Path("/proc/self/clear_refs").write_text("5")  # restart the peak (VmHWM) from here: imports are not counted
before = status_kib("VmRSS")
analyze_source(source)
peak = status_kib("VmHWM")
result = {"rss_growth_kib": peak - before, "max_rss_kib": peak, "python_peak_kib": None}
if sys.argv[2]:  # tracemalloc slows the analysis several times over: asked for on small files only
    tracemalloc.start()
    analyze_source(source)
    result["python_peak_kib"] = tracemalloc.get_traced_memory()[1] // 1024
print(json.dumps(result))
"""


def peak_memory(path: Path, python_peak: bool = True) -> dict[str, Any]:
    """The full analysis of one file in a fresh interpreter: how far its resident size rises above
    what it was after the imports (libcst's native parser and the tree included), and the peak of
    Python's own allocations (tracemalloc)."""
    # -I: the working directory is not put on sys.path, so the installed package is measured.
    command = [sys.executable, "-I", "-c", PEAK_MEMORY_SCRIPT, str(path), "python" if python_peak else ""]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def scaling_exponent(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of log(time) against log(size): 1 is linear, 2 quadratic."""
    xs = [math.log(size) for size, _ in points]
    ys = [math.log(seconds) for _, seconds in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    return covariance / sum((x - mean_x) ** 2 for x in xs)


# -- the machine -----------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> Optional[float]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(distribution: str, path: Optional[Path] = None) -> str:
    try:
        if path is None:
            return importlib.metadata.version(distribution)
        found = importlib.metadata.distributions(name=distribution, path=[str(path)])
        return next(iter(found)).version
    except (importlib.metadata.PackageNotFoundError, StopIteration):
        return "not installed"


def _commit(repository: Path) -> str:
    try:  # read-only
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repository, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(repository: Path, corpus_site: Path, corpus_packages: Sequence[str]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": _commit(repository),
        "tools": {name: _version(name) for name in ("jax-purity-lint", "libcst", "flake8", "pycodestyle", "pyflakes")},
        "corpus": {name: _version(name, corpus_site) for name in corpus_packages},
    }
