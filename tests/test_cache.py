"""The results cache of `check` (surfaces/cache.py): hits only for the same bytes and the same
configuration, corrupt entries ignored, atomic writes. Its speed is a benchmark figure
(benchmarks/, docs/performance.md); here the hits are counted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jax_purity_lint.source import atomic_write

from jax_purity_lint.surfaces import cache as cache_module
from jax_purity_lint.surfaces.cache import ResultCache
from jax_purity_lint.surfaces.cache_folder import CACHE_FOLDER_NAME
from jax_purity_lint.surfaces.check import check_file, check_paths
from jax_purity_lint.surfaces.config import Config, merge
from markers import FIXTURES

NOTEBOOK = Path(__file__).parent / "data" / "stateful_computations.ipynb"

BAD = """import jax

g = 0.0


def f(x):
    return x + g


fast = jax.jit(f)
fast(1.0)
g = 10.0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the fixtures, the example notebook and a file with one JPL100."""
    folder = tmp_path / "project"
    shutil.copytree(FIXTURES, folder, ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(NOTEBOOK, folder / "notebook.ipynb")
    (folder / "bad.py").write_text(BAD, encoding="utf-8")
    return folder


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.json"))


def run(cache: ResultCache, project: Path, config: Config = Config(), jobs: int = 1):
    return check_paths([project], config, jobs=jobs, cache=cache)


def test_second_run_over_an_unchanged_tree_only_hits(project, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    first = run(cache, project)
    files = len(first)
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stores) == (0, files, files)

    second = run(cache, project)
    assert cache.stats.hits == files and cache.stats.misses == files
    assert second == first
    assert any(result.diagnostics for result in second)


def test_cached_results_equal_fresh_ones_notebook_sites_included(project, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    run(cache, project)
    fresh = [check_file(result.path, Config()) for result in run(cache, project)]
    assert run(cache, project) == fresh
    notebook = next(r for r in run(cache, project) if r.path.suffix == ".ipynb")
    assert notebook.diagnostics and all(d.cell is not None for d in notebook.diagnostics)
    assert {type(d.site).__name__ for d in notebook.diagnostics} == {"NotebookTraceSite"}


def test_changed_content_misses_and_gets_the_new_result(project, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    bad = project / "bad.py"
    assert [d.code for d in cache.check(bad, Config()).diagnostics] == ["JPL100"]

    bad.write_text(BAD.replace("return x + g", "return x"), encoding="utf-8")
    assert cache.check(bad, Config()).diagnostics == ()
    assert (cache.stats.hits, cache.stats.misses) == (0, 2)

    bad.write_text(BAD, encoding="utf-8")  # back to the first content: its entry is still good
    assert [d.code for d in cache.check(bad, Config()).diagnostics] == ["JPL100"]
    assert cache.stats.hits == 1


def test_the_same_text_in_two_packages_gets_each_its_own_result(tmp_path):
    """`from . import config` names another module in each package: a result cached for one copy
    must not be served for the other (it was, when entries were keyed by the bytes alone)."""
    train = "import jax\nfrom . import config\n\n\n@jax.jit\ndef step(x):\n    return x * config.LR\n"
    for package, config_text in (("a", "LR = 0.1\n\n\ndef set_lr(v):\n    global LR\n    LR = v\n"),
                                 ("b", "LR = 0.1\n")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "config.py").write_text(config_text)
        (tmp_path / package / "train.py").write_text(train)
    for order in (("a", "b"), ("b", "a")):
        cache = ResultCache(tmp_path / f"cache-{''.join(order)}")
        found = {package: [d.code for d in cache.check(tmp_path / package / "train.py", Config()).diagnostics]
                 for package in order}
        assert found == {"a": ["JPL100"], "b": []}, order
        assert cache.stats.hits == 0


@pytest.mark.parametrize(
    "options",
    [
        {"ignore": ["JPL100"]},
        {"select": ["JPL4"]},
        {"jit_functions": ["mylib.compile"]},
        {"state_aware_functions": ["mylib.stateful_jit"]},
    ],
)
def test_changed_configuration_misses(project, tmp_path, options):
    cache = ResultCache(tmp_path / "cache")
    bad = project / "bad.py"
    cache.check(bad, Config())
    changed = merge(Config(), base=project, **options)
    assert cache.check(bad, changed) == check_file(bad, changed)
    assert (cache.stats.hits, cache.stats.misses) == (0, 2)


def test_options_that_only_choose_files_keep_the_entries(project, tmp_path):
    cache = ResultCache(tmp_path / "cache")
    bad = project / "bad.py"
    cache.check(bad, Config())
    cache.check(bad, merge(Config(), base=project, exclude=["build"], extend_exclude=["experiments"]))
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_a_new_version_of_the_linter_misses(project, tmp_path, monkeypatch):
    cache = ResultCache(tmp_path / "cache")
    bad = project / "bad.py"
    cache.check(bad, Config())
    monkeypatch.setattr(cache_module, "code_fingerprint", lambda: "an edited rule")
    edited = ResultCache(tmp_path / "cache")
    edited.check(bad, Config())
    assert (edited.stats.hits, edited.stats.misses) == (0, 1)
    edited.check(bad, Config())
    assert edited.stats.hits == 1  # the edited code's own entry


@pytest.mark.parametrize(
    "corruption",
    [
        b"",  # a crash before anything was written (a copy tool, not ours: ours renames into place)
        b'{"key": "trunc',
        b"\xff\xfe not json",
        b"[1, 2, 3]",
        b'{"key": "another file", "diagnostics": []}',
        None,  # the right key, a diagnostic that does not decode
    ],
)
def test_a_corrupt_entry_is_ignored_and_replaced(project, tmp_path, corruption):
    cache = ResultCache(tmp_path / "cache")
    bad = project / "bad.py"
    expected = cache.check(bad, Config())
    [entry] = entries(tmp_path / "cache")
    if corruption is None:
        stored = json.loads(entry.read_text(encoding="utf-8"))
        stored["diagnostics"][0]["no_such_field"] = 1
        corruption = json.dumps(stored).encode()
    entry.write_bytes(corruption)

    again = ResultCache(tmp_path / "cache")
    assert again.check(bad, Config()) == expected
    assert (again.stats.hits, again.stats.misses, again.stats.stores) == (0, 1, 1)
    assert again.check(bad, Config()) == expected and again.stats.hits == 1


def test_a_crash_while_writing_leaves_no_entry_and_no_temporary_file(project, tmp_path, monkeypatch):
    def crash(source, target):
        raise KeyboardInterrupt

    cache = ResultCache(tmp_path / "cache")
    cache.check(project / "bad.py", Config())  # the folder and its markers exist now
    monkeypatch.setattr(atomic_write.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.check(project / "ok_constant_globals.py", Config())
    assert len(entries(tmp_path / "cache")) == 1
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_a_file_changed_while_it_is_checked_is_not_stored(project, tmp_path, monkeypatch):
    bad = project / "bad.py"

    def check_while_saving(path, config):
        result = check_file(path, config)
        path.write_text(BAD.replace("g = 10.0", "g = 20.0"), encoding="utf-8")
        return result

    monkeypatch.setattr(cache_module, "check_file", check_while_saving)
    cache = ResultCache(tmp_path / "cache")
    cache.check(bad, Config())
    assert cache.stats.stores == 0 and entries(tmp_path / "cache") == []


def test_an_unwritable_cache_costs_only_speed(project, tmp_path):
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("", encoding="utf-8")
    cache = ResultCache(blocked)
    assert cache.check(project / "bad.py", Config()) == check_file(project / "bad.py", Config())
    assert cache.stats.stores == 0


def test_parallel_runs_use_and_fill_the_same_cache(project, tmp_path):
    serial = run(ResultCache(tmp_path / "cache"), project)
    parallel = run(ResultCache(tmp_path / "cache"), project, jobs=2)
    assert parallel == serial
    assert len(entries(tmp_path / "cache")) == len(serial)


def test_the_cache_folder_ignores_itself(project, tmp_path):
    run(ResultCache(tmp_path / "cache"), project)
    assert (tmp_path / "cache" / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert (tmp_path / "cache" / "CACHEDIR.TAG").read_text(encoding="utf-8").startswith("Signature: 8a477f59")


# -- the command line ------------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jax_purity_lint", "check", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_caches_beside_pyproject_and_gives_the_same_output(project):
    (project / "pyproject.toml").write_text("[tool.jax_purity_lint]\n", encoding="utf-8")
    first = run_cli("--format", "json", "bad.py", "notebook.ipynb", cwd=project)
    second = run_cli("--format", "json", "bad.py", "notebook.ipynb", cwd=project)
    assert first.returncode == second.returncode == 1, first.stderr
    assert second.stdout == first.stdout
    assert len(entries(project / CACHE_FOLDER_NAME)) == 2


def test_cli_no_cache_and_cache_dir(project, tmp_path):
    assert run_cli("--no-cache", "bad.py", cwd=project).returncode == 1
    assert not (project / CACHE_FOLDER_NAME).exists()
    assert run_cli("--cache-dir", str(tmp_path / "elsewhere"), "bad.py", cwd=project).returncode == 1
    assert len(entries(tmp_path / "elsewhere")) == 1 and not (project / CACHE_FOLDER_NAME).exists()


def test_a_run_served_from_the_cache_never_loads_libcst(project):
    """The warm run's cost is the interpreter and our imports: libcst (and the rules, the rewrites)
    are loaded only when a file has to be analysed."""
    script = (
        "import sys\nfrom jax_purity_lint.cli import main\ncode = main(sys.argv[1:])\n"
        "print(code, 'libcst' in sys.modules, 'jax_purity_lint.rules' in sys.modules)\n"
    )
    arguments = [sys.executable, "-c", script, "check", "--select", "JPL1", "bad.py", "notebook.ipynb"]
    cold = subprocess.run(arguments, cwd=project, capture_output=True, text=True, timeout=300)
    warm = subprocess.run(arguments, cwd=project, capture_output=True, text=True, timeout=300)
    assert cold.stdout.splitlines()[-1] == "1 True True", cold.stderr  # the first run analyses both
    assert warm.stdout.splitlines()[-1] == "1 False False", warm.stderr
    assert warm.stdout.splitlines()[:-1] == cold.stdout.splitlines()[:-1]
