"""`confirm` drives code the way it is run: a script's `if __name__ == "__main__":` block (with
`--args`), a notebook's code cells in order, and the shipped examples (a script and a notebook), every
diagnosis of which is confirmed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jax_purity_lint.runtime.confirm import ConfirmOptions, confirm_file, confirm_paths
from jax_purity_lint.runtime.verdicts import Verdict

pytestmark = pytest.mark.runtime
ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "jax_purity_lint"]

SCRIPT = textwrap.dedent(
    """\
    import sys

    import jax

    scale = 1.0


    @jax.jit
    def apply(x):
        return x * scale


    def main(argv):
        global scale
        if "--run" not in argv:
            return
        print(apply(1.0))
        scale = float(argv[argv.index("--scale") + 1])
        print(apply(1.0))


    if __name__ == "__main__":
        main(sys.argv[1:])
    """
)


def notebook(cells: list[str]) -> dict:
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# title"},
            *({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
              for source in cells),
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_a_script_runs_as_main_with_its_arguments(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT, encoding="utf-8")
    report = confirm_file(script, ConfirmOptions(script_args=("--run", "--scale", "3")))
    assert report.drive == "main"
    (verdict,) = report.verdicts
    assert verdict.verdict is Verdict.CONFIRMED, verdict.reason
    assert "eager 3.0" in verdict.evidence.describe() and "jitted 1.0" in verdict.evidence.describe()


def test_a_script_whose_main_block_never_reaches_the_site_is_skipped_with_that_reason(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT, encoding="utf-8")
    (verdict,) = confirm_file(script, ConfirmOptions()).verdicts  # without --run, main returns at once
    assert verdict.verdict is Verdict.SKIPPED
    assert verdict.reason == "running the script as `__main__` never calls this trace site (see --args)"


def test_a_notebook_runs_its_code_cells_in_order_and_reports_in_cells(tmp_path: Path) -> None:
    cells = [
        "%matplotlib inline\nimport jax\nhistory = []",
        "@jax.jit\ndef step(x):\n    history.append(x)\n    return x * 2",
        "import jax.numpy as jnp\nx = jnp.zeros(3)\nx[0] = 1.0  # raises, as tutorials show on purpose",
        "!echo shell lines are skipped\nprint(step(1.0), step(1.0))\nprint(len(history))",
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook(cells)), encoding="utf-8")
    report = confirm_file(path, ConfirmOptions())
    assert report.drive == "cells"
    (verdict,) = report.verdicts
    assert verdict.verdict is Verdict.CONFIRMED, verdict.reason
    assert (verdict.diagnosis.cell, verdict.diagnosis.line, verdict.diagnosis.code) == (2, 3, "JPL102")
    assert verdict.diagnosis.site.cell == 2
    assert "traced by `jax.jit` at cell 2, line 1" in verdict.diagnosis.message
    # `history`, the state the diagnosis names, after the first call (made in cell 4, after cell 3 raised)
    evidence = verdict.evidence.describe()
    assert evidence.startswith("call #1 of the jax.jit at cell 2, line 1 (step): `history[0]` after the call: eager 1.0, jitted a tracer")


def test_every_diagnosis_of_the_shipped_examples_is_confirmed() -> None:
    result = subprocess.run(
        [*CLI, "confirm", "-j", "2", "--format", "json", "examples"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1, result.stderr  # 1: something is confirmed
    report = json.loads(result.stdout)
    verdicts = {
        (Path(file["path"]).name, verdict["code"]): verdict["verdict"]
        for file in report["files"]
        for verdict in file["verdicts"]
    }
    assert verdicts == {
        ("seed_bugs.py", "JPL100"): "confirmed",
        ("seed_bugs.py", "JPL200"): "confirmed",
        ("stateful_computations.ipynb", "JPL100"): "confirmed",
        ("stateful_computations.ipynb", "JPL200"): "confirmed",
    }


def test_the_projects_own_tests_confirm_its_bugs_and_only_tests_reaching_a_site_run_twice(monkeypatch) -> None:
    project = ROOT / "tests" / "projects" / "trainer"  # a package, `trainer/`, and its `tests/`
    monkeypatch.chdir(project)  # `cd proj && jax-purity-lint confirm trainer --pytest tests`
    paths = ["trainer", "tests/test_counting.py"]  # the package, and a test module diagnosed itself
    report = confirm_paths(paths, ConfirmOptions(jobs=2, pytest_args=("tests",)))
    by_file = {Path(file.path).name: file for file in report.files}
    assert [file.drive for file in report.files if file.verdicts] == ["pytest", "pytest", "pytest"]
    by_code = {(v.diagnosis.function, v.diagnosis.code): v for file in report.files for v in file.verdicts}
    # State of model.py read by preprocess.py through `from .model import schedule` (project-wide
    # analysis). `schedule["lr"] > 0` holds for every rate the tests set, so this read alone changes
    # nothing: the verdict is its site's, which the JPL300 of the same function makes diverge.
    assert by_code.pop(("normalize", "JPL100")).verdict is Verdict.CONFIRMED
    verdicts = {function: verdict for (function, _), verdict in by_code.items()}
    assert {function: v.verdict for function, v in verdicts.items()} == {
        "step": Verdict.CONFIRMED,  # a global (JPL100), through test_train_lowers_the_weight
        "count": Verdict.CONFIRMED,  # `self` (JPL200), through test_counter_counts
        "shifted": Verdict.NOT_REPRODUCED,  # a latent JPL100: reached, but no test changes the offset
        "scaled": Verdict.SKIPPED,  # no test calls it
        "normalize": Verdict.CONFIRMED,  # an argument (JPL300): the test's assertion fails only jitted
        "report": Verdict.CONFIRMED,  # output (JPL400): what the test printed
        "my_fn": Verdict.CONFIRMED,  # a closure (JPL103) in the test module itself
    }, [(v.diagnosis.function, v.verdict, v.reason) for v in verdicts.values()]
    evidence = verdicts["step"].evidence.describe()
    assert "of the jax.jit at line 9 (step) from tests/test_model.py::test_train_lowers_the_weight" in evidence
    assert verdicts["normalize"].evidence.describe() == (  # the caller's dict, changed only eagerly
        "call #1 of the jax.jit at line 7 (normalize) from tests/test_preprocess.py::test_normalize_counts_its_calls: "
        "`batch['count']` after the call: eager 1, jitted 0"
    )
    assert "eager 'loss 1.0', jitted 'loss JitTracer" in verdicts["report"].evidence.describe()
    assert verdicts["scaled"].reason == "none of the tests given to --pytest calls this trace site"
    (selection,) = [note for note in by_file["model.py"].notes if note.startswith("pytest tests:")]
    assert "7 test(s) ran eagerly" in selection and "3 reach a diagnosed trace site" in selection
    assert "test_arithmetic" not in selection  # it reaches no site: it is not run again
    assert not (project / "last_run.txt").exists()  # the tests ran in a copy: the project is untouched


def test_a_hostile_test_suite_gets_a_verdict_with_its_reason_and_leaves_nothing_behind(monkeypatch) -> None:
    project = ROOT / "tests" / "projects" / "hostile"  # tests that spawn, write, flood, and os._exit
    monkeypatch.chdir(project)
    report = confirm_file(project / "app.py", ConfirmOptions(pytest_args=("tests",), timeout=60))
    (verdict,) = report.verdicts
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert verdict.reason == (
        "the eager run itself fails: the interpreter exited with status 3 before reporting (os._exit or a fatal error)"
    )
    assert any(note.endswith("process(es) the module left running") for note in report.notes), report.notes
    assert not (project / "written_by_a_test.txt").exists()  # written in the run's copy, not here
    assert not processes_running("time.sleep(600)")  # the sleeper a test left was killed with the run


def confirm_global_scale_app(tmp_path: Path, monkeypatch, test_source: str):
    """`confirm app.py --pytest tests` from `tmp_path`, where app.py jits a read of a global that
    `set_scale` rebinds (a JPL100) and tests/test_app.py is `test_source`."""
    (tmp_path / "app.py").write_text(
        "import jax\n\nscale = 1.0\n\n\n@jax.jit\ndef apply(x):\n    return x * scale\n\n\n"
        "def set_scale(value):\n    global scale\n    scale = value\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text(test_source)
    monkeypatch.chdir(tmp_path)
    return confirm_file(tmp_path / "app.py", ConfirmOptions(pytest_args=("tests",), timeout=60))


def test_tests_that_cannot_be_collected_say_why(tmp_path: Path, monkeypatch) -> None:
    """A test file importing a package that is not installed stops pytest before any test: the
    verdict's reason names the import that failed, which is what the user has to fix."""
    report = confirm_global_scale_app(
        tmp_path, monkeypatch,
        "import not_installed_anywhere\nimport app\n\n\ndef test_apply():\n    assert app.apply(1.0) == 1.0\n",
    )
    (verdict,) = report.verdicts
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert verdict.reason == (
        "the eager run itself fails: pytest running the tests: pytest stopped with status 2 (interrupted): "
        "collecting tests/test_app.py failed: ModuleNotFoundError: No module named 'not_installed_anywhere'"
    )


def test_a_warning_at_trace_time_is_confirmed_through_the_tests_that_raise_it(tmp_path: Path, monkeypatch) -> None:
    """pytest records each test's warnings (they never reach `warnings.showwarning`): the driver
    compares them per test. Eagerly both tests warn; jitted only the first, which traces `step`."""
    (tmp_path / "model.py").write_text(
        "import warnings\n\nimport jax\n\n\n@jax.jit\ndef step(x):\n    warnings.warn('step called')\n    return x * 2.0\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_model.py").write_text(
        "from model import step\n\n\ndef test_first():\n    assert float(step(1.0)) == 2.0\n\n\n"
        "def test_second():\n    assert float(step(3.0)) == 6.0\n"
    )
    monkeypatch.chdir(tmp_path)
    report = confirm_file(tmp_path / "model.py", ConfirmOptions(pytest_args=("tests",), timeout=120))
    (verdict,) = report.verdicts
    assert verdict.verdict is Verdict.CONFIRMED, verdict.reason
    assert verdict.evidence is not None
    assert "tests/test_model.py::test_second: UserWarning: step called" in verdict.evidence.describe()


def processes_running(text: str) -> list[str]:
    """Command lines of live processes that contain `text` (from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue  # it ended meanwhile
        if text in command:
            found.append(command)
    return found


def test_a_module_inside_a_package_is_imported_as_part_of_it() -> None:
    module = ROOT / "tests" / "projects" / "trainer" / "trainer" / "preprocess.py"  # `from .model import ...`
    report = confirm_file(module, ConfirmOptions())
    assert report.drive == "import" and report.error is None
    assert [v.reason for v in report.verdicts] == [
        "importing the module never calls this trace site, and it defines no scenario() to drive it"
    ] * 3  # imported (as `trainer.preprocess`), not "cannot be imported: attempted relative import"


def test_eval_shape_of_abstract_arguments_keeps_working_in_the_eager_run() -> None:
    """jax-md's `space.periodic` asks `jax.eval_shape(f, ShapedArray(...))` and reads a failure as
    "unsupported": the eager stand-in must hand abstract arguments of any kind to the real one, or
    every test using it fails eagerly before reaching a site."""
    import jax
    import jax.numpy as jnp

    from jax_purity_lint.runtime.stand_ins import eager_eval_shape

    def double(x):
        return x * 2

    for abstract in (jax.ShapeDtypeStruct((3,), jnp.float32), jax.core.ShapedArray((3,), jnp.float32)):
        described = eager_eval_shape(double, abstract)
        assert (described.shape, described.dtype) == ((3,), jnp.float32)
    concrete = eager_eval_shape(double, jnp.ones(2, jnp.int32))  # run for real, described after
    assert (concrete.shape, concrete.dtype) == ((2,), jnp.int32)


def test_a_test_failing_before_the_site_is_named_in_the_note(tmp_path: Path, monkeypatch) -> None:
    """A test that fails eagerly before calling the site leaves it unreached: the diagnosis is
    skipped, and the note says which test did not pass, so "0 reach" is not read as a fact of the code."""
    report = confirm_global_scale_app(
        tmp_path, monkeypatch,
        "import app\n\n\ndef test_apply():\n    raise RuntimeError('broken set-up')\n    app.apply(1.0)\n",
    )
    (verdict,) = report.verdicts
    assert verdict.verdict is Verdict.SKIPPED
    assert any("(1 did not pass: tests/test_app.py::test_apply)" in note for note in report.notes), report.notes
