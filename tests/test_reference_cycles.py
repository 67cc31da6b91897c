"""A file analysed for its diagnostics alone leaves nothing to the cyclic garbage collector.

The collector is paused while a file is analysed (source/gc_pause.py). Whatever a reference cycle
holds when the analysis ends (a scope tree, and through its bindings and effects the libcst tree)
waits for the collector, which traverses all of it when it resumes: over a real project, millions of
objects. The analysis cuts its cycles once the result lets the tree go, so reference counting frees
the tree at once; these tests fail if a cycle comes back."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path
from typing import Callable

from jax_purity_lint.engine import analyse_file

FIXTURES = Path(__file__).parent / "fixtures"


def cyclic_garbage(run: Callable[[], object]) -> list[str]:
    """The types of the libcst nodes and analysis objects that only the cyclic collector frees after `run()`."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collection finds unreachable stays in gc.garbage, to be read
    try:
        run()
        gc.collect()
        ours = ("libcst", "jax_purity_lint")
        return sorted({f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage
                       if type(o).__module__.startswith(ours)})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


def test_the_analysis_of_each_fixture_leaves_no_cycle(tmp_path):
    files = sorted(FIXTURES.glob("*.py"))
    assert len(files) > 100
    for path in files:
        copy = tmp_path / path.name  # a module of its own project: the other modules' summaries are made too
        shutil.copyfile(path, copy)
        assert cyclic_garbage(lambda: analyse_file(copy.read_bytes(), str(copy), keep_tree=False)) == [], path.name


def test_the_modules_summarised_for_another_one_leave_no_cycle(tmp_path):
    """main.py changes config.py's state and calls model.py's jitted step: analysing model.py alone
    parses the other two only to summarise them."""
    package = tmp_path / "package"
    shutil.copytree(FIXTURES / "packages" / "module_attribute", package)
    model = package / "model.py"
    result: list = []
    garbage = cyclic_garbage(lambda: result.append(analyse_file(model.read_bytes(), str(model), keep_tree=False)))
    assert [d.code for d in result[0].diagnostics] == ["JPL100"]  # the summaries were made and linked
    assert garbage == []


def test_a_kept_tree_stays_whole():
    """`fix`, `confirm` and the editor server read the analysis after it is made: nothing is cut there."""
    path = FIXTURES / "jpl100_fori_loop_body.py"
    analysis = analyse_file(path.read_bytes(), str(path), keep_tree=True)
    scopes = analysis.module_analysis.scopes
    assert any(scope.children for scope in scopes)
    assert all(scope.parent is not None for scope in scopes[1:])
