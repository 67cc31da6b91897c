"""The real `jax-purity-lint check` command: paths and excludes, formats, select/ignore, noqa, pyproject
configuration, exit statuses, parallel runs, and `rules`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markers import FIXTURES

CLI = [sys.executable, "-m", "jax_purity_lint"]
ROW = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>JPL\d{3}) (?P<message>.*)$")
DOCS = Path(__file__).resolve().parents[1] / "docs"
SEED_NOTEBOOK = Path(__file__).resolve().parent / "data" / "stateful_computations.ipynb"

BAD = '''import jax

g = 0.0


def impure_uses_global(x):
    return x + g{noqa}


fast = jax.jit(impure_uses_global)
fast(1.0)
g = 10.0
'''

CLEAN = '''import jax

LEARNING_RATE = 0.005


@jax.jit
def update(x):
    return x * LEARNING_RATE
'''

# A global read (JPL100, line 8) and a print (JPL400, line 7) in one jitted function.
TWO_CODES = '''import jax

g = 0.0


def f(x):
    print("x =", x)
    return x + g


fast = jax.jit(f)
fast(1.0)
g = 1.0
'''


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def rows(output: str) -> list[dict]:
    return [m.groupdict() for m in map(ROW.match, output.splitlines()) if m]


def found(output: str) -> set[tuple[str, str]]:
    """(path, code) of each text row, paths with forward slashes."""
    return {(Path(row["path"]).as_posix(), row["code"]) for row in rows(output)}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with its own (empty) table, so no configuration above it is picked up: a
    pyproject.toml without one would not stop the search (surfaces/project.py)."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "example"\n\n[tool.jax_purity_lint]\n')
    return tmp_path


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- output and exit status ------------------------------------------------------------------------


def test_text_output_is_flake8_style_and_findings_exit_1(project):
    write(project, "seed.py", BAD.format(noqa=""))
    result = run_cli("check", "seed.py", cwd=project)
    assert result.returncode == 1, result.stderr
    [row] = rows(result.stdout)
    assert result.stdout.count("\n") == 1
    # `g` is the 16th character of line 7: columns are 1-based, as flake8 prints them.
    assert (row["path"], row["line"], row["col"], row["code"]) == ("seed.py", "7", "16", "JPL100")
    assert "pass it in as an argument" in row["message"]


def test_clean_file_exits_0_and_prints_nothing(project):
    write(project, "clean.py", CLEAN)
    result = run_cli("check", "clean.py", cwd=project)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unparsable_file_is_reported_as_jpl001(project):
    write(project, "broken.py", "import jax\n\n@jax.jit\ndef f(x):\n    return x +\n")
    result = run_cli("check", "broken.py", cwd=project)
    assert result.returncode == 1
    assert [(r["line"], r["code"]) for r in rows(result.stdout)] == [("5", "JPL001")]
    assert "Traceback" not in result.stderr


def test_json_format(project):
    write(project, "seed.py", BAD.format(noqa=""))
    result = run_cli("check", "--format", "json", "seed.py", cwd=project)
    assert result.returncode == 1
    [finding] = json.loads(result.stdout)
    assert finding["path"] == "seed.py" and finding["cell"] is None
    assert (finding["line"], finding["column"], finding["code"]) == (7, 16, "JPL100")
    assert (finding["function"], finding["state"]) == ("impure_uses_global", "g")
    site = {"cell": None, "line": 10, "column": 8, "transform": "jax.jit", "function": "impure_uses_global"}
    assert finding["site"] == site


def test_json_format_of_a_clean_run_is_an_empty_list(project):
    write(project, "clean.py", CLEAN)
    result = run_cli("check", "--format", "json", "clean.py", cwd=project)
    assert (result.returncode, json.loads(result.stdout)) == (0, [])


GITHUB_ANNOTATION = re.compile(
    r"^::warning file=(?P<file>[^,:]+),line=(?P<line>\d+),col=(?P<col>\d+),title=(?P<title>[^,:]+)::(?P<message>.+)$"
)


def test_github_format_follows_the_workflow_command_syntax(project):
    # A comma in the path must be escaped (%2C): it would end the `file` property.
    write(project, "odd,name.py", BAD.format(noqa=""))
    result = run_cli("check", "--format", "github", "odd,name.py", cwd=project)
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    match = GITHUB_ANNOTATION.match(line)
    assert match, line
    assert match["file"] == "odd%2Cname.py"
    assert (match["line"], match["col"]) == ("7", "16")
    assert match["title"] == "JPL100 (mutable-global-read)"
    assert match["message"].startswith("JPL100 `impure_uses_global`")


# -- paths and excludes ----------------------------------------------------------------------------


@pytest.fixture
def tree(project: Path) -> Path:
    for relative in (
        "pkg/a.py",
        "pkg/sub/deeper/b.py",
        "build/generated.py",  # excluded by default
        "experiments/trial.py",  # excluded by pyproject's extend-exclude (a name)
        "pkg/legacy/old.py",  # excluded by pyproject's extend-exclude (a path with a slash)
        "scripts/legacy/kept.py",  # same folder name, other path: not excluded
    ):
        write(project, relative, BAD.format(noqa=""))
    write(project, "pkg/sub/notes.txt", BAD.format(noqa=""))  # not Python: not walked into
    write(project, "pkg/clean.py", CLEAN)
    (project / "pyproject.toml").write_text(
        '[tool.jax_purity_lint]\nextend-exclude = ["experiments", "pkg/legacy"]\n'
    )
    return project


def test_folders_are_walked_recursively_honouring_excludes(tree):
    result = run_cli("check", ".", cwd=tree)
    assert result.returncode == 1, result.stderr
    assert {path for path, _ in found(result.stdout)} == {"pkg/a.py", "pkg/sub/deeper/b.py", "scripts/legacy/kept.py"}


def test_command_line_exclude_replaces_the_default_and_extend_exclude_adds(tree):
    replaced = run_cli("check", "--exclude", "pkg/sub", ".", cwd=tree)
    # `--exclude` replaces the defaults (so build/ is walked) but pyproject's extend-exclude still applies.
    assert {path for path, _ in found(replaced.stdout)} == {"pkg/a.py", "build/generated.py", "scripts/legacy/kept.py"}
    extended = run_cli("check", "--extend-exclude", "deeper", ".", cwd=tree)
    assert {path for path, _ in found(extended.stdout)} == {"pkg/a.py", "scripts/legacy/kept.py"}


def test_named_files_are_checked_unless_force_exclude(tree):
    named = run_cli("check", "experiments/trial.py", "pkg/a.py", cwd=tree)
    assert {path for path, _ in found(named.stdout)} == {"experiments/trial.py", "pkg/a.py"}
    forced = run_cli("check", "--force-exclude", "experiments/trial.py", "pkg/legacy/old.py", "pkg/a.py", cwd=tree)
    assert {path for path, _ in found(forced.stdout)} == {"pkg/a.py"}


def test_a_file_named_twice_is_checked_once(tree):
    result = run_cli("check", "pkg", "pkg/a.py", cwd=tree)
    assert [row["path"] for row in rows(result.stdout)].count("pkg/a.py") == 1


# -- select, ignore, noqa --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,codes",
    [
        ((), {"JPL100", "JPL400"}),
        (("--select", "JPL4"), {"JPL400"}),
        (("--ignore", "JPL400"), {"JPL100"}),
        (("--select", "jpl1,JPL4", "--ignore", "JPL100"), {"JPL400"}),
        (("--select", "JPL", "--ignore", "JPL"), set()),
        # The longer matching prefix wins, as in flake8.
        (("--select", "JPL400", "--ignore", "JPL4"), {"JPL400"}),
    ],
)
def test_select_and_ignore(project, options, codes):
    write(project, "two.py", TWO_CODES)
    result = run_cli("check", *options, "two.py", cwd=project)
    assert {code for _, code in found(result.stdout)} == codes
    assert result.returncode == (1 if codes else 0)


@pytest.mark.parametrize(
    "comment,silenced",
    [
        ("  # noqa: JPL100", True),
        ("  # noqa", True),
        ("  # NOQA:JPL1", True),  # a prefix; `noqa` in any case
        ("  # noqa: jpl100", False),  # codes are case-sensitive in flake8 too
        ("  # noqa: E501, JPL100", True),
        ("  # noqa: JPL2", False),  # another code: flake8 reports it
        ("  # noqa: E501", False),
    ],
)
def test_noqa(project, comment, silenced):
    write(project, "seed.py", BAD.format(noqa=comment))
    result = run_cli("check", "seed.py", cwd=project)
    assert (rows(result.stdout) == []) is silenced
    assert result.returncode == (0 if silenced else 1)


# -- configuration ---------------------------------------------------------------------------------

CUSTOM_JIT = '''import mylib

g = 0.0


@mylib.compile
def f(x):
    print(x)
    return x + g


f(1.0)
g = 1.0
'''


def test_configuration_from_pyproject(project):
    write(project, "src/custom.py", CUSTOM_JIT)
    assert run_cli("check", "src", cwd=project).stdout == ""  # `mylib.compile` is not known to trace
    (project / "pyproject.toml").write_text(
        '[tool.jax_purity_lint]\njit-functions = ["mylib.compile"]\nignore = ["JPL400"]\n'
    )
    configured = run_cli("check", "src", cwd=project)
    assert [(r["line"], r["code"]) for r in rows(configured.stdout)] == [("9", "JPL100")]
    # Found from a subfolder too: the nearest pyproject.toml upwards.
    from_below = run_cli("check", "custom.py", cwd=project / "src")
    assert [(r["line"], r["code"]) for r in rows(from_below.stdout)] == [("9", "JPL100")]
    # The command line overrides it.
    overridden = run_cli("check", "--ignore", "JPL100", "src", cwd=project)
    assert [(r["line"], r["code"]) for r in rows(overridden.stdout)] == [("8", "JPL400")]


def test_config_option_names_the_pyproject(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("settings") / "pyproject.toml"
    elsewhere.write_text('[tool.jax_purity_lint]\nselect = ["JPL4"]\n')
    write(project, "two.py", TWO_CODES)
    result = run_cli("check", "--config", str(elsewhere), "two.py", cwd=project)
    assert {code for _, code in found(result.stdout)} == {"JPL400"}


@pytest.mark.parametrize(
    "args,pyproject,complaint",
    [
        (("--select", "JPL999"), None, "unknown code or prefix 'JPL999'"),
        (("--ignore", "E501"), None, "unknown code or prefix 'E501'"),
        ((), "[tool.jax_purity_lint\nselect = [", "cannot read"),
        ((), '[tool.jax_purity_lint]\nselect = "JPL9"\n', "unknown code or prefix 'JPL9'"),
        ((), '[tool.jax_purity_lint]\nselct = ["JPL"]\n', "unknown key(s) in [tool.jax_purity_lint]: selct"),
        ((), "[tool.jax_purity_lint]\nignore = 400\n", "`ignore` must be a list of strings"),
        (("--config", "nowhere/pyproject.toml"), None, "cannot read nowhere/pyproject.toml"),
        (("--jobs", "0"), None, "must be at least 1"),
        (("--format", "xml"), None, "invalid choice: 'xml'"),
    ],
    ids=["bad-select", "bad-ignore", "malformed-pyproject", "bad-code-in-pyproject", "unknown-key", "wrong-type",
         "missing-config", "zero-jobs", "bad-format"],
)
def test_usage_and_configuration_errors_exit_2(project, args, pyproject, complaint):
    write(project, "seed.py", BAD.format(noqa=""))
    if pyproject is not None:
        (project / "pyproject.toml").write_text(pyproject)
    result = run_cli("check", *args, "seed.py", cwd=project)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert complaint in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_missing_path_exits_2(project):
    write(project, "seed.py", BAD.format(noqa=""))
    result = run_cli("check", "seed.py", "no_such_folder", cwd=project)
    assert result.returncode == 2
    assert "no such file or folder: no_such_folder" in result.stderr
    assert result.stdout == ""


# -- parallel --------------------------------------------------------------------------------------


def test_jobs_2_gives_the_same_output_as_one_job(project):
    corpus = project / "corpus"
    shutil.copytree(FIXTURES, corpus)
    write(project, "corpus/nb/seed.py", BAD.format(noqa=""))
    shutil.copy(SEED_NOTEBOOK, corpus / "nb" / "seed.ipynb")  # notebook findings cross processes too
    # --no-cache: otherwise the second run would only read what the first one stored.
    serial = run_cli("check", "--no-cache", "--format", "json", "corpus", cwd=project)
    parallel = run_cli("check", "--no-cache", "--format", "json", "--jobs", "2", "corpus", cwd=project)
    assert serial.returncode == parallel.returncode == 1
    assert parallel.stderr == ""
    assert json.loads(parallel.stdout) == json.loads(serial.stdout)
    assert len({finding["path"] for finding in json.loads(parallel.stdout)}) > 10


# -- rules and the installed command ---------------------------------------------------------------


def test_rules_lists_every_code_and_prints_a_page(project):
    listing = run_cli("rules", cwd=project)
    assert listing.returncode == 0
    listed = [line.split()[0] for line in listing.stdout.splitlines()]
    assert listed == sorted(page.stem for page in (DOCS / "rules").glob("JPL*.md"))
    page = run_cli("rules", "jpl200", cwd=project)
    assert page.returncode == 0
    assert page.stdout == (DOCS / "rules" / "JPL200.md").read_text(encoding="utf-8")
    unknown = run_cli("rules", "JPL999", cwd=project)
    assert unknown.returncode == 2 and "unknown code 'JPL999'" in unknown.stderr


def test_installed_console_script(project):
    script = shutil.which("jax-purity-lint", path=sysconfig.get_path("scripts"))
    if script is None:
        pytest.skip("the package is not installed with its console script in this environment")
    write(project, "seed.py", BAD.format(noqa=""))
    result = subprocess.run([script, "check", "seed.py"], cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and [r["code"] for r in rows(result.stdout)] == ["JPL100"]


# -- noqa means what it means to flake8 --------------------------------------------------------------

NOQA_COMMENTS = st.sampled_from(["# noqa", "# NoQA", "#noqa", "# noqa:", "# noqa: ", "# noqa:", "# flake8: noqa"])
CODE_LISTS = st.lists(st.sampled_from(["JPL100", "JPL1", "JPL", "jpl100", "E501", "W", "JPL2", "X1"]), max_size=3)
SEPARATORS = st.sampled_from([",", ", ", " ", ",  "])


@settings(max_examples=300, deadline=None)
@given(
    code=st.sampled_from(["JPL100", "JPL200", "JPL001"]),
    comment=NOQA_COMMENTS,
    listed=CODE_LISTS,
    separator=SEPARATORS,
    before=st.sampled_from(["x = g", "return x + g", "x = '# noqa'"]),
)
def test_noqa_agrees_with_flake8(code, comment, listed, separator, before):
    from flake8.violation import Violation

    from jax_purity_lint.surfaces.noqa import suppressed

    line = f"{before}  {comment}{separator.join(listed)}\n"
    flake8_says = Violation(code, "x.py", 1, 1, "message", line).is_inline_ignored(disable_noqa=False)
    assert suppressed(code, line) is flake8_says, line


def test_opt_in_codes_are_reported_only_when_selected_by_name(tmp_path):
    fixture = Path(__file__).resolve().parent / "fixtures" / "jpl202_bound_method_limit.py"
    (tmp_path / "stale.py").write_text(fixture.read_text(encoding="utf-8"), encoding="utf-8")
    default = run_cli("check", "--format", "json", "stale.py", cwd=tmp_path)
    assert "JPL202" not in {row["code"] for row in json.loads(default.stdout or "[]")}
    chosen = run_cli("check", "--format", "json", "--select", "JPL,JPL202", "stale.py", cwd=tmp_path)
    assert "JPL202" in {row["code"] for row in json.loads(chosen.stdout)}
