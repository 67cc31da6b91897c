"""One configuration for every surface (surfaces/project.py): each file is configured by the nearest
pyproject.toml above it that holds our table, whatever the working directory; `check -` reads stdin;
flake8, `confirm` and `fix` read the same table as `check`."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jax_purity_lint.cli import main
from jax_purity_lint.engine import analyse_file
from jax_purity_lint.runtime.confirm import diagnoses_to_confirm
from jax_purity_lint.surfaces import project as project_module
from jax_purity_lint.surfaces.cache_folder import CACHE_FOLDER_NAME
from jax_purity_lint.surfaces.config import Config
from jax_purity_lint.surfaces.project import Overrides, Project

from markers import FIXTURES

FLAKE8 = [sys.executable, "-m", "flake8"]

# A global read (JPL100, line 8) and a print (JPL400, line 7) in one jitted function.
TWO_CODES = '''import jax

g = 0.0


def f(x):
    print("x =", x){print_noqa}
    return x + g{read_noqa}


fast = jax.jit(f)
fast(1.0)
g = 1.0
'''

# The same under `mylib.compile`, which is known to trace only when configured (JPL100 at line 9).
CUSTOM_JIT = '''import mylib

g = 0.0


@mylib.compile
def f(x):
    print(x)
    return x + g


f(1.0)
g = 1.0
'''

IGNORE_PRINTS_AND_KNOW_MYLIB = '[tool.jax_purity_lint]\nignore = ["JPL400"]\njit-functions = ["mylib.compile"]\n'


def two_codes(print_noqa: str = "", read_noqa: str = "") -> str:
    return TWO_CODES.format(print_noqa=print_noqa, read_noqa=read_noqa)


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def layout(tmp_path: Path, monkeypatch) -> Path:
    """`proj/` (a project whose table ignores JPL400 and knows mylib.compile) and `elsewhere/`, the
    working directory, which has no configuration of its own."""
    write(tmp_path, "proj/pyproject.toml", IGNORE_PRINTS_AND_KNOW_MYLIB)
    write(tmp_path, "proj/two.py", two_codes())
    write(tmp_path, "proj/custom.py", CUSTOM_JIT)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path


def check(capsys, *args: str) -> tuple[int, list[dict], str]:
    """`jax-purity-lint check --format json --no-cache ARGS`: (exit status, findings, stderr)."""
    status = main(["check", "--format", "json", "--no-cache", *args])
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out else [], captured.err


def findings(rows: list[dict]) -> set[tuple[str, int, str]]:
    return {(Path(row["path"]).as_posix(), row["line"], row["code"]) for row in rows}


# -- discovery -------------------------------------------------------------------------------------


def test_configuration_is_found_from_each_files_folder_not_the_working_directory(layout, capsys):
    status, rows, _ = check(capsys, "../proj/two.py", "../proj/custom.py")
    assert status == 1
    assert findings(rows) == {("../proj/two.py", 8, "JPL100"), ("../proj/custom.py", 9, "JPL100")}


def test_a_pyproject_without_our_table_does_not_stop_the_search(layout, capsys):
    write(layout, "proj/sub/pyproject.toml", '[project]\nname = "packaging-only"\n')
    write(layout, "proj/sub/two.py", two_codes())
    _, rows, _ = check(capsys, "../proj/sub/two.py")
    assert findings(rows) == {("../proj/sub/two.py", 8, "JPL100")}


def test_the_nearest_table_wins_and_tables_are_not_merged(layout, capsys):
    write(layout, "proj/sub/pyproject.toml", '[tool.jax_purity_lint]\nselect = ["JPL4"]\n')
    write(layout, "proj/sub/two.py", two_codes())
    write(layout, "proj/sub/custom.py", CUSTOM_JIT)  # the sub-project does not know mylib.compile
    _, rows, _ = check(capsys, "../proj")
    assert findings(rows) == {
        ("../proj/two.py", 8, "JPL100"),
        ("../proj/custom.py", 9, "JPL100"),
        ("../proj/sub/two.py", 7, "JPL400"),
    }


@pytest.mark.parametrize("table", ["jax_purity_lint", "jax-purity-lint"])
def test_both_spellings_of_the_table_are_read(layout, capsys, table):
    (layout / "proj/pyproject.toml").write_text(f'[tool.{table}]\nignore = ["JPL100"]\n')
    _, rows, _ = check(capsys, "../proj/two.py")
    assert findings(rows) == {("../proj/two.py", 7, "JPL400")}


def test_both_spellings_in_one_file_is_an_error_naming_both(layout, capsys):
    (layout / "proj/pyproject.toml").write_text(
        '[tool.jax_purity_lint]\nignore = ["JPL100"]\n\n[tool.jax-purity-lint]\nignore = ["JPL400"]\n'
    )
    status, rows, stderr = check(capsys, "../proj/two.py")
    assert status == 2 and rows == []
    assert "[tool.jax_purity_lint] and [tool.jax-purity-lint]" in stderr and "pyproject.toml" in stderr


def test_excludes_are_relative_to_their_pyprojects_folder(layout, capsys):
    (layout / "proj/pyproject.toml").write_text('[tool.jax_purity_lint]\nextend-exclude = ["gen/skip.py"]\n')
    write(layout, "proj/gen/skip.py", two_codes())
    write(layout, "proj/gen/keep.py", two_codes())
    _, rows, _ = check(capsys, "--select", "JPL1", "../proj")
    assert {path for path, _, _ in findings(rows)} == {"../proj/two.py", "../proj/gen/keep.py"}


def test_command_line_options_are_laid_over_each_files_configuration(layout, capsys):
    write(layout, "proj/sub/pyproject.toml", '[tool.jax_purity_lint]\nselect = ["JPL4"]\n')
    write(layout, "proj/sub/two.py", two_codes())
    # --select replaces both tables' select; the root's ignore of JPL400 stays in force.
    _, rows, _ = check(capsys, "--select", "JPL", "../proj/two.py", "../proj/sub/two.py")
    assert findings(rows) == {
        ("../proj/two.py", 8, "JPL100"),
        ("../proj/sub/two.py", 7, "JPL400"),
        ("../proj/sub/two.py", 8, "JPL100"),
    }


def test_config_option_replaces_discovery_for_every_file(layout, capsys):
    write(layout, "settings.toml", '[tool.jax_purity_lint]\nselect = ["JPL4"]\n')
    _, rows, _ = check(capsys, "--config", "../settings.toml", "../proj/two.py", "../proj/custom.py")
    assert findings(rows) == {("../proj/two.py", 7, "JPL400")}  # mylib.compile is unknown to settings.toml


def test_each_folder_is_configured_once_however_many_files_it_holds(layout, monkeypatch):
    for folder in ("a", "b", "b/c"):
        for number in range(20):
            write(layout, f"proj/{folder}/m{number}.py", "")
    reads = []
    real_read_table = project_module.read_table
    monkeypatch.setattr(project_module, "read_table", lambda path: reads.append(path) or real_read_table(path))
    project = Project()
    configs = {project.config_for(path) for path in (layout / "proj").rglob("*.py")}
    assert [path.parent.name for path in reads] == ["proj"]  # one read, for 62 files in 4 folders
    assert len(configs) == 1 and next(iter(configs)).settings.jit_functions == {"mylib.compile"}


# -- the results cache -----------------------------------------------------------------------------


def test_the_cache_goes_beside_the_pyproject_that_configures_the_files(layout, capsys):
    write(layout, "other/pyproject.toml", "[tool.jax-purity-lint]\n")
    write(layout, "other/two.py", two_codes())
    assert main(["check", "../proj/two.py", "../other/two.py"]) == 1
    capsys.readouterr()
    assert (layout / "proj" / CACHE_FOLDER_NAME).is_dir() and (layout / "other" / CACHE_FOLDER_NAME).is_dir()
    assert not (layout / "elsewhere" / CACHE_FOLDER_NAME).exists()


def test_without_a_table_the_cache_stays_in_the_working_directory(tmp_path, monkeypatch, capsys):
    write(tmp_path, "code/two.py", two_codes())
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    assert main(["check", "../code/two.py"]) == 1
    capsys.readouterr()
    assert (tmp_path / "run" / CACHE_FOLDER_NAME).is_dir() and not (tmp_path / "code" / CACHE_FOLDER_NAME).exists()


# -- check - (stdin) -------------------------------------------------------------------------------


def feed_stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


def test_stdin_without_a_name_is_configured_from_the_working_directory(layout, monkeypatch, capsys):
    monkeypatch.chdir(layout / "proj")
    feed_stdin(monkeypatch, two_codes())
    status, rows, _ = check(capsys, "-")
    assert status == 1 and findings(rows) == {("stdin", 8, "JPL100")}


def test_stdin_filename_names_the_output_and_finds_the_configuration(layout, monkeypatch, capsys):
    feed_stdin(monkeypatch, CUSTOM_JIT)
    status, rows, _ = check(capsys, "--stdin-filename", "../proj/pkg/new.py", "-")
    assert status == 1 and findings(rows) == {("../proj/pkg/new.py", 9, "JPL100")}


def test_stdin_honours_noqa_and_never_writes_a_file(layout, monkeypatch, capsys):
    before = sorted(layout.rglob("*"))
    feed_stdin(monkeypatch, two_codes(read_noqa="  # noqa: JPL100"))
    assert main(["check", "--stdin-filename", "../proj/two.py", "-"]) == 0  # the cache is on, but unused
    assert capsys.readouterr().out == ""
    assert sorted(layout.rglob("*")) == before


def test_excludes_apply_to_the_stdin_filename_only_with_force_exclude(layout, monkeypatch, capsys):
    (layout / "proj/pyproject.toml").write_text('[tool.jax_purity_lint]\nextend-exclude = ["generated"]\n')
    feed_stdin(monkeypatch, two_codes())
    _, named, _ = check(capsys, "--stdin-filename", "../proj/generated/two.py", "-")
    assert {code for _, _, code in findings(named)} == {"JPL100", "JPL400"}
    feed_stdin(monkeypatch, two_codes())
    status, forced, _ = check(capsys, "--force-exclude", "--stdin-filename", "../proj/generated/two.py", "-")
    assert status == 0 and forced == []


@pytest.mark.parametrize(
    "args,complaint",
    [
        (("-", "../proj/two.py"), "cannot be combined with other paths"),
        (("--stdin-filename", "x.py", "../proj/two.py"), "give `-` as the only path"),
        (("--stdin-filename", "nb.ipynb", "-"), "a notebook cannot be read from stdin"),
    ],
)
def test_stdin_usage_errors_exit_2(layout, monkeypatch, capsys, args, complaint):
    feed_stdin(monkeypatch, two_codes())
    status, rows, stderr = check(capsys, *args)
    assert status == 2 and rows == [] and complaint in stderr


# -- flake8 reads the same table -------------------------------------------------------------------


def run_flake8(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*FLAKE8, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def flake8_findings(output: str) -> set[tuple[str, int, int, str]]:
    found = set()
    for line in output.splitlines():
        path, number, column, message = line.split(":", 3)
        found.add((Path(path).as_posix(), int(number), int(column), message.split()[0]))
    return found


def test_flake8_and_check_give_the_same_findings_under_the_same_pyproject(layout, capsys):
    flake8 = run_flake8("--select", "JPL", "../proj", cwd=layout / "elsewhere")
    assert "Traceback" not in flake8.stderr
    _, rows, _ = check(capsys, "../proj")
    from_check = {(Path(row["path"]).as_posix(), row["line"], row["column"], row["code"]) for row in rows}
    assert flake8_findings(flake8.stdout) == from_check
    expected = {("../proj/two.py", "JPL100"), ("../proj/custom.py", "JPL100")}  # JPL400 ignored; mylib known
    assert {(path, code) for path, _, _, code in from_check} == expected


def test_flake8s_own_options_take_precedence_over_the_pyproject(layout):
    def codes(*options: str) -> set[tuple[str, str]]:
        result = run_flake8("--select", "JPL", *options, ".", cwd=layout / "proj")
        return {(path, code) for path, _, _, code in flake8_findings(result.stdout)}

    assert codes() == {("two.py", "JPL100"), ("custom.py", "JPL100")}
    assert ("two.py", "JPL400") in codes("--extend-select", "JPL400")  # as specific as the ignore: flake8's wins
    assert codes("--jpl-jit-functions", "other.compile") == {("two.py", "JPL100")}  # replaces jit-functions


def test_a_pyproject_select_turns_an_opt_in_code_on_for_flake8_too(tmp_path):
    shutil.copy(FIXTURES / "jpl202_bound_method_limit.py", tmp_path / "stale.py")

    def codes() -> set[str]:
        result = run_flake8("--select", "JPL", "stale.py", cwd=tmp_path)
        return {code for _, _, _, code in flake8_findings(result.stdout)}

    (tmp_path / "pyproject.toml").write_text('[tool.jax_purity_lint]\nselect = ["JPL"]\n')
    assert "JPL202" not in codes()
    (tmp_path / "pyproject.toml").write_text('[tool.jax_purity_lint]\nselect = ["JPL", "JPL202"]\n')
    assert "JPL202" in codes()


@pytest.mark.parametrize(
    "pyproject",
    ["[tool.jax_purity_lint\nselect = [", '[tool.jax_purity_lint]\nselct = ["JPL"]\n'],
    ids=["malformed-toml", "unknown-key"],
)
def test_a_wrong_pyproject_is_jpl001_in_flake8_and_exit_2_in_check(layout, capsys, pyproject):
    (layout / "proj/pyproject.toml").write_text(pyproject)
    flake8 = run_flake8("--select", "JPL", "two.py", cwd=layout / "proj")
    assert "Traceback" not in flake8.stderr
    [line] = flake8.stdout.splitlines()
    assert line.startswith("two.py:1:1: JPL001 could not analyse this file: ") and "pyproject.toml" in line
    status, rows, stderr = check(capsys, "../proj/two.py")
    assert status == 2 and rows == [] and "pyproject.toml" in stderr


# -- confirm and fix -------------------------------------------------------------------------------


def test_confirm_leaves_out_noqa_and_ignored_diagnoses_and_applies_the_settings(layout):
    config = Project().config_for(layout / "proj/two.py")
    source = two_codes(read_noqa="  # noqa: JPL100")
    path = layout / "proj/two.py"
    def codes(text, configuration):
        return [d.code for d in diagnoses_to_confirm(text, path, configuration, analyse_file).diagnostics]

    assert codes(source, Config()) == ["JPL400"]
    assert codes(source, config) == []  # JPL400 ignored, JPL100 noqa
    assert codes(CUSTOM_JIT, config) == ["JPL100"]
    assert codes(CUSTOM_JIT, Config()) == []


def test_confirm_command_uses_the_project_and_runs_nothing_it_would_not_report(layout, capsys):
    (layout / "proj/pyproject.toml").write_text(
        '[tool.jax_purity_lint]\nignore = ["JPL400"]\nextend-exclude = ["experiments"]\n'
    )
    (layout / "proj/custom.py").unlink()
    (layout / "proj/two.py").write_text(two_codes(read_noqa="  # noqa"))
    write(layout, "proj/experiments/trial.py", two_codes())
    status = main(["confirm", "--format", "json", "../proj"])
    payload = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [Path(f["path"]).name for f in payload["files"]] == ["two.py"]  # experiments/ is excluded
    assert payload["files"][0]["verdicts"] == [] and payload["summary"]["runs"] == 0


def test_confirm_exits_2_on_a_wrong_pyproject(layout, capsys):
    (layout / "proj/pyproject.toml").write_text("[tool.jax_purity_lint]\nignore = 400\n")
    assert main(["confirm", "../proj"]) == 2
    assert "`ignore` must be a list of strings" in capsys.readouterr().err


def test_fix_reads_each_files_configuration(layout, capsys):
    (layout / "proj/pyproject.toml").write_text('[tool.jax_purity_lint]\nignore = ["JPL100"]\n')
    write(layout, "proj/read.py", two_codes().replace('    print("x =", x)\n', ""))
    assert main(["fix", "--diff", "../proj/read.py"]) == 0  # its project ignores the one finding
    assert capsys.readouterr().out == ""
    (layout / "proj/pyproject.toml").write_text("[tool.jax_purity_lint]\n")
    assert main(["fix", "--diff", "../proj/read.py"]) == 1
    assert "+def f(x, g):" in capsys.readouterr().out


def test_overrides_read_only_the_options_a_subcommand_has():
    class FixArguments:  # `fix` has no --jit-functions
        select, ignore, exclude, extend_exclude = ["JPL1"], None, None, None

    overrides = Overrides.from_arguments(FixArguments())
    assert (overrides.select, overrides.ignore, overrides.jit_functions) == (("JPL1",), None, None)
