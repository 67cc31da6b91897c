"""Parent side of warm starts: each sandboxed run forked from an interpreter that has imported JAX.

Importing JAX costs a fresh interpreter about a second, most of a short run, and `confirm` starts
several per diagnosed file. A warm interpreter (warm_server.py), started once per confirming process
with the runs' executable, flags and environment, imports what every run imports first (JAX and the
child's own modules) and then only forks. A run forked from it is what sandbox.py makes of a cold
start: its own session and process group, its limits, stdin closed, stdout and stderr on the
sandbox's pipes, its environment (its token in the environment block, so that whatever it forks
carries it), its working folder; and it is made fresh where a fork would share state with the warm
interpreter: `sys.path` and `__main__` as a new interpreter has them, NumPy's global generator
seeded anew (`random` reseeds itself in a fork), the temporary folder found again. A command the warm interpreter cannot run
(another executable or other flags than it was started with, or not `-c CODE`), or a warm interpreter
that is gone, starts cold.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .sandbox import TOKEN_VARIABLE, Launch, SandboxLimits, start_process
from .warm_server import READY, REQUEST, TOKEN_PLACEHOLDER

STARTUP_SECONDS = 120.0  # importing JAX on a loaded machine; past it, runs start cold
ANSWER_SECONDS = 30.0  # from a request to the run's pid

_BOOTSTRAP = (
    "import sys; root = sys.argv.pop(); base = list(sys.path); sys.path.insert(0, root); "
    "from jax_purity_lint.runtime.warm_server import serve; serve(int(sys.argv[1]), base, sys.argv[2:])"
)


class _Answers:
    """The waiter's answers about one run, a JSON object per line: its pid, then its exit status (both
    may come in one read, when the run ends at once)."""

    def __init__(self, answer: socket.socket) -> None:
        self.socket = answer
        self._unread = b""

    def next(self, timeout: Optional[float]) -> Optional[dict]:
        """The next answer; None if none came within `timeout`. Raises EOFError once the waiter is gone."""
        while b"\n" not in self._unread:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                if not selector.select(timeout):
                    return None
            chunk = self.socket.recv(1 << 12)
            if not chunk:
                raise EOFError("the waiter is gone")
            self._unread += chunk
        line, self._unread = self._unread.split(b"\n", 1)
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise ValueError(f"not an answer: {line!r}")
        return answer


class WarmProcess:
    """A run forked by the warm interpreter, with what sandbox.py uses of a subprocess.Popen."""

    def __init__(self, pid: int, answers: _Answers, stdout_fd: int, stderr_fd: int) -> None:
        self.pid = pid
        self.returncode: Optional[int] = None
        self.stdout = os.fdopen(stdout_fd, "rb", buffering=0)
        self.stderr = os.fdopen(stderr_fd, "rb", buffering=0)
        self._answers = answers

    def poll(self) -> Optional[int]:
        self._read_status(0.0)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise subprocess.TimeoutExpired(f"run {self.pid}", timeout)
            self._read_status(remaining)
        return self.returncode

    def _read_status(self, timeout: Optional[float]) -> None:
        if self.returncode is not None:
            return
        try:
            answer = self._answers.next(timeout)
        except EOFError:  # its waiter was killed: the status is lost, the run is not waited for again
            answer = {"status": -9}
        if answer is not None:
            self.returncode = int(answer["status"])
            self._answers.socket.close()


class WarmInterpreter:
    def __init__(self, process: subprocess.Popen, control: socket.socket, executable: str, flags: tuple[str, ...], folder: Path) -> None:
        self._process = process
        self._control = control
        self._executable = executable
        self._flags = flags
        self._folder = folder
        self._send_lock = threading.Lock()
        self.alive = True

    @classmethod
    def start(
        cls, executable: str, flags: Sequence[str], env: Mapping[str, str], package_root: str, preload: Sequence[str]
    ) -> Optional["WarmInterpreter"]:
        """None when it cannot start or does not get ready in time (JAX not importable, say): runs then
        start cold, and say for themselves what goes wrong."""
        folder = Path(tempfile.mkdtemp(prefix="jpl-warm-"))
        ours, theirs = socket.socketpair()
        try:
            for name in ("home", "tmp"):
                (folder / name).mkdir()
            server_env = {**env, "HOME": str(folder / "home"), "TMPDIR": str(folder / "tmp"), TOKEN_VARIABLE: TOKEN_PLACEHOLDER}
            argv = [executable, *flags, "-c", _BOOTSTRAP, str(theirs.fileno()), *preload, package_root]
            process = subprocess.Popen(
                argv, env=server_env, cwd=str(folder), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), start_new_session=True,
            )
        except (OSError, subprocess.SubprocessError):
            ours.close()
            shutil.rmtree(folder, ignore_errors=True)
            return None
        finally:
            theirs.close()
        warm = cls(process, ours, executable, tuple(flags), folder)
        ours.settimeout(STARTUP_SECONDS)
        try:
            ready = ours.recv(1) == READY
        except OSError:
            ready = False
        ours.settimeout(None)
        if not ready:
            warm.close()
            return None
        return warm

    def runs(self, argv: Sequence[str]) -> bool:
        """Whether `argv` is a command this interpreter can run: its executable and flags, then `-c`."""
        head = [self._executable, *self._flags, "-c"]
        return list(argv[: len(head)]) == head and len(argv) > len(head)

    def launch(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], limits: SandboxLimits) -> WarmProcess:
        """Raises OSError when the warm interpreter cannot fork the run (then it is not used again)."""
        if not self.alive:
            raise OSError("the warm interpreter has ended")
        ours, theirs = socket.socketpair()
        stdin_fd = os.open(os.devnull, os.O_RDONLY)
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        theirs_fds = [theirs.fileno(), stdin_fd, stdout_write, stderr_write]
        try:
            with self._send_lock:
                socket.send_fds(self._control, [REQUEST], theirs_fds)
            request = {
                "argv": list(argv[len(self._flags) + 2 :]),
                "cwd": cwd,
                "env": dict(env),
                "memory_bytes": limits.memory_bytes,
                "file_size_bytes": limits.file_size_bytes,
            }
            ours.sendall(json.dumps(request).encode() + b"\n")
            answers = _Answers(ours)
            pid = _read_pid(answers)
        except OSError:
            self.alive = False
            ours.close()
            os.close(stdout_read)
            os.close(stderr_read)
            raise
        finally:
            theirs.close()
            for fd in (stdin_fd, stdout_write, stderr_write):
                os.close(fd)
        return WarmProcess(pid, answers, stdout_read, stderr_read)

    def close(self) -> None:
        self.alive = False
        self._control.close()  # it leaves when its control socket closes
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def _read_pid(answers: _Answers) -> int:
    """Raises OSError when the warm interpreter did not start the run."""
    try:
        answer = answers.next(ANSWER_SECONDS)
        if answer is None:
            raise OSError(f"the warm interpreter did not answer within {ANSWER_SECONDS:g} s")
        return int(answer["pid"])
    except (EOFError, ValueError, KeyError, TypeError) as error:
        raise OSError(f"the warm interpreter did not start the run: {error!r}") from error


class _WarmLaunch:
    """A sandbox Launch: the warm interpreter's fork where it can, a cold start otherwise."""

    def __init__(self, warm: Optional[WarmInterpreter]) -> None:
        self._warm = warm

    def __call__(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], limits: SandboxLimits):
        warm = self._warm
        if warm is not None and warm.alive and warm.runs(argv):
            try:
                return warm.launch(argv, cwd, env, limits)
            except OSError:
                pass  # gone: this run and the next start cold
        return start_process(argv, cwd, env, limits)


_interpreters: dict[tuple, Optional[WarmInterpreter]] = {}
_interpreters_lock = threading.Lock()


def warm_launch(executable: str, flags: Sequence[str], env: Mapping[str, str], package_root: str, preload: Sequence[str]) -> Launch:
    """The launch for runs of `executable FLAGS -c ...` in `env` (the runs' environment but for their own
    HOME and TMPDIR): one warm interpreter per such combination, per process, started on first use;
    cold starts on other systems than Linux."""
    if not sys.platform.startswith("linux"):
        return start_process  # forking after JAX's import is what is tested, on Linux only
    key = (executable, tuple(flags), tuple(sorted(env.items())), package_root, tuple(preload))
    with _interpreters_lock:
        if key not in _interpreters:
            # Another environment: the old interpreter is not used again (runs it forked go on without it).
            for old in _interpreters.values():
                if old is not None:
                    old.close()
            _interpreters.clear()
            _interpreters[key] = WarmInterpreter.start(executable, flags, env, package_root, preload)
        return _WarmLaunch(_interpreters[key])


@atexit.register
def close_all() -> None:
    with _interpreters_lock:
        interpreters = [warm for warm in _interpreters.values() if warm is not None]
        _interpreters.clear()
    for warm in interpreters:
        warm.close()
