"""Warm starts: a run forked from a warm interpreter is the run a cold start makes, in everything the
sandbox promises and everything a fresh interpreter has anew, and whatever it does, the next run does
not see it. On plain Python commands (the warm interpreter here imports nothing heavy: fast); the
hostile modules of test_runtime_sandbox.py run both ways through `confirm`."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from jax_purity_lint.runtime import sandbox, warm_start
from jax_purity_lint.runtime.experiment import _INTERPRETER_FLAGS, PACKAGE_ROOT
from jax_purity_lint.runtime.sandbox import SandboxLimits, run_sandboxed, start_process
from jax_purity_lint.runtime.warm_start import WarmInterpreter, WarmProcess

FLAGS = _INTERPRETER_FLAGS
LIMITS = SandboxLimits(timeout=20)

# What a fresh interpreter shows of itself: compared between a cold start and a warm fork.
DESCRIBE = """
import json, os, random, sys, tempfile
print(json.dumps({
    "argv": sys.argv,
    "path": sys.path,
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "tempdir": tempfile.gettempdir(),
    "main": sorted(k for k in globals() if not k.startswith("__")),
    "main_name": __name__,
    "stdin": sys.stdin.read(),
    "session_leader": os.getsid(0) == os.getpid(),
    "group_leader": os.getpgid(0) == os.getpid(),
    "random": random.random(),
}))
"""


@pytest.fixture(scope="module")
def warm():
    # `random` and NumPy as JAX's import loads them: what a fork shares unless it is made fresh.
    interpreter = WarmInterpreter.start(sys.executable, FLAGS, dict(os.environ), PACKAGE_ROOT, preload=("random", "numpy.random"))
    assert interpreter is not None
    yield interpreter
    interpreter.close()


def _environment(tmp_path):
    for name in ("home", "tmp"):
        (tmp_path / name).mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp"), "MARK": "run"}


def _run(warm, argv, tmp_path, limits=LIMITS):
    launch = warm.launch if warm is not None else start_process
    return run_sandboxed(argv, cwd=str(tmp_path), env=_environment(tmp_path), limits=limits, launch=launch)


def _python(code, *args):
    return [sys.executable, *FLAGS, "-c", code, *args]


def test_a_warm_run_is_forked_not_started(warm, tmp_path):
    outcome = _run(warm, _python("import os; print(os.getppid())"), tmp_path)
    assert outcome.returncode == 0
    assert int(outcome.stdout) != os.getpid()  # its parent is the warm interpreter's waiter, not us


def test_a_warm_run_shows_what_a_cold_start_shows(warm, tmp_path):
    cold = json.loads(_run(None, _python(DESCRIBE, "a", "b"), tmp_path).stdout)
    forked = json.loads(_run(warm, _python(DESCRIBE, "a", "b"), tmp_path).stdout)
    assert forked["random"] != cold["random"]  # seeded anew: not the warm interpreter's sequence
    tokens = [run["env"].pop(sandbox.TOKEN_VARIABLE) for run in (cold, forked)]
    assert tokens[0] != tokens[1] and warm_start.TOKEN_PLACEHOLDER not in tokens  # each run's own
    del cold["random"], forked["random"]
    assert forked == cold
    assert forked["argv"] == ["-c", "a", "b"] and forked["env"]["MARK"] == "run"
    assert forked["tempdir"] == str(tmp_path / "tmp") and forked["session_leader"] and forked["stdin"] == ""


def test_two_warm_runs_draw_different_random_numbers(warm, tmp_path):
    code = "import random, numpy; print(random.random(), numpy.random.rand())"
    first, second = (_run(warm, _python(code), tmp_path).stdout.split() for _ in range(2))
    assert first[0] != second[0] and first[1] != second[1]


def test_what_a_run_changes_the_next_run_does_not_see(warm, tmp_path):
    code = "import json, sys; print(hasattr(json, 'CHANGED'), 'planted' in sys.modules); json.CHANGED = 1; sys.modules['planted'] = json"
    assert _run(warm, _python(code), tmp_path).stdout.split() == [b"False", b"False"]
    assert _run(warm, _python(code), tmp_path).stdout.split() == [b"False", b"False"]


def test_exit_statuses_are_those_of_a_cold_start(warm, tmp_path):
    for code, status in [
        ("import sys; sys.exit(3)", 3),
        ("import sys; sys.exit('bye')", 1),
        ("raise ValueError('boom')", 1),
        ("import os; os._exit(7)", 7),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", -11),
    ]:
        assert _run(warm, _python(code), tmp_path).returncode == _run(None, _python(code), tmp_path).returncode == status, code
    outcome = _run(warm, _python("raise ValueError('boom')"), tmp_path)
    assert b"ValueError: boom" in outcome.stderr


def test_output_is_captured_and_capped_at_the_file_descriptor(warm, tmp_path):
    code = "import os, sys\nprint('out'); print('err', file=sys.stderr)\nfor _ in range(100):\n    os.write(1, b'x' * (1 << 20))\n"
    outcome = _run(warm, _python(code), tmp_path, SandboxLimits(timeout=30, output_cap=1 << 16))
    assert outcome.returncode == 0 and not outcome.timed_out
    assert outcome.stdout.startswith(b"out\n") and len(outcome.stdout) == 1 << 16 and outcome.stdout_truncated
    assert outcome.stderr == b"err\n"


def test_the_memory_limit_holds(warm, tmp_path):
    outcome = _run(warm, _python("x = bytearray(8 << 30)\n"), tmp_path, SandboxLimits(timeout=20, memory_bytes=1 << 30))
    assert outcome.returncode == 1 and b"MemoryError" in outcome.stderr


def test_a_timeout_kills_the_run_and_what_it_started(warm, tmp_path):
    code = (
        "import subprocess\n"
        "p = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
        "while True:\n    pass\n"
    )
    outcome = _run(warm, _python(code), tmp_path, SandboxLimits(timeout=2))
    assert outcome.timed_out and outcome.returncode == -9
    assert not _alive(int(outcome.stdout.split()[0]))


def test_a_forked_daemon_that_leaves_the_session_is_found_by_its_token_and_killed(warm, tmp_path):
    # Not exec'd: its environment block is the warm interpreter's, where the run wrote its token.
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        print(os.getpid(), flush=True)\n"
        "        time.sleep(300)\n"
        "    os._exit(0)\n"
        "time.sleep(1)\n"
    )
    outcome = _run(warm, _python(code), tmp_path)
    assert outcome.returncode == 0 and outcome.leftover_processes_killed == 1
    assert not _alive(int(outcome.stdout.split()[0]))


def test_an_interrupted_checker_kills_warm_runs(warm, tmp_path):
    process = warm.launch(_python("import time; time.sleep(300)"), str(tmp_path), _environment(tmp_path), LIMITS)
    with sandbox._live_lock:
        sandbox._live_groups.add(process.pid)
    try:
        sandbox.kill_all_running()
        assert process.wait(timeout=10) == -9
    finally:
        sandbox.allow_new_runs()
        with sandbox._live_lock:
            sandbox._live_groups.discard(process.pid)


def test_commands_it_cannot_run_start_cold(warm, tmp_path):
    assert not warm.runs([sys.executable, "-c", "pass"])  # other flags than its own
    assert not warm.runs(["/bin/sh", *FLAGS, "-c", "true"])
    assert not warm.runs([sys.executable, *FLAGS, "-m", "json.tool"])
    launch = warm_start._WarmLaunch(warm)
    process = launch(["/bin/sh", "-c", "echo $0"], str(tmp_path), _environment(tmp_path), LIMITS)
    assert not isinstance(process, WarmProcess)
    assert process.communicate()[0] == b"/bin/sh\n"


def test_once_the_warm_interpreter_is_gone_runs_start_cold(tmp_path):
    interpreter = WarmInterpreter.start(sys.executable, FLAGS, dict(os.environ), PACKAGE_ROOT, preload=())
    interpreter._process.kill()
    interpreter._process.wait()
    launch = warm_start._WarmLaunch(interpreter)
    outcome = run_sandboxed(_python("print('ran')"), cwd=str(tmp_path), env=_environment(tmp_path), limits=LIMITS, launch=launch)
    assert outcome.returncode == 0 and outcome.stdout == b"ran\n"
    assert not interpreter.alive
    interpreter.close()


def test_an_interpreter_that_cannot_get_ready_is_not_used(tmp_path):
    assert WarmInterpreter.start(sys.executable, FLAGS, dict(os.environ), PACKAGE_ROOT, preload=("module_that_does_not_exist_jpl",)) is None


def test_runs_in_parallel_are_forked_side_by_side(warm, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda i: _run(warm, _python(f"import time; time.sleep(1); print({i})"), tmp_path), range(4)))
    assert [int(o.stdout) for o in outcomes] == [0, 1, 2, 3]
    assert time.monotonic() - started < 3.5  # not one after the other


def test_the_warm_interpreter_leaves_when_its_owner_closes_it():
    interpreter = WarmInterpreter.start(sys.executable, FLAGS, dict(os.environ), PACKAGE_ROOT, preload=())
    pid = interpreter._process.pid
    interpreter.close()
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # a process just killed may take a moment to go
        if not sandbox._running(pid):
            return False
        time.sleep(0.05)
    return True


def test_other_systems_than_linux_start_cold(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert warm_start.warm_launch(sys.executable, FLAGS, dict(os.environ), PACKAGE_ROOT, ()) is start_process


def test_a_run_whose_requester_is_gone_before_its_pid_is_killed(warm, tmp_path):
    import json
    import socket
    import uuid

    token = uuid.uuid4().hex
    ours, theirs = socket.socketpair()
    stdio = [os.open(os.devnull, os.O_RDONLY), os.open(os.devnull, os.O_WRONLY), os.open(os.devnull, os.O_WRONLY)]
    request = {
        "argv": ["import time; time.sleep(300)"], "cwd": str(tmp_path), "env": {**_environment(tmp_path), sandbox.TOKEN_VARIABLE: token},
        "memory_bytes": None, "file_size_bytes": LIMITS.file_size_bytes,
    }
    socket.send_fds(warm._control, [warm_start.REQUEST], [theirs.fileno(), *stdio])
    for fd in [theirs.fileno(), *stdio]:
        os.close(fd)
    theirs.detach()
    ours.sendall(json.dumps(request).encode() + b"\n")
    ours.close()  # gone before the pid comes back: nothing would ever time the run out
    time.sleep(2)  # time for the run to be forked, and for its waiter to find the requester gone
    assert not [pid for pid in sandbox._processes_with_token(token) if _alive(pid)]
