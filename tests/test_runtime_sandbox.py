"""The sandbox against hostile modules: every one becomes a verdict with its reason, the checker
survives, and nothing is left running or touched outside the run's own directory.

The hostile modules are confirmed together (two at a time), with hand-built diagnostics so this does
not depend on the static analysis: once with each run forked from the warm interpreter, once with
each started cold."""

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jax_purity_lint.diagnostics import Diagnostic, TraceSite
from jax_purity_lint.runtime import sandbox
from jax_purity_lint.runtime.child import CappedText
from jax_purity_lint.runtime.confirm import ConfirmOptions, confirm_paths
from jax_purity_lint.runtime.sandbox import SandboxLimits, run_sandboxed
from jax_purity_lint.runtime.verdicts import Verdict

HEADER = textwrap.dedent(
    """\
    import jax

    @jax.jit
    def step(x):
        return x + 1
    """
)
SITE = TraceSite(line=3, col=1, transform="jax.jit", function="step")
DIAGNOSIS = Diagnostic("JPL100", 5, 11, "reads a mutable global", "step", "x", SITE)

HOSTILE = {
    "infinite_loop": """
        def scenario():
            step(1.0)
            while True:
                pass
        """,
    "exits_with_3": """
        import sys
        sys.exit(3)
        """,
    "hard_exit_mid_run": """
        import os
        def scenario():
            print("half way")
            step(1.0)
            os._exit(0)
        """,
    "segfault": """
        import ctypes
        def scenario():
            step(1.0)
            ctypes.string_at(0)
        """,
    "huge_output": """
        import os
        def scenario():
            for _ in range(100):
                print("x" * (1 << 20))  # 100 MB through sys.stdout
            for _ in range(20):
                os.write(1, b"y" * (1 << 20))  # 20 MB straight to the file descriptor
            return float(step(1.0))
        """,
    "leaves_processes": """
        import subprocess
        kept = subprocess.Popen(["sleep", "300"])
        escaped = subprocess.Popen(["sleep", "301"], start_new_session=True)
        with open(PIDS, "a") as pids:
            pids.write(f"{kept.pid} {escaped.pid}\\n")
        def scenario():
            return float(step(1.0))
        """,
    "forks_a_daemon": """
        import os, time
        if os.fork() == 0:  # not exec'd: only its environment block says whose it is
            os.setsid()
            if os.fork() == 0:
                with open(DAEMONS, "a") as pids:
                    pids.write(f"{os.getpid()}\\n")
                time.sleep(300)
            os._exit(0)
        time.sleep(0.5)
        def scenario():
            return float(step(1.0))
        """,
    "exhausts_memory": """
        def scenario():
            step(1.0)
            hog = []
            while True:
                hog.append(bytearray(b"\\x01") * (128 << 20))
        """,
    "deletes_its_folder": """
        import os
        for name in os.listdir("."):
            os.remove(name)
        with open("written_by_module.txt", "w") as handle:
            handle.write("x")
        def scenario():
            return float(step(1.0))
        """,
    "import_error": """
        import module_that_does_not_exist_jpl
        def scenario():
            return 1
        """,
}


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie is dead, only not yet reaped by its new parent


@pytest.fixture(scope="module", params=["warm", "cold"])
def hostile(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"hostile-{request.param}")
    pids = folder.parent / f"pids-{request.param}.txt"
    daemons = folder.parent / f"daemons-{request.param}.txt"
    (folder / "precious.txt").write_text("do not delete")
    diagnostics = {}
    for name, body in HOSTILE.items():
        code = HEADER + textwrap.dedent(body).replace("PIDS", repr(str(pids))).replace("DAEMONS", repr(str(daemons)))
        path = folder / f"{name}.py"
        path.write_text(code)
        diagnostics[str(path)] = [DIAGNOSIS]
    options = ConfirmOptions(jobs=2, timeout=20, memory_mb=2500, warm_start=request.param == "warm")
    started = time.monotonic()
    report = confirm_paths([str(folder)], options, diagnostics_by_file=diagnostics)
    return {
        "folder": folder,
        "pids": pids,
        "daemons": daemons,
        "seconds": time.monotonic() - started,
        "files": {Path(f.path).stem: f for f in report.files},
    }


def verdict_of(hostile, name):
    (verdict,) = hostile["files"][name].verdicts
    return verdict


def test_checker_survives_all_and_leaves_no_sandbox_running(hostile):
    assert set(hostile["files"]) == set(HOSTILE)
    assert all(f.error is None for f in hostile["files"].values()), [f.error for f in hostile["files"].values()]
    assert not sandbox._live_groups


def test_infinite_loop_times_out(hostile):
    verdict = verdict_of(hostile, "infinite_loop")
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert "did not finish within 20 s" in verdict.reason


def test_sys_exit(hostile):
    verdict = verdict_of(hostile, "exits_with_3")
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert "sys.exit(3)" in verdict.reason


def test_os_exit_mid_run(hostile):
    verdict = verdict_of(hostile, "hard_exit_mid_run")
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert "exited with status 0 before reporting" in verdict.reason


def test_segfault(hostile):
    verdict = verdict_of(hostile, "segfault")
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert "SIGSEGV" in verdict.reason


def test_huge_output_is_capped_and_compared(hostile):
    report = hostile["files"]["huge_output"]
    assert verdict_of(hostile, "huge_output").verdict is Verdict.NOT_REPRODUCED
    assert all(run.outcome == "ok" for run in report.runs)
    assert any("longer than the capture limit" in note for note in report.notes)


def test_processes_left_running_are_killed(hostile):
    assert verdict_of(hostile, "leaves_processes").verdict is Verdict.NOT_REPRODUCED
    pids = [int(pid) for pid in hostile["pids"].read_text().split()]
    assert len(pids) == 4  # eager and jitted runs, one kept and one escaped process each
    assert not [pid for pid in pids if _pid_alive(pid)]
    assert any("killed" in note for note in hostile["files"]["leaves_processes"].notes)


def test_a_daemon_forked_without_exec_is_killed(hostile):
    assert verdict_of(hostile, "forks_a_daemon").verdict is Verdict.NOT_REPRODUCED
    pids = [int(pid) for pid in hostile["daemons"].read_text().split()]
    assert len(pids) == 2  # eager and jitted runs
    assert not [pid for pid in pids if _pid_alive(pid)]
    assert any("killed 1 process" in note for note in hostile["files"]["forks_a_daemon"].notes)


def test_memory_exhaustion(hostile):
    verdict = verdict_of(hostile, "exhausts_memory")
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert "MemoryError" in verdict.reason or "memory limit" in verdict.reason


def test_module_deleting_files_only_sees_its_temporary_directory(hostile):
    folder = hostile["folder"]
    assert verdict_of(hostile, "deletes_its_folder").verdict is Verdict.NOT_REPRODUCED
    assert (folder / "precious.txt").read_text() == "do not delete"
    assert (folder / "deletes_its_folder.py").is_file()
    assert not (folder / "written_by_module.txt").exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(["precious.txt", *(f"{n}.py" for n in HOSTILE)])


def test_import_error_is_skipped(hostile):
    verdict = verdict_of(hostile, "import_error")
    assert verdict.verdict is Verdict.SKIPPED
    assert "ModuleNotFoundError" in verdict.reason


# -- the sandbox itself, on plain Python commands (no jax: fast) ------------------------------------


def test_sandbox_caps_output_at_the_file_descriptor(tmp_path):
    code = "import os\nfor _ in range(100):\n    os.write(1, b'x' * (1 << 20))\n"
    outcome = run_sandboxed([sys.executable, "-c", code], cwd=str(tmp_path), env=os.environ, limits=SandboxLimits(timeout=30, output_cap=1 << 16))
    assert outcome.returncode == 0 and not outcome.timed_out
    assert len(outcome.stdout) == 1 << 16 and outcome.stdout_truncated


def test_sandbox_timeout_kills_the_whole_tree(tmp_path):
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
        "while True:\n    pass\n"
    )
    outcome = run_sandboxed([sys.executable, "-c", code], cwd=str(tmp_path), env=os.environ, limits=SandboxLimits(timeout=2))
    assert outcome.timed_out and outcome.returncode == -9
    grandchild = int(outcome.stdout.split()[0])
    assert not _pid_alive(grandchild)


def test_sandbox_reports_a_command_that_cannot_start(tmp_path):
    outcome = run_sandboxed(["/nonexistent/python"], cwd=str(tmp_path), env=os.environ, limits=SandboxLimits(timeout=2))
    assert outcome.start_error and outcome.returncode is None


def test_sandbox_memory_limit(tmp_path):
    code = "x = bytearray(8 << 30)\n"
    outcome = run_sandboxed([sys.executable, "-c", code], cwd=str(tmp_path), env=os.environ, limits=SandboxLimits(timeout=20, memory_bytes=1 << 30))
    assert outcome.returncode == 1 and b"MemoryError" in outcome.stderr


def test_capped_text_keeps_the_beginning_and_counts_the_rest():
    text = CappedText(10)
    for _ in range(1000):
        print("0123456789", file=text)
    assert text.getvalue() == "0123456789" and text.truncated and text.total == 11000


def test_no_run_starts_once_the_checker_is_interrupted(tmp_path):
    sandbox.kill_all_running()
    try:
        outcome = run_sandboxed([sys.executable, "-c", "pass"], cwd=str(tmp_path), env=os.environ, limits=SandboxLimits(timeout=5))
        assert outcome.start_error == "the checker was interrupted"
    finally:
        sandbox.allow_new_runs()
    assert run_sandboxed([sys.executable, "-c", "pass"], cwd=str(tmp_path), env=os.environ, limits=SandboxLimits(timeout=5)).returncode == 0
