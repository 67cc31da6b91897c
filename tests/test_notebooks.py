"""Notebooks through the real CLI: cells joined (cross-cell globals), magics and shell lines skipped,
findings at `nb.ipynb:cell N:line L`; the tutorial notebook from the seed, and the shipped example."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_NOTEBOOK = ROOT / "tests" / "data" / "stateful_computations.ipynb"
EXAMPLE_NOTEBOOK = ROOT / "examples" / "stateful_computations.ipynb"
CLI = [sys.executable, "-m", "jax_purity_lint"]
ROW = re.compile(
    r"^(?P<path>.+?):cell (?P<cell>\d+):line (?P<line>\d+):(?P<col>\d+): (?P<code>JPL\d{3}) (?P<message>.*)$"
)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def rows(output: str) -> list[dict]:
    lines = output.splitlines()
    matched = [m.groupdict() for m in map(ROW.match, lines) if m]
    assert len(matched) == len(lines), f"rows not in the notebook form: {output}"
    return matched


def findings(output: str) -> list[tuple[int, int, str]]:
    return [(int(r["cell"]), int(r["line"]), r["code"]) for r in rows(output)]


def code_cells(path: Path) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def write_notebook(path: Path, cells: list[str], language: str = "python") -> Path:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# A title cell, not code\n", "x = 1"]},
            *({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}
              for src in cells),
        ],
        "metadata": {"kernelspec": {"name": "k", "display_name": "k", "language": language}},
        "nbformat": 4,
        "nbformat_minor": 2,
    }
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "example"\n[tool.jax_purity_lint]\n')
    return tmp_path


# -- the tutorial notebook (the seed) --------------------------------------------------------------


def test_seed_notebook_code_parses():
    """The seed had lost its indentation; the test input has it restored (tests/data/README.md)."""
    ast.parse("\n".join(code_cells(SEED_NOTEBOOK)))


def test_seed_notebook_counter_bug_found_and_cures_clean(project):
    notebook = project / "stateful_computations.ipynb"
    notebook.write_bytes(SEED_NOTEBOOK.read_bytes())
    result = run_cli("check", notebook.name, cwd=project)
    assert result.returncode == 1, result.stderr
    # Only `self.n += 1` of Counter.count (cell 1, line 12), traced by `jax.jit(counter.count)` in
    # cell 2: nothing in CounterV2 (cells 3-4), nor in `update` reading LEARNING_RATE (cell 5).
    assert findings(result.stdout) == [(1, 12, "JPL200")]
    [row] = rows(result.stdout)
    assert row["path"] == "stateful_computations.ipynb" and row["col"] == "5"
    assert code_cells(SEED_NOTEBOOK)[0].splitlines()[11].strip() == "self.n += 1"
    # The message's line references are in cells too.
    assert "traced by `jax.jit` at cell 2, line 2" in row["message"] and "self.n" in row["message"]
    assert code_cells(SEED_NOTEBOOK)[1].splitlines()[1] == "fast_count = jax.jit(counter.count)"


def test_seed_notebook_json_output_locates_the_trace_site_in_its_cell(project):
    result = run_cli("check", "--format", "json", str(SEED_NOTEBOOK), cwd=project)
    [finding] = json.loads(result.stdout)
    assert (finding["cell"], finding["line"], finding["code"], finding["state"]) == (1, 12, "JPL200", "self.n")
    assert (finding["site"]["cell"], finding["site"]["line"], finding["site"]["transform"]) == (2, 2, "jax.jit")


def test_example_notebook_both_tutorial_bugs(project):
    result = run_cli("check", str(EXAMPLE_NOTEBOOK), cwd=project)
    assert result.returncode == 1, result.stderr
    # The global read of `impure_uses_global` (cell 2), rebound in cell 3; Counter's `self.n += 1`.
    assert findings(result.stdout) == [(2, 4, "JPL100"), (4, 8, "JPL200")]
    cells = code_cells(EXAMPLE_NOTEBOOK)
    assert cells[1].splitlines()[3].strip() == "return x + g"
    assert cells[3].splitlines()[7].strip() == "self.n += 1"
    assert "rebound at cell 3, line 2" in result.stdout


def test_notebooks_are_found_by_walking_folders(project):
    (project / "notebooks" / "deep").mkdir(parents=True)
    (project / "notebooks" / "deep" / "nb.ipynb").write_bytes(SEED_NOTEBOOK.read_bytes())
    result = run_cli("check", ".", cwd=project)
    assert [r["path"] for r in rows(result.stdout)] == ["notebooks/deep/nb.ipynb"]


# -- joining cells, magics, shell lines ------------------------------------------------------------

IPYTHON_CELLS = [
    "%matplotlib inline\n!pip install --quiet jax\nimport jax\nimport jax.numpy as jnp\n",
    "%%bash\necho this is not python (\nls -la\n",
    "files = !ls\nscale = 1.0\njnp.dot?\n",
    "def apply(x):\n    %time y = x\n    return x * scale\n",
    "fast = jax.jit(apply)\nfast(1.0)\n",
    "%%time\nscale = 2.0\n",  # a cell magic's cell is skipped whole: this rebinding is not seen
    "scale = 3.0  # rebound: `apply` keeps 1.0\n",
]


def test_magics_and_shell_lines_are_skipped_and_globals_cross_cells(project):
    write_notebook(project / "nb.ipynb", IPYTHON_CELLS)
    result = run_cli("check", "nb.ipynb", cwd=project)
    assert result.returncode == 1, result.stderr
    assert findings(result.stdout) == [(4, 3, "JPL100")]
    [row] = rows(result.stdout)
    assert "traced by `jax.jit` at cell 5, line 1" in row["message"]
    assert "rebound at cell 7, line 1" in row["message"]


def test_source_given_as_one_string(project):
    cells = ["import jax\ng = 0.0\n", "def f(x):\n    return x + g\n\nfast = jax.jit(f)\nfast(1.0)\ng = 1.0"]
    path = write_notebook(project / "nb.ipynb", [])
    notebook = json.loads(path.read_text())
    notebook["cells"] += [{"cell_type": "code", "metadata": {}, "outputs": [], "source": src} for src in cells]
    path.write_text(json.dumps(notebook))
    assert findings(run_cli("check", "nb.ipynb", cwd=project).stdout) == [(2, 2, "JPL100")]


def test_noqa_in_a_cell(project):
    cells = ["import jax\ng = 0.0\n", "def f(x):\n    return x + g  # noqa: JPL100\n", "fast = jax.jit(f)\nfast(1.0)\ng = 1.0\n"]
    write_notebook(project / "nb.ipynb", cells)
    result = run_cli("check", "nb.ipynb", cwd=project)
    assert (result.returncode, result.stdout) == (0, "")


def test_a_cell_that_does_not_parse_is_jpl001_in_that_cell(project):
    write_notebook(project / "nb.ipynb", ["import jax\n", "@jax.jit\ndef f(x):\n    return x +\n"])
    result = run_cli("check", "nb.ipynb", cwd=project)
    assert result.returncode == 1
    assert findings(result.stdout) == [(2, 3, "JPL001")]


def test_not_a_notebook_is_jpl001(project):
    (project / "nb.ipynb").write_text('{"not": "a notebook"}')
    result = run_cli("check", "nb.ipynb", cwd=project)
    assert result.returncode == 1 and "JPL001" in result.stdout and "not a Jupyter notebook" in result.stdout


def test_notebooks_of_other_languages_are_skipped(project):
    write_notebook(project / "nb.ipynb", ["library(jax)\ng <- 0\n"], language="R")
    result = run_cli("check", "nb.ipynb", cwd=project)
    assert (result.returncode, result.stdout) == (0, "")


def test_github_format_puts_the_cell_in_the_message(project):
    result = run_cli("check", "--format", "github", str(SEED_NOTEBOOK), cwd=project)
    [line] = result.stdout.splitlines()
    expected = f"::warning file={SEED_NOTEBOOK.as_posix()},title=JPL200 (self-mutation)::cell 1, line 12: JPL200 "
    assert line.startswith(expected)


def test_a_shell_escape_that_is_the_only_statement_of_a_block_keeps_the_cell_parsable(project):
    cells = [
        "import os\nimport jax\nif not os.path.exists('data'):\n    !git clone https://example.invalid/data\n",
        "g = 0.0\n\n@jax.jit\ndef f(x):\n    return x + g\n\nf(1.0)\n",
        "g = 1.0\n",
    ]
    write_notebook(project / "nb.ipynb", cells)
    result = run_cli("check", "nb.ipynb", cwd=project)
    assert findings(result.stdout) == [(2, 5, "JPL100")]


def test_cells_that_ipython_runs_are_analysed(project):
    """IPython removes a cell's leading indentation and runs `!cmd \\` continued on the next line:
    such cells are not JPL001, and a finding after them is still reported."""
    cells = [
        "import jax\n!git clone https://example.invalid/repo \\\n    --depth 1\n",
        " def helper(x):\n     return x + 1\n",
        "g = 0.0\n\n@jax.jit\ndef f(x):\n    return helper(x) + g\n\nf(1.0)\n",
        "g = 1.0\n",
    ]
    write_notebook(project / "nb.ipynb", cells)
    result = run_cli("check", "nb.ipynb", cwd=project)
    assert findings(result.stdout) == [(3, 5, "JPL100")]


def test_a_line_starting_with_percent_inside_brackets_is_python(project):
    """IPython reads `%` and `!` as escapes only where a logical line starts: in the middle of an open
    bracket, a triple-quoted string or after a backslash, `% (a, b)` is Python's own operator (a real
    notebook's `print('%d' \\n % (epoch,))` was JPL001 before)."""
    cells = [
        "%matplotlib inline\nimport jax\n",
        "g = 0.0\n\n@jax.jit\ndef f(x):\n    return x + g\n\nprint('%d calls'\n      % (1,))\nnote = '''\n%not a magic\n'''\n"
        "total = 7 \\\n    % 2\nf(1.0)\n%time f(1.0)\n",
        "g = 1.0\n",
    ]
    write_notebook(project / "nb.ipynb", cells)
    result = run_cli("check", "nb.ipynb", cwd=project)
    assert findings(result.stdout) == [(2, 5, "JPL100")]
