"""Warm side: the program of the warm interpreter (warm_start.py starts it, one per confirming process).

    python FLAGS -c "<bootstrap>" CONTROL_FD MODULE... PACKAGE_ROOT

It imports the modules every run imports first (JAX and the child's own), says it is ready on its
control socket, and from then on only forks: each request brings a socket to answer on and the run's
stdin, stdout and stderr, and becomes one process that runs ``python FLAGS -c CODE ARGS`` as a fresh
interpreter started with those flags would (warm_start.py's docstring lists what is made fresh). The
warm interpreter itself runs no code of a request, so no run sees what another did.

Each request is handled by a fork (the waiter) that forks the run, reports its pid once it leads its
own session, waits for it and reports its exit status: the warm interpreter never waits on anything
but its control socket, and ends when that closes (the confirming process ended or closed it).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import socket
import sys
import traceback
import types
import warnings

from .sandbox import TOKEN_VARIABLE, SandboxLimits, _limit_setter

READY = b"R"
REQUEST = b"r"
# Placed in the warm interpreter's environment, overwritten in place with each run's token: a run's
# environment block (what /proc/PID/environ shows, for it and anything it forks) carries its token.
TOKEN_PLACEHOLDER = "0" * 32


def serve(control_fd: int, base_path: list[str], preload: list[str]) -> None:
    control = socket.socket(fileno=control_fd)
    for name in preload:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # waiters are reaped by the kernel
    control.sendall(READY)
    while True:
        data, fds, _flags, _address = socket.recv_fds(control, 1, 4)
        if not data:
            os._exit(0)  # the confirming process is gone or done
        if data != REQUEST or len(fds) != 4:
            _close_all(fds)
            continue
        try:
            pid = _fork()
        except OSError:
            _close_all(fds)  # the requester sees its socket close and starts the run cold
            continue
        if pid == 0:
            control.close()
            _wait_on_one_run(fds[0], fds[1:], base_path)
        _close_all(fds)


def _fork() -> int:
    with warnings.catch_warnings():  # Python 3.12 warns of fork beside BLAS threads: nothing here locks
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _close_all(fds) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _wait_on_one_run(answer_fd: int, stdio: list[int], base_path: list[str]) -> None:
    """The waiter: never returns."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # so that the run can be waited for
        answer = socket.socket(fileno=answer_fd)
        request = json.loads(_read_line(answer))
        session_made, session_made_write = os.pipe()
        pid = _fork()
        if pid == 0:
            answer.close()
            os.close(session_made)
            _become_the_run(request, stdio, session_made_write, base_path)
        os.close(session_made_write)
        _close_all(stdio)
        os.read(session_made, 1)  # its own session first: killing its group then reaches it
        os.close(session_made)
        try:
            answer.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        except OSError:  # the requester is gone: nobody would time the run out or kill it
            os.killpg(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        answer.sendall(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
    except BaseException:
        pass  # the requester sees its socket close
    os._exit(0)


def _read_line(answer: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = answer.recv(1 << 16)
        if not chunk:
            raise EOFError("the request ended early")
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


def _become_the_run(request: dict, stdio: list[int], session_made: int, base_path: list[str]) -> None:
    """The run: never returns."""
    try:
        os.setsid()
        os.close(session_made)
        _mark_environment_block(request["env"].get(TOKEN_VARIABLE, ""))
        # The limits a cold start sets before exec, set here before anything of the job runs.
        _limit_setter(SandboxLimits(memory_bytes=request["memory_bytes"], file_size_bytes=request["file_size_bytes"]))()
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        _close_all(stdio)
        os.chdir(request["cwd"])
        _make_fresh(request["env"], base_path)
        code = request["argv"][0]
        sys.argv = ["-c", *request["argv"][1:]]
    except BaseException:
        traceback.print_exc()
        _leave(1)
    _leave(_run_as_main(code))


def _mark_environment_block(token: str) -> None:
    if len(token) != len(TOKEN_PLACEHOLDER):
        return
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_void_p
    address = libc.getenv(TOKEN_VARIABLE.encode())  # still the block the interpreter started with
    if address:
        ctypes.memmove(address, token.encode(), len(token))


def _make_fresh(env: dict, base_path: list[str]) -> None:
    """What a fork shares with the warm interpreter that a fresh interpreter would have made anew."""
    os.environ.clear()
    os.environ.update(env)
    import tempfile

    tempfile.tempdir = None  # found again from TMPDIR, if a preloaded module asked for it
    sys.path[:] = base_path
    # `random` reseeds itself in a fork; NumPy's global generator does not: seeded from the system,
    # as at a fresh import.
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main


def _run_as_main(code: str) -> int:
    """Run `-c CODE` as the interpreter runs it: its exit status."""
    try:
        exec(compile(code, "<string>", "exec"), sys.modules["__main__"].__dict__)
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            return exit.code or 0
        print(exit.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _leave(status: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(status)
