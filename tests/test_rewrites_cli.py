"""`jax-purity-lint fix`: the diff, the safe write, and the atomic writer's guarantees."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jax_purity_lint.cli import main
from jax_purity_lint.rewrites.writer import RefusedWrite, SourceFile, write_rewrite

ROOT = Path(__file__).parent.parent
SEED = ROOT / "examples" / "seed_bugs.py"
FIXTURES = ROOT / "tests" / "fixtures"

COUNTER_V2_LINES = (
    "+    def count(self, n: CounterState) -> tuple[int, CounterState]:",
    "+        return n, n",
    "+    def reset(self) -> CounterState:",
    "+def impure_uses_global(x, g):",
)

UNSAFE_ONLY = '''import jax
import numpy as np


@jax.jit
def noisy(x):
    return x + np.random.normal()


def scenario():
    return float(noisy(1.0))
'''


@pytest.fixture
def seed_copy(tmp_path):
    target = tmp_path / "seed_bugs.py"
    shutil.copyfile(SEED, target)
    return target


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".jpl-fix")]


def test_diff_shows_the_counter_v2_rewrite_and_writes_nothing(seed_copy, capsys):
    before = seed_copy.read_bytes()
    status = main(["fix", "--diff", str(seed_copy)])
    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith(f"--- {seed_copy}\n+++ {seed_copy}\n")  # absolute paths are shown as they are
    for line in COUNTER_V2_LINES:
        assert line in out.splitlines()
    assert seed_copy.read_bytes() == before


def test_fix_writes_the_safe_rewrites_and_a_second_run_changes_nothing(seed_copy, capsys):
    assert main(["fix", str(seed_copy)]) == 0
    first = seed_copy.read_text(encoding="utf-8")
    assert "def count(self, n: CounterState) -> tuple[int, CounterState]:" in first
    assert "def impure_uses_global(x, g):" in first
    stamp = seed_copy.stat().st_mtime_ns
    assert main(["fix", str(seed_copy)]) == 0
    assert seed_copy.read_text(encoding="utf-8") == first
    assert seed_copy.stat().st_mtime_ns == stamp
    assert main(["fix", "--diff", str(seed_copy)]) == 0
    assert capsys.readouterr().out == ""
    assert _leftovers(seed_copy.parent) == []


def test_files_with_nothing_to_fix_are_not_touched(tmp_path):
    clean = tmp_path / "clean.py"
    shutil.copyfile(FIXTURES / "ok_constant_globals.py", clean)
    stamp = clean.stat().st_mtime_ns
    assert main(["fix", str(clean)]) == 0
    assert clean.stat().st_mtime_ns == stamp


def test_unsafe_rewrites_are_only_shown_or_written_on_request(tmp_path, capsys):
    module = tmp_path / "noisy.py"
    module.write_text(UNSAFE_ONLY, encoding="utf-8")
    assert main(["fix", str(module)]) == 1
    assert module.read_text(encoding="utf-8") == UNSAFE_ONLY
    assert "needs review" in capsys.readouterr().err
    assert main(["fix", "--diff", str(module)]) == 1
    diff = capsys.readouterr().out
    assert "+# jax-purity-lint: JPL401 (needs review)" in diff
    assert "jax.random" in diff
    assert main(["fix", "--diff", "--safe-only", str(module)]) == 0
    assert capsys.readouterr().out == ""
    main(["fix", "--unsafe", str(module)])
    assert "# jax-purity-lint: JPL401 (needs review)" in module.read_text(encoding="utf-8")


def test_a_function_imported_by_another_file_is_not_rewritten_by_default(tmp_path, capsys):
    model = tmp_path / "model.py"
    shutil.copyfile(FIXTURES / "jpl100_global_scale_decorator.py", model)
    (tmp_path / "user.py").write_text("from model import predict\n\nprint(predict(1.0))\n", encoding="utf-8")
    before = model.read_bytes()
    assert main(["fix", str(tmp_path)]) == 1
    assert model.read_bytes() == before
    assert "imported by another module" in capsys.readouterr().err


def test_module_entry_point_shows_the_counter_v2_rewrite():
    completed = subprocess.run(
        [sys.executable, "-m", "jax_purity_lint", "fix", "--diff", "examples/seed_bugs.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 1, completed.stderr
    for line in COUNTER_V2_LINES:
        assert line in completed.stdout.splitlines()


# -- the writer ---------------------------------------------------------------------------------------------


def _fix_in_place(path: Path) -> None:
    assert main(["fix", "-q", str(path)]) == 0


def test_newlines_encoding_bom_and_mode_are_kept(tmp_path):
    source = (FIXTURES / "jpl100_global_scale_decorator.py").read_text(encoding="utf-8")
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(source.replace("\n", "\r\n").encode("utf-8"))
    latin = tmp_path / "latin.py"
    latin.write_bytes(("# -*- coding: latin-1 -*-\n# café\n" + source).encode("latin-1"))
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbf" + source.encode("utf-8"))
    for path in (crlf, latin, bom):
        os.chmod(path, 0o754)
        _fix_in_place(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o754
    crlf_bytes = crlf.read_bytes()
    assert b"def predict(x, SCALE):\r\n" in crlf_bytes and b"\n" not in crlf_bytes.replace(b"\r\n", b"")
    assert "# café".encode("latin-1") in latin.read_bytes()
    assert "def predict(x, SCALE):" in latin.read_bytes().decode("latin-1")
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf") and b"def predict(x, SCALE):" in bom.read_bytes()
    assert _leftovers(tmp_path) == []


def test_writer_refuses_when_the_file_changed_since_it_was_read(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("x = 1\n", encoding="utf-8")
    source = SourceFile.read(path)
    path.write_text("x = 2\n", encoding="utf-8")
    with pytest.raises(RefusedWrite, match="changed since it was read"):
        write_rewrite(source, "x = 3\n")
    assert path.read_text(encoding="utf-8") == "x = 2\n"
    assert _leftovers(tmp_path) == []


def test_writer_refuses_a_result_that_does_not_compile(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("x = 1\n", encoding="utf-8")
    source = SourceFile.read(path)
    with pytest.raises(RefusedWrite, match="does not compile"):
        write_rewrite(source, "def f(:\n")
    assert path.read_text(encoding="utf-8") == "x = 1\n"
    assert _leftovers(tmp_path) == []
