"""`fix` on notebooks: the code cells are rewritten in place (outputs, metadata, ids, markdown, IPython
lines and the file's JSON layout kept, atomically), `--diff` shows each changed cell, and a rewrite that
cannot be put back into the cells leaves the notebook as it was with a non-zero status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jax_purity_lint.rewrites.notebooks import CannotWriteBack, EditableNotebook
from jax_purity_lint.surfaces.notebooks import join_cells

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_NOTEBOOK = ROOT / "examples" / "stateful_computations.ipynb"
CLI = [sys.executable, "-m", "jax_purity_lint"]

GLOBAL_READ = ["import jax\n", "g = 0.0\n", "\n", "def add(x):\n", "    return x + g"]
CALLS = ["print(jax.jit(add)(1.0))\n", "g = 10.0\n", "print(jax.jit(add)(1.0))"]


def fix(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "fix", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def notebook(cells: list, *, indent=1, sort_keys=True, language: str = "python") -> dict:
    return {
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {"tags": ["keep"]}, "source": ["# Title\n", "text"]},
            *(
                {
                    "cell_type": "code", "execution_count": number, "id": f"cell-{number}",
                    "metadata": {"scrolled": True},
                    "outputs": [{"name": "stdout", "output_type": "stream", "text": [f"output {number}\n"]}],
                    "source": source,
                }
                for number, source in enumerate(cells, start=1)
            ),
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": language}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write(path: Path, data: dict, *, indent=1, sort_keys=True) -> Path:
    path.write_text(json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def code_sources(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in data["cells"] if c["cell_type"] == "code"]


def without_sources(data: dict) -> dict:
    copy = json.loads(json.dumps(data))
    for cell in copy["cells"]:
        if cell["cell_type"] == "code":
            cell["source"] = None
    return copy


def test_the_example_notebook_is_fixed_in_place_and_then_runs_as_eagerly(tmp_path: Path) -> None:
    target = tmp_path / "nb.ipynb"
    target.write_bytes(EXAMPLE_NOTEBOOK.read_bytes())
    before = json.loads(target.read_text(encoding="utf-8"))
    result = fix("nb.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nb.ipynb:cell 2:line 4: fixed JPL100" in result.stderr
    assert "nb.ipynb:cell 4:line 8: fixed JPL200" in result.stderr
    assert "in 0 files and 1 notebook, 0 need review" in result.stderr
    after = json.loads(target.read_text(encoding="utf-8"))
    assert without_sources(after) == without_sources(before)  # outputs, metadata, ids, markdown kept
    assert subprocess.run([*CLI, "check", "nb.ipynb"], cwd=tmp_path, capture_output=True).returncode == 0
    program = join_cells(after).source  # the cells in order, as the kernel would run them
    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "Second call: 15.0" in ran.stdout  # jitted now as eagerly: the global is an argument
    assert "[1, 2, 3] (eagerly [1, 2, 3])" in ran.stdout.splitlines()  # the counter's state is threaded


def test_only_the_changed_lines_of_the_file_differ(tmp_path: Path) -> None:
    data = notebook([GLOBAL_READ, CALLS])
    target = write(tmp_path / "nb.ipynb", data, indent=2, sort_keys=False)
    before = target.read_text(encoding="utf-8").splitlines()
    assert fix("nb.ipynb", cwd=tmp_path).returncode == 0
    after = target.read_text(encoding="utf-8").splitlines()
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert len(before) == len(after)
    assert changed == [
        ('        "def add(x):\\n",', '        "def add(x, g):\\n",'),
        ('        "print(jax.jit(add)(1.0))\\n",', '        "print(jax.jit(add)(1.0, g))\\n",'),
        ('        "print(jax.jit(add)(1.0))"', '        "print(jax.jit(add)(1.0, g))"'),
    ]


def test_ipython_lines_are_kept_as_they_were(tmp_path: Path) -> None:
    magics = ["%matplotlib inline\n", "!pip install -q \\\n", "    optax\n", *GLOBAL_READ]
    target = write(tmp_path / "nb.ipynb", notebook([magics, ["%%time\n", "x = 1"], CALLS]))
    assert fix("nb.ipynb", cwd=tmp_path).returncode == 0
    first, timed, calls = code_sources(target)
    assert first.startswith("%matplotlib inline\n!pip install -q \\\n    optax\nimport jax\n")
    assert "def add(x, g):" in first
    assert timed == "%%time\nx = 1"
    assert calls.count("(1.0, g)") == 2


def test_diff_shows_each_changed_cell_and_writes_nothing(tmp_path: Path) -> None:
    target = write(tmp_path / "nb.ipynb", notebook([GLOBAL_READ, ["x = 3"], CALLS]))
    raw = target.read_bytes()
    result = fix("--diff", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 1
    assert target.read_bytes() == raw
    headers = [line for line in result.stdout.splitlines() if line.startswith("+++ ")]
    assert headers == ["+++ b/nb.ipynb:cell 1", "+++ b/nb.ipynb:cell 3"]
    assert "+def add(x, g):" in result.stdout
    assert "nb.ipynb:cell 1:line 5: JPL100 (safe)" in result.stderr


def test_a_notebook_whose_rewrite_cannot_go_back_into_its_cells_is_left_unchanged(tmp_path: Path) -> None:
    indented = ["  g = 0.0\n", "  def add(x):\n", "      return x + g"]  # IPython dedents this cell
    target = write(tmp_path / "nb.ipynb", notebook([["import jax\n"], indented, CALLS]))
    raw = target.read_bytes()
    result = fix("nb.ipynb", cwd=tmp_path)
    assert result.returncode == 2
    assert target.read_bytes() == raw
    assert "cannot put the rewrite back into the cells (cell 2 starts indented" in result.stderr
    assert "the notebook is left unchanged" in result.stderr


def test_files_and_notebooks_are_counted_apart(tmp_path: Path) -> None:
    write(tmp_path / "nb.ipynb", notebook([GLOBAL_READ, CALLS]))
    (tmp_path / "mod.py").write_text("".join(GLOBAL_READ) + "\n" + "".join(CALLS) + "\n", encoding="utf-8")
    result = fix(".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1].startswith("2 rewrite(s) applied in 1 file and 1 notebook, 0 need review")


def test_unreadable_and_foreign_notebooks(tmp_path: Path) -> None:
    (tmp_path / "broken.ipynb").write_text("{not json", encoding="utf-8")
    write(tmp_path / "r.ipynb", notebook([["x <- 1"]], language="R"))
    result = fix(".", cwd=tmp_path)
    assert result.returncode == 2
    assert "broken.ipynb: error: cannot read the notebook" in result.stderr
    assert "r.ipynb" not in result.stderr


def test_cutting_back_refuses_a_moved_or_lost_cell_boundary(tmp_path: Path) -> None:
    editable = EditableNotebook.read(write(tmp_path / "nb.ipynb", notebook([["a = 1"], ["b = 2"]])))
    assert editable.text == "# jax-purity-lint: code cell 1\na = 1\n# jax-purity-lint: code cell 2\nb = 2\n"
    assert editable.cell_texts(editable.text) == ["a = 1", "b = 2"]
    with pytest.raises(CannotWriteBack, match="removed a cell boundary"):
        editable.cell_texts("# jax-purity-lint: code cell 1\na = 1\nb = 2\n")
    with pytest.raises(CannotWriteBack, match="moved code across cells"):
        editable.cell_texts("# jax-purity-lint: code cell 2\nb = 2\n# jax-purity-lint: code cell 1\na = 1\n")
    assert editable.place(4) == "cell 2, line 1"
