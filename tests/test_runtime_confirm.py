"""`confirm` as a user meets it: a notebook-style module driven by importing it, a module nothing
drives, the main CLI's `confirm` subcommand (exit status, JSON), the text report and its summary."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jax_purity_lint.diagnostics import Diagnostic, TraceSite
from jax_purity_lint.runtime.confirm import ConfirmOptions, collect_files, confirm_paths
from jax_purity_lint.runtime.report import ProgressBar, render_json, render_text, summary_line
from jax_purity_lint.runtime.verdicts import Verdict

pytestmark = pytest.mark.runtime
ROOT = Path(__file__).resolve().parents[1]

NOTEBOOK = textwrap.dedent(
    """\
    import jax

    g = 0.0


    def impure_uses_global(x):
        return x + g


    print("First call:", jax.jit(impure_uses_global)(4.0))
    g = 10.0
    print("Second call:", jax.jit(impure_uses_global)(5.0))
    """
)
NEVER_CALLED = textwrap.dedent(
    """\
    import jax

    seen = []


    @jax.jit
    def remember(x):
        seen.append(x)
        return x
    """
)


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    folder = tmp_path_factory.mktemp("confirm")
    (folder / "notebook.py").write_text(NOTEBOOK)
    (folder / "never_called.py").write_text(NEVER_CALLED)
    return folder


@pytest.fixture(scope="module")
def cli_result(modules):
    engine = pytest.importorskip("jax_purity_lint.engine", reason="the static analysis is not importable yet")
    del engine
    return subprocess.run(
        [sys.executable, "-m", "jax_purity_lint", "confirm", "--format", "json", "-j", "2", str(modules)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )


def test_cli_exit_status_is_1_when_something_is_confirmed(cli_result):
    assert cli_result.returncode == 1, cli_result.stderr
    assert cli_result.stderr == ""  # no progress bar: stderr is not a terminal


def test_cli_json_import_mode_confirms_with_the_call_that_showed_it(cli_result):
    payload = json.loads(cli_result.stdout)
    files = {Path(f["path"]).name: f for f in payload["files"]}
    notebook = files["notebook.py"]
    assert notebook["drive"] == "import"
    assert notebook["verdicts"] and all(v["verdict"] == "confirmed" for v in notebook["verdicts"])
    # only the first `jax.jit(...)` (line 10) is diagnosed; it fills the cache the second one reuses
    evidence = notebook["verdicts"][0]["evidence"]
    assert (evidence["where"], evidence["eager"], evidence["jitted"]) == ("stdout line 2", "'Second call: 15.0'", "'Second call: 5.0'")
    assert notebook["verdicts"][0]["attribution"] == "with this site switched off the jitted run matches the eager run"
    never = files["never_called.py"]
    assert [v["verdict"] for v in never["verdicts"]] == ["skipped"]
    assert "never calls this trace site" in never["verdicts"][0]["reason"]
    assert payload["summary"]["confirmed"] == len(notebook["verdicts"])
    assert payload["summary"]["skipped"] == 1


def test_text_report_and_summary_line(modules):
    site = TraceSite(6, 1, "jax.jit", "remember")
    diagnostics = {str(modules / "never_called.py"): [Diagnostic("JPL102", 8, 4, "mutates global `seen`", "remember", "seen", site)]}
    report = confirm_paths([str(modules / "never_called.py")], ConfirmOptions(), diagnostics_by_file=diagnostics)
    text = render_text(report)
    assert "never_called.py:8:5: JPL102 skipped: mutates global `seen`" in text
    assert "    site: jax.jit at line 6 (remember)" in text
    assert text.splitlines()[-1] == summary_line(report)
    assert summary_line(report).startswith("summary: 0 confirmed, 0 not reproduced, 0 inconclusive, 1 skipped (1 diagnoses in 1 of 1 files, 1 runs,")
    assert json.loads(render_json(report))["summary"]["skipped"] == 1
    assert len(report.files[0].runs) == 1  # no site reached: no jitted run made


def test_module_entry_point_prints_usage(tmp_path):
    result = subprocess.run([sys.executable, "-m", "jax_purity_lint.runtime", "confirm", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "--timeout" in result.stdout and "-j" in result.stdout
    missing = subprocess.run([sys.executable, "-m", "jax_purity_lint.runtime", "confirm", str(tmp_path / "nope.py")], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_collect_files_walks_folders_and_skips_caches(tmp_path):
    (tmp_path / "a.py").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "b.py").write_text("")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.py").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "d.py").write_text("")
    assert [p.name for p in collect_files([str(tmp_path)])] == ["a.py", "d.py"]


def test_progress_bar_only_on_a_terminal():
    class FakeTerminal:
        def __init__(self, tty):
            self.tty, self.text = tty, ""

        def isatty(self):
            return self.tty

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    quiet, shown = FakeTerminal(False), FakeTerminal(True)
    ticks = iter(range(0, 100, 3))
    for stream in (quiet, shown):
        bar = ProgressBar(stream, clock=lambda: next(ticks))
        bar.run_started("train.py", "eager")
        bar.run_finished("train.py", "eager")
        bar.update(1, 2)
        bar.run_started("model.py", "jit")
        bar.close()
    assert quiet.text == ""
    drawn = [line.strip() for line in shown.text.split("\r") if line.strip()]
    assert drawn == [
        "confirm: 0 files, 0 runs; running train.py: eager (3 s)",
        "confirm: 0 files, 1 runs (6 s)",
        "confirm: 1/2 files, 1 runs (9 s)",
        "confirm: 1/2 files, 1 runs; running model.py: jit (12 s)",
    ]


def test_verdict_names_are_the_issue_s():
    assert [v.value for v in Verdict] == ["confirmed", "not reproduced", "inconclusive", "skipped"]


def test_files_confirmed_in_parallel_are_analysed_one_at_a_time(tmp_path):
    # The analysis shares one project index per process: two threads in it at once once failed a file
    # with an internal error (JPL001), seen as "the diagnosis names no trace site".
    import threading
    import time

    from jax_purity_lint.engine import analyse_file

    inside, most = [0], [0]
    lock = threading.Lock()

    def analyser(source, filename, settings, **options):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)  # long enough for another thread to come in, were it let in
        try:
            return analyse_file(source, filename, settings, **options)
        finally:
            with lock:
                inside[0] -= 1

    for number in range(6):
        (tmp_path / f"clean_{number}.py").write_text("x = 1\n")
    report = confirm_paths([str(tmp_path)], ConfirmOptions(jobs=4), analyzer=analyser)
    assert len(report.files) == 6 and all(f.error is None for f in report.files)
    assert most[0] == 1
