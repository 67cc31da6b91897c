"""Run one command in isolation: its own session (process group), a wall-clock timeout, address-space,
core-dump and file-size limits set in the child before exec, stdin closed, stdout/stderr captured up
to a cap (the pipes keep being drained past it, so the child never blocks on a full pipe), and on
the way out every process it started is killed -- its process group, and any descendant that left the
group, found by a per-run token in its environment. Nothing here raises for anything the child does.
The process is started cold (start_process) or forked from a warm interpreter (warm_start.py): both
give it the same session, limits, stdio and environment.
"""

from __future__ import annotations

import os
import resource
import selectors
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

TOKEN_VARIABLE = "JPL_SANDBOX_TOKEN"
DEFAULT_OUTPUT_CAP = 1 << 20
DEFAULT_FILE_SIZE_LIMIT = 1 << 30
_READ_CHUNK = 1 << 16
_DRAIN_AFTER_EXIT_SECONDS = 0.5

# Process groups of children still running, so an interrupted checker can end them all.
_live_groups: set[int] = set()
_live_lock = threading.Lock()
_stopping = threading.Event()  # set when interrupted: no new child starts


@dataclass
class SandboxLimits:
    timeout: float = 60.0  # wall-clock seconds
    memory_bytes: Optional[int] = 6 << 30  # RLIMIT_AS; None for no limit
    output_cap: int = DEFAULT_OUTPUT_CAP  # bytes kept of stdout and of stderr each
    file_size_bytes: int = DEFAULT_FILE_SIZE_LIMIT  # RLIMIT_FSIZE


@dataclass
class SandboxOutcome:
    returncode: Optional[int]  # negative: killed by that signal (subprocess convention)
    timed_out: bool
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    duration: float
    leftover_processes_killed: int  # processes still alive after the child itself ended
    start_error: Optional[str] = None  # the command could not be started at all

    @property
    def signal_name(self) -> Optional[str]:
        if self.returncode is None or self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


def _limit_setter(limits: SandboxLimits):
    """The preexec_fn: only setrlimit calls, bound before fork (no imports or locks in the child)."""
    setrlimit = resource.setrlimit
    memory = limits.memory_bytes
    file_size = limits.file_size_bytes
    rlimit_as, rlimit_core, rlimit_fsize = resource.RLIMIT_AS, resource.RLIMIT_CORE, resource.RLIMIT_FSIZE

    def apply_limits() -> None:
        if memory is not None:
            setrlimit(rlimit_as, (memory, memory))
        setrlimit(rlimit_core, (0, 0))
        setrlimit(rlimit_fsize, (file_size, file_size))

    return apply_limits


class _CappedBuffer:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - self.kept
        if room > 0:
            self.chunks.append(chunk[:room])
            self.kept += min(room, len(chunk))

    def value(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def truncated(self) -> bool:
        return self.total > self.kept


def _processes_with_token(token: str) -> list[int]:
    marker = f"{TOKEN_VARIABLE}={token}".encode()
    found = []
    own = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:  # gone, or not ours to read
            continue
    return found


def _kill_everything(group: int, token: str) -> int:
    """SIGKILL the process group and every process carrying the token; returns how many processes
    besides the child itself were still alive. They are counted before the kill, so one the group kill
    ends is counted like one found only by its token."""
    found: set[int] = set()
    for _ in range(3):  # a process may fork while we look: look again
        carriers = _processes_with_token(token) if os.path.isdir("/proc") else []
        alive = [pid for pid in carriers if pid != group and _running(pid)]
        found.update(alive)
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not alive:
            break
        time.sleep(0.05)
    return len(found)


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped (it has already ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def allow_new_runs() -> None:
    _stopping.clear()


def kill_all_running() -> None:
    """End every sandboxed process group still running and start no new one (the checker is
    interrupted: threads still working on a file then fail fast instead of starting its next run)."""
    _stopping.set()
    with _live_lock:
        groups = list(_live_groups)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def start_process(argv: Sequence[str], cwd: str, env: Mapping[str, str], limits: SandboxLimits) -> subprocess.Popen:
    """The cold start: a new process running `argv`."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own session and process group: killable as a whole, no tty
        preexec_fn=_limit_setter(limits),
        close_fds=True,
    )


# How a run's process is started: given its argv, folder, environment (its token included) and limits,
# a process leading its own session, with stdin closed and `.stdout`/`.stderr` pipes, that answers
# `.pid`, `.poll()`, `.wait(timeout)` and `.returncode` as subprocess.Popen does (warm_start.py forks one).
Launch = Callable[[Sequence[str], str, Mapping[str, str], SandboxLimits], "subprocess.Popen"]


def run_sandboxed(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    limits: SandboxLimits,
    launch: Launch = start_process,
) -> SandboxOutcome:
    token = uuid.uuid4().hex
    child_env = {**env, TOKEN_VARIABLE: token}
    started = time.monotonic()
    if _stopping.is_set():
        return SandboxOutcome(None, False, b"", b"", False, False, 0.0, 0, start_error="the checker was interrupted")
    try:
        process = launch(argv, cwd, child_env, limits)
    except (OSError, subprocess.SubprocessError) as error:
        return SandboxOutcome(None, False, b"", b"", False, False, 0.0, 0, start_error=repr(error))

    group = process.pid  # with start_new_session the child leads its own group
    with _live_lock:
        _live_groups.add(group)
    out, err = _CappedBuffer(limits.output_cap), _CappedBuffer(limits.output_cap)
    buffers = {process.stdout.fileno(): out, process.stderr.fileno(): err}
    timed_out = False
    leftovers = 0
    try:
        timed_out = _pump(process, buffers, started + limits.timeout)
    finally:
        # Only now is the child's exit status final: if it still runs it is killed with the rest.
        leftovers = _kill_everything(group, token)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # unkillable (uninterruptible sleep): give up on it
            pass
        for stream in (process.stdout, process.stderr):
            try:
                stream.close()
            except OSError:
                pass
        with _live_lock:
            _live_groups.discard(group)
    return SandboxOutcome(
        returncode=process.returncode,
        timed_out=timed_out,
        stdout=out.value(),
        stderr=err.value(),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        duration=time.monotonic() - started,
        leftover_processes_killed=leftovers,
    )


def _read_available(fd: int, buffer: _CappedBuffer) -> bool:
    """Read what is there; False once the pipe is closed."""
    try:
        chunk = os.read(fd, _READ_CHUNK)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if not chunk:
        return False
    buffer.add(chunk)
    return True


def _pump(process, buffers: dict[int, _CappedBuffer], deadline: float) -> bool:
    """Drain both pipes until the child exits or the deadline passes; True if it timed out."""
    selector = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if selector.get_map():
                for key, _ in selector.select(timeout=min(remaining, 0.1)):
                    if not _read_available(key.fd, buffers[key.fd]):
                        selector.unregister(key.fd)
            else:
                time.sleep(min(remaining, 0.05))
            if process.poll() is not None:
                # The child is gone; a grandchild may still hold the pipes open: take what is
                # already there and stop.
                drain_until = time.monotonic() + _DRAIN_AFTER_EXIT_SECONDS
                while selector.get_map() and time.monotonic() < drain_until:
                    ready = selector.select(timeout=0.01)
                    if not ready:
                        break
                    for key, _ in ready:
                        if not _read_available(key.fd, buffers[key.fd]):
                            selector.unregister(key.fd)
                return False
    finally:
        selector.close()
