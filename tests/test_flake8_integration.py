"""The real flake8 executable with the plugin installed: registration, codes, noqa, stdin, options."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jax_purity_lint.codes import OPT_IN_CODES
from jax_purity_lint.surfaces.cache_folder import CACHE_FOLDER_NAME

from markers import FIXTURES, expected_findings, fixture_files

FLAKE8 = [sys.executable, "-m", "flake8", "--isolated"]
ROW = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>JPL\d{3}) (?P<message>.*)$")


def run_flake8(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*FLAKE8, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300)


def rows(output: str) -> list[dict]:
    return [m.groupdict() for m in map(ROW.match, output.splitlines()) if m]


def test_flake8_version_lists_the_plugin(tmp_path):
    result = subprocess.run([sys.executable, "-m", "flake8", "--version"], capture_output=True, text=True)
    assert "jax-purity-lint" in result.stdout


def test_flake8_reports_exactly_the_fixture_markers(tmp_path):
    # Every code, the opt-in ones included (the fixtures mark them too).
    opt_in = ",".join(sorted(OPT_IN_CODES))
    result = run_flake8("--select", "JPL", "--extend-select", opt_in, "--jobs", "2", str(FIXTURES), cwd=tmp_path)
    assert "crashed" not in result.stderr, result.stderr
    found: dict[str, set] = {}
    for row in rows(result.stdout):
        found.setdefault(Path(row["path"]).name, set()).add((int(row["line"]), row["code"]))
    for path in fixture_files():
        expected = expected_findings(path.read_text(encoding="utf-8"))
        assert found.get(path.name, set()) == expected, path.name


SEED = '''import jax

g = 0.0


def impure_uses_global(x):
    return x + g{noqa}


fast = jax.jit(impure_uses_global)
fast(1.0)
g = 10.0
'''


def test_column_is_one_based_in_flake8_output(tmp_path):
    (tmp_path / "seed.py").write_text(SEED.format(noqa=""))
    [row] = rows(run_flake8("--select", "JPL", "seed.py", cwd=tmp_path).stdout)
    assert (row["line"], row["col"], row["code"]) == ("7", "16", "JPL100")  # `g` is the 16th character
    assert "pass it in as an argument" in row["message"]


def test_a_file_large_enough_to_be_parsed_in_pieces_is_located_right(tmp_path):
    """Over 2,000 lines, the engine parses pieces of whole statements (source/parsing.py) cut where
    flake8's own tree says statements start: findings keep their line and column, CRLF or not."""
    filler = "".join(f"def filler_{i}(x):\n    return x\n\n\n" for i in range(800))
    again = SEED.format(noqa="").replace("import jax\n", "").replace("impure_uses_global", "again").replace("fast", "fast_again")
    source = SEED.format(noqa="") + "\n\n" + filler + again
    second = source.count("\n", 0, source.rindex("return x + g")) + 1
    for newline in ("\n", "\r\n"):
        (tmp_path / "large.py").write_bytes(source.replace("\n", newline).encode())
        found = [(row["line"], row["col"], row["code"]) for row in rows(run_flake8("--select", "JPL", "large.py", cwd=tmp_path).stdout)]
        assert found == [("7", "16", "JPL100"), (str(second), "16", "JPL100")], newline
        assert second > 3000


@pytest.mark.parametrize("comment,silenced", [("  # noqa: JPL100", True), ("  # noqa", True), ("  # noqa: JPL2", False)])
def test_noqa(tmp_path, comment, silenced):
    (tmp_path / "seed.py").write_text(SEED.format(noqa=comment))
    assert bool(rows(run_flake8("--select", "JPL", "seed.py", cwd=tmp_path).stdout)) is not silenced


def test_select_and_ignore(tmp_path):
    (tmp_path / "seed.py").write_text(SEED.format(noqa=""))
    assert rows(run_flake8("--select", "JPL2", "seed.py", cwd=tmp_path).stdout) == []
    assert rows(run_flake8("--select", "JPL", "--ignore", "JPL100", "seed.py", cwd=tmp_path).stdout) == []
    assert rows(run_flake8("--select", "E", "--extend-select", "JPL1", "seed.py", cwd=tmp_path).stdout)


def test_per_file_ignores_from_setup_cfg(tmp_path):
    (tmp_path / "seed.py").write_text(SEED.format(noqa=""))
    (tmp_path / "setup.cfg").write_text("[flake8]\nselect = JPL\nper-file-ignores =\n    seed.py:JPL100\n")
    result = subprocess.run([sys.executable, "-m", "flake8", "seed.py"], cwd=tmp_path, capture_output=True, text=True)
    assert rows(result.stdout) == []


def test_stdin_mode_as_editors_use_it(tmp_path):
    result = run_flake8("--select", "JPL", "--stdin-display-name=pkg/seed.py", "-", cwd=tmp_path, stdin=SEED.format(noqa=""))
    [row] = rows(result.stdout)
    assert row["path"] == "pkg/seed.py" and row["code"] == "JPL100"


CUSTOM = '''import mylib

g = 0.0


@mylib.compile
def f(x):
    return x + g


f(1.0)
g = 1.0
'''


def test_extra_jit_functions_option_from_setup_cfg(tmp_path):
    (tmp_path / "custom.py").write_text(CUSTOM)
    plain = subprocess.run([sys.executable, "-m", "flake8", "--select", "JPL", "custom.py"], cwd=tmp_path, capture_output=True, text=True)
    assert rows(plain.stdout) == []
    (tmp_path / "setup.cfg").write_text("[flake8]\nselect = JPL\njpl-jit-functions = mylib.compile\n")
    configured = subprocess.run([sys.executable, "-m", "flake8", "custom.py"], cwd=tmp_path, capture_output=True, text=True)
    assert [(r["line"], r["code"]) for r in rows(configured.stdout)] == [("8", "JPL100")]


def test_unparsable_file_does_not_crash_flake8(tmp_path):
    (tmp_path / "broken.py").write_text("import jax\ndef f(:\n")
    result = run_flake8("broken.py", cwd=tmp_path)
    assert "crashed" not in result.stderr and "Traceback" not in result.stderr
    assert "E999" in result.stdout


LOADED_PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('loaded:', 'jax_purity_lint.engine' in sys.modules, 'libcst' in sys.modules))\n"
    "from flake8.main.cli import main\nmain(sys.argv[1:])\n"
)
APPENDING = "import jax\ng = []\n@jax.jit\ndef f(x):\n    g.append(x)\n    return x\n"
ENGINE_AND_LIBCST, NEITHER = "loaded: True True", "loaded: False False"


def flake8_probed(*args: str, cwd: Path) -> tuple[list[tuple[str, str, str]], str]:
    """flake8's rows (path, line, code), and whether the engine and libcst were loaded."""
    result = subprocess.run([sys.executable, "-c", LOADED_PROBE, *args], cwd=cwd, capture_output=True, text=True,
                            timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    *reported, loaded = result.stdout.splitlines()
    return [(row["path"], row["line"], row["code"]) for row in rows("\n".join(reported))], loaded


def test_an_editor_save_of_a_file_without_a_site_loads_neither_the_engine_nor_libcst(tmp_path):
    """flake8 runs once per save in a fresh process: what the plugin imports is paid each time. A
    file without a trace site costs the configuration and the prefilter only (the on-save figures
    of docs/performance.md); a file with a site loads the engine and libcst, and is reported."""
    (tmp_path / "plain.py").write_text("import os\n\nprint(os.getcwd())\n")
    (tmp_path / "jax_no_site.py").write_text('import jax\n"""jax.jit it later."""\nx = jax.numpy.ones(3)\n')
    (tmp_path / "site.py").write_text(APPENDING)
    assert flake8_probed("--isolated", "plain.py", cwd=tmp_path) == ([], NEITHER)
    assert flake8_probed("--isolated", "jax_no_site.py", cwd=tmp_path) == ([], NEITHER)
    assert flake8_probed("--isolated", "site.py", cwd=tmp_path) == ([("site.py", "5", "JPL102")], ENGINE_AND_LIBCST)


def test_flake8_serves_an_unchanged_file_from_the_results_cache(tmp_path):
    """A file flake8 sees again unchanged (on opening it, over a whole tree) is answered from
    .jpl_cache without libcst; an edited file is analysed again."""
    (tmp_path / "seed.py").write_text(APPENDING)
    cold = flake8_probed("--isolated", "seed.py", cwd=tmp_path)
    assert cold == ([("seed.py", "5", "JPL102")], ENGINE_AND_LIBCST)
    assert (tmp_path / CACHE_FOLDER_NAME).is_dir()
    assert flake8_probed("--isolated", "seed.py", cwd=tmp_path) == ([("seed.py", "5", "JPL102")], NEITHER)
    (tmp_path / "seed.py").write_text("\n" + APPENDING)  # edited: the finding moves down a line
    assert flake8_probed("--isolated", "seed.py", cwd=tmp_path) == ([("seed.py", "6", "JPL102")], ENGINE_AND_LIBCST)


def test_a_cached_flake8_result_follows_the_other_modules_it_depends_on(tmp_path):
    """train.py's finding depends on config.py, which flake8 is not even asked to check: changing
    config.py changes train.py's result, cached or not."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text("import jax\nfrom . import config\n\n\n@jax.jit\ndef step(x):\n    return x * config.LR\n")
    changing = "LR = 0.1\n\n\ndef set_lr(value):\n    global LR\n    LR = value\n"
    (package / "config.py").write_text(changing)
    finding = [("pkg/train.py", "7", "JPL100")]
    assert flake8_probed("--isolated", "pkg/train.py", cwd=tmp_path)[0] == finding
    # Served from the cache: whether config.py still says the same is asked without libcst.
    assert flake8_probed("--isolated", "pkg/train.py", cwd=tmp_path) == (finding, NEITHER)
    (package / "config.py").write_text("LR = 0.1\n")
    assert flake8_probed("--isolated", "pkg/train.py", cwd=tmp_path)[0] == []
    (package / "config.py").write_text(changing)
    assert flake8_probed("--isolated", "pkg/train.py", cwd=tmp_path)[0] == finding


def test_jpl_no_cache_writes_nothing(tmp_path):
    (tmp_path / "seed.py").write_text(APPENDING)
    for _ in range(2):
        assert flake8_probed("--isolated", "--jpl-no-cache", "seed.py", cwd=tmp_path) == (
            [("seed.py", "5", "JPL102")], ENGINE_AND_LIBCST)
    (tmp_path / "setup.cfg").write_text("[flake8]\njpl-no-cache = true\n")  # as a configuration option
    assert flake8_probed("seed.py", cwd=tmp_path)[1] == ENGINE_AND_LIBCST
    assert not (tmp_path / CACHE_FOLDER_NAME).exists()


def test_the_plugin_reuses_flake8s_tree_and_parses_with_libcst_only_files_that_need_it(monkeypatch):
    """flake8 hands plugins the `ast` tree it built: the engine's prefilter and preflight use it
    rather than parsing again, and a file naming no transformation never reaches libcst."""
    import ast

    import libcst

    from jax_purity_lint.source import preflight
    from jax_purity_lint.flake8_plugin import JaxPurityPlugin

    libcst_parses = []
    real_parse_module = libcst.parse_module
    monkeypatch.setattr(preflight.ast, "parse", lambda *a, **k: pytest.fail("parsed again with ast"))
    monkeypatch.setattr(libcst, "parse_module", lambda source: libcst_parses.append(source) or real_parse_module(source))

    def run(source: str) -> list:
        tree = compile(source, "<test>", "exec", ast.PyCF_ONLY_AST)  # as flake8 builds it, not via ast.parse
        return [message.split()[0] for _, _, message, _ in JaxPurityPlugin(tree, source.splitlines(True), "m.py").run()]

    assert run('import jax\n"""Wrap it in jax.jit later."""\nx = jax.numpy.ones(3)\n') == []
    assert libcst_parses == []
    seed = "import jax\ng = []\n@jax.jit\ndef f(x):\n    g.append(x)\n    return x\n"
    assert run(seed) == ["JPL102"]
    assert libcst_parses == [seed]


def test_opt_in_codes_only_when_selected_by_name(tmp_path):
    """JPL202 is opt-in: `--select JPL` leaves it out; naming it (or a longer prefix) turns it on."""
    shutil.copy(FIXTURES / "jpl202_bound_method_limit.py", tmp_path / "stale.py")

    def codes(*options: str) -> set[str]:
        return {row["code"] for row in rows(run_flake8(*options, "stale.py", cwd=tmp_path).stdout)}

    assert "JPL202" not in codes("--select", "JPL")
    assert "JPL202" in codes("--select", "JPL", "--extend-select", "JPL202")
    assert "JPL202" in codes("--select", "JPL2")
