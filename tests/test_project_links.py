"""The project-wide analysis on awkward trees: cycles, self-imports, missing and unreadable modules,
symlink loops, shadowed names, large trees, concurrent caches; and the facts it links."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jax_purity_lint.analysis.project_index import ProjectIndex, summarise_bytes
from jax_purity_lint.analysis.summary import ModuleSummary
from jax_purity_lint.engine import analyze_source
from jax_purity_lint.source import project_files

READER = "import jax\n\nimport config\n\n\n@jax.jit\ndef f(x):\n    return x * config.LR\n"
CHANGER = "import config\nimport reader\n\nreader.f(1.0)\nconfig.LR = 0.5\nreader.f(1.0)\n"


def write(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")


def codes(path: Path) -> list[tuple[int, str]]:
    return [(d.line, d.code) for d in analyze_source(path.read_bytes(), str(path))]


def test_a_change_made_in_another_module_after_a_call_is_reported(tmp_path):
    write(tmp_path, {"config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER})
    assert codes(tmp_path / "reader.py") == [(8, "JPL100")]


def test_set_up_before_any_call_is_not(tmp_path):
    changer = "import config\nimport reader\n\nconfig.LR = 0.5\nreader.f(1.0)\n"
    write(tmp_path, {"config.py": "LR = 0.1\n", "reader.py": READER, "main.py": changer})
    assert codes(tmp_path / "reader.py") == []


def test_a_copy_imported_by_name_never_sees_a_rebinding(tmp_path):
    reader = "import jax\n\nfrom config import LR\n\n\n@jax.jit\ndef f(x):\n    return x * LR\n"
    write(tmp_path, {"config.py": "LR = 0.1\n", "reader.py": reader, "main.py": CHANGER})
    assert codes(tmp_path / "reader.py") == []


def test_import_cycles_and_self_imports_end(tmp_path):
    a = "import jax\n\nimport b\nimport a\n\nLR = 0.1\n\n\n@jax.jit\ndef f(x):\n    return x * b.SCALE * a.LR\n"
    b = "import a\n\nSCALE = 1.0\n\n\ndef run():\n    a.f(1.0)\n    a.LR = 0.2\n    return a.f(1.0)\n"
    write(tmp_path, {"a.py": a, "b.py": b})
    assert codes(tmp_path / "a.py") == [(11, "JPL100")]  # `a.LR`, changed by b.run after a call
    assert codes(tmp_path / "b.py") == []


def test_missing_undecodable_and_unparsable_modules_change_nothing(tmp_path):
    reader = READER.replace("import config\n", "import config\nimport missing\nimport broken\n")
    reader = reader.replace("config.LR", "config.LR * missing.K * broken.K")
    write(
        tmp_path,
        {
            "config.py": b"LR = '\xff\xfe'\n",  # not UTF-8: no summary, its facts unknown
            "broken.py": "K = (\n",
            "reader.py": reader,
            "main.py": "import broken\nimport reader\n\nreader.f(1.0)\nbroken.K = 2\n",
        },
    )
    assert codes(tmp_path / "reader.py") == [(10, "JPL100")]  # broken.K, changed by main.py
    assert summarise_bytes(b"LR = '\xff\xfe'\n") is None
    assert summarise_bytes(b"K = (\n") is None


def test_symlink_loops_are_not_followed(tmp_path):
    write(tmp_path, {"config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER})
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert codes(tmp_path / "reader.py") == [(8, "JPL100")]
    assert all("loop" not in Path(p).parts for p in project_files.python_files(str(tmp_path)))


def test_a_project_module_shadowing_an_installed_name_is_the_project_module(tmp_path):
    # As Python imports it: a script's folder comes first on sys.path.
    reader = "import jax\n\nimport optax\n\n\n@jax.jit\ndef f(x):\n    return x * optax.LR\n"
    changer = "import optax\nimport reader\n\nreader.f(1.0)\noptax.LR = 0.5\n"
    write(tmp_path, {"optax.py": "LR = 0.1\n", "reader.py": reader, "main.py": changer})
    assert codes(tmp_path / "reader.py") == [(8, "JPL100")]


def test_installed_packages_and_environments_are_never_read(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname = 'p'\n",
            "config.py": "LR = 0.1\n",
            "reader.py": READER,
            ".venv/lib/site-packages/changer.py": CHANGER,
            "venv/changer.py": CHANGER,
        },
    )
    assert codes(tmp_path / "reader.py") == []


def test_a_tree_of_ten_thousand_modules_is_linked(tmp_path):
    for index in range(10_000):
        folder = tmp_path / f"pkg{index // 500}"
        folder.mkdir(exist_ok=True)
        (folder / f"m{index}.py").write_text(f"VALUE = {index}\n", encoding="utf-8")
    write(tmp_path, {"pyproject.toml": "", "config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER})
    script = f"from jax_purity_lint.engine import analyze_source as a; p={str(tmp_path / 'reader.py')!r}; print([d.code for d in a(open(p).read(), p)])"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "['JPL100']", result.stderr


def test_two_processes_filling_the_same_summary_cache_agree(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER})
    for index in range(40):
        write(tmp_path, {f"helpers/h{index}.py": f"import config\n\nLR_COPY = config.LR  # {index}\n"})
    command = [sys.executable, "-m", "jax_purity_lint", "check", "--format", "json", "."]  # with caches
    runs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [json.loads(run.communicate(timeout=300)[0]) for run in runs]
    assert outputs[0] == outputs[1]
    assert [(d["path"], d["line"], d["code"]) for d in outputs[0]] == [("reader.py", 8, "JPL100")]
    entries = list((tmp_path / ".jpl_cache" / "summaries").rglob("*.json"))
    assert entries and all(ModuleSummary.from_json(json.loads(e.read_text())) for e in entries)
    assert (tmp_path / ".jpl_cache" / ".gitignore").exists()
    assert not (tmp_path / ".gitignore").exists() and not (tmp_path.parent / ".gitignore").exists()


def test_the_order_of_files_and_jobs_do_not_change_results(tmp_path):
    write(tmp_path, {"config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER})
    base = [sys.executable, "-m", "jax_purity_lint", "check", "--no-cache", "--format", "json"]
    one = subprocess.run([*base, "reader.py", "main.py", "config.py"], cwd=tmp_path, capture_output=True, text=True)
    two = subprocess.run([*base, "-j", "2", "config.py", "main.py", "reader.py"], cwd=tmp_path, capture_output=True, text=True)
    assert json.loads(one.stdout) == json.loads(two.stdout) != []


def test_summaries_are_cached_by_content_and_rebuilt_when_it_changes(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "config.py": "LR = 0.1\n\n\ndef set_lr(v):\n    global LR\n    LR = v\n"})
    path = str(tmp_path / "config.py")
    first = ProjectIndex()
    first.use_cache_folder(str(tmp_path / ".jpl_cache"))
    summary = first.summary(path)
    assert summary is not None and [c.function for c in summary.changes] == ["set_lr"]
    assert first.summaries_built == 1
    assert list((tmp_path / ".jpl_cache" / "summaries").rglob("*.json"))
    second = ProjectIndex()  # another process: reads the entry the first one wrote
    assert second.summary(path) == summary and second.summaries_built == 0
    (tmp_path / "config.py").write_text("LR = 0.1\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))
    changed = second.summary(path)
    assert changed is not None and changed.changes == () and second.summaries_built == 1


def test_an_editors_buffer_is_read_in_place_of_the_file_until_dropped(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "config.py": "LR = 0.1\n"})
    path = str(tmp_path / "config.py")
    index = ProjectIndex()
    assert index.summary(path).changes == ()
    assert index.use_buffer(path, "LR = 0.1\n") is False  # the same text as the file: nothing new
    setter = "LR = 0.1\n\n\ndef set_lr(v):\n    global LR\n    LR = v\n"
    assert index.use_buffer(path, setter) is True
    assert [c.function for c in index.summary(path).changes] == ["set_lr"]
    assert index.use_buffer(path, setter) is False
    assert index.drop_buffer(path) is True
    assert index.summary(path).changes == ()
    assert (tmp_path / "config.py").read_text() == "LR = 0.1\n"


def test_a_summary_round_trips_through_json():
    source = (
        "import jax\nfrom . import state\nfrom .state import CFG\n\n\n@jax.jit\ndef f(x):\n    return x\n\n\n"
        "def run():\n    for _ in range(2):\n        f(1.0)\n        CFG['lr'] = 0.1\n        state.LR = 2\n"
    )
    summary = summarise_bytes(source.encode())
    assert summary is not None
    assert ModuleSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary
    assert summary.imports == {"jax": (0, "jax", None), "state": (1, "", "state"), "CFG": (1, "state", "CFG")}
    assert {(c.name, c.attribute, c.function, c.in_loop) for c in summary.changes} == {
        ("CFG", None, "run", True),
        ("state", "LR", "run", True),
    }
    assert summary.tracing == frozenset({"f"})


def test_a_cached_result_is_not_reused_once_another_module_changes_what_it_read(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER})
    command = [sys.executable, "-m", "jax_purity_lint", "check", "--format", "json", "reader.py"]

    def reported() -> list[int]:
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        return [d["line"] for d in json.loads(result.stdout)]

    assert reported() == [8]
    assert reported() == [8]  # from the cache
    (tmp_path / "main.py").write_text("import config\nimport reader\n\nconfig.LR = 0.5\nreader.f(1.0)\n", encoding="utf-8")
    assert reported() == []  # reader.py's bytes did not change; the set-up in main.py did
    write(tmp_path, {"later.py": "import config\nimport reader\n\nreader.f(1.0)\nconfig.LR = 0.7\n"})
    assert reported() == [8]  # a new module of the project changes it again


def test_a_corrupt_cache_is_recomputed_not_believed(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER})
    assert codes(tmp_path / "reader.py") == [(8, "JPL100")]
    subprocess.run([sys.executable, "-m", "jax_purity_lint", "check", "."], cwd=tmp_path, capture_output=True)
    cache = tmp_path / ".jpl_cache"
    (index,) = cache.glob("names-*.json")
    index.write_text('{"key": 1, "files": {"x": [1, 2]}', encoding="utf-8")  # truncated
    for entry in (cache / "summaries").rglob("*.json"):
        entry.write_text('{"format": 1, "imports": 7}', encoding="utf-8")
    for entry in cache.glob("??/*.json"):  # the results: checked again, from the broken summaries
        entry.unlink()
    result = subprocess.run(
        [sys.executable, "-m", "jax_purity_lint", "check", "--format", "json", "reader.py"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert [(d["line"], d["code"]) for d in json.loads(result.stdout)] == [(8, "JPL100")], result.stderr


def test_a_module_rebinding_its_own_global_while_it_is_imported_is_set_up(tmp_path):
    # Even after a jitted call of its own: no importer can trace anything before the import ends.
    config = "import jax\n\nLR = 0.1\nWARM = jax.jit(lambda x: x * 2)(1.0)\nLR = 0.2\n"
    write(tmp_path, {"config.py": config, "reader.py": READER, "main.py": "import reader\n\nreader.f(1.0)\n"})
    assert codes(tmp_path / "reader.py") == []


def test_a_summary_made_from_a_modules_own_analysis_is_the_one_made_from_its_file():
    # The engine keeps the summary of each module it analyses (from the analysis's own sites when no
    # jit function is configured); it must not depend on which way it was made.
    from jax_purity_lint.diagnosis import summary_of_analysis
    from jax_purity_lint.engine import analyse_file

    fixtures = Path(__file__).parent / "fixtures"
    paths = sorted(fixtures.glob("*.py")) + sorted((fixtures / "packages").rglob("*.py"))
    compared = 0
    for path in paths:
        analysis = analyse_file(path.read_bytes(), str(path), project=False)
        if analysis.module_analysis is None:
            continue
        made = analysis.module_analysis
        assert summary_of_analysis(made) == summarise_bytes(path.read_bytes()), path.name
        compared += 1
    assert compared >= 100


def test_the_names_index_tells_changes_of_other_modules_from_local_bindings():
    from jax_purity_lint.analysis.project_index import names_in

    text = (
        b"import config\nfrom .registry import REGISTRY\nLR = 0.1\ndef f(self):\n    rate = 2\n    self.scale = 3\n"
        b"    config.LR = rate\n    REGISTRY.append(f)\n    del CACHE['k']\n"
    )
    found = names_in(text)
    assert {"LR", "rate", "scale", "config", "REGISTRY", "CACHE"} <= set(found["changes"])
    assert {"config", "LR", "REGISTRY", "CACHE"} <= set(found["reaches"])
    assert not {"rate", "scale", "self"} & set(found["reaches"])  # a local, and an attribute of self
    assert "*" in names_in(b"setattr(config, name, 1)\n")["reaches"]


def test_what_a_module_can_change_of_others_is_read_on_its_python_tree():
    from jax_purity_lint.analysis.project_index import changed_through_imports

    assert changed_through_imports(b"import config\nconfig.LR = 0.1\n") == {"config", "LR"}
    registry = b"from .registry import REGISTRY as R\ndef f():\n    R.append(1)\n"
    assert changed_through_imports(registry) == {"R", "REGISTRY"}
    assert changed_through_imports(b"from pkg import CFG\nCFG['lr'] = 2\n") == {"CFG"}
    assert changed_through_imports(b"import pkg.config\npkg.config.LR += 1\n") == {"pkg", "config", "LR"}
    assert "*" in changed_through_imports(b"import a\nsetattr(a, n, 1)\n")
    # Its own names, locals and attributes of objects it made: nothing of another module.
    assert changed_through_imports(b"import a\nLR = 1\ndef f():\n    LR = 2\n    b = a.x\n    b.y = 1\n") == set()
    assert changed_through_imports(b"def f(:\n") is None  # unknown: the summary decides


def test_a_module_that_only_binds_the_same_name_locally_is_not_summarised(tmp_path):
    """`LR = 3` in a function of another module binds its own local (the text says so), and
    `trainer.LR = 0.5` changes an object it was given, not a module it imports (its Python tree says
    so): no summary is built for it, and the reader's finding comes from the module that does change
    `config.LR`."""
    other = "def schedule(step):\n    LR = 3 * step\n    return LR\n\n\ndef tune(trainer):\n    trainer.LR = 0.5\n"
    files = {"pyproject.toml": "", "config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER}
    files["other.py"] = other
    write(tmp_path, files)
    index = ProjectIndex()
    changing = index.files_changing(str(tmp_path / "config.py"), "LR")
    # config.py by any binding of its own (its summary says whether one is late); other.py not at all.
    assert sorted(Path(p).name for p in changing) == ["config.py", "main.py"]
    assert index.summaries_built == 0  # the candidates were told apart without a summary
    assert codes(tmp_path / "reader.py") == [(8, "JPL100")]


def test_looking_at_the_tree_afresh_scans_only_the_files_that_changed(tmp_path, monkeypatch):
    """A long run looks at the tree afresh every few seconds (a saved, added or removed file is
    seen); the names each file may change are scanned again only for a file whose stat changed, so
    that a large tree is not read again at every look (a 15,000-file tree took 14 s a scan)."""
    from jax_purity_lint.analysis import project_index

    files = {"pyproject.toml": "", "config.py": "LR = 0.1\n", "reader.py": READER, "main.py": CHANGER}
    files.update({f"pkg/m{index}.py": f"VALUE = {index}\n" for index in range(30)})
    write(tmp_path, files)
    index = ProjectIndex()
    config = str(tmp_path / "config.py")
    assert sorted(Path(p).name for p in index.files_changing(config, "LR")) == ["config.py", "main.py"]
    assert index.names_scanned == 33
    monkeypatch.setattr(project_index, "TREE_FRESH_SECONDS", -1.0)  # every question looks afresh
    assert sorted(Path(p).name for p in index.files_changing(config, "LR")) == ["config.py", "main.py"]
    assert index.names_scanned == 33
    write(tmp_path, {"pkg/m7.py": "import config\n\nconfig.LR = 7\n", "pkg/new.py": "import config\nconfig.LR = 8\n"})
    os.utime(tmp_path / "pkg" / "m7.py", ns=(1, 1))  # a new stat even where the clock is coarse
    changing = sorted(Path(p).name for p in index.files_changing(config, "LR"))
    assert changing == ["config.py", "m7.py", "main.py", "new.py"]
    assert index.names_scanned == 35


def test_a_summary_does_not_take_sites_from_a_configured_jit_function():
    """Under `jit-functions = ["mylib.compile"]` the analysis finds a site the summary must not have
    (a summary is the same under every configuration): it is made without the analysis's sites."""
    from jax_purity_lint.diagnosis import summary_of_analysis
    from jax_purity_lint.engine import analyse_file
    from jax_purity_lint.settings import Settings

    source = b"import jax\nimport mylib\n\n\n@mylib.compile\ndef f(x):\n    return x\n\n\n@jax.jit\ndef g(x):\n    return x\n"
    settings = Settings(jit_functions=frozenset({"mylib.compile"}))
    configured = analyse_file(source, "module.py", settings, project=False).module_analysis
    assert configured is not None and len(configured.sites) == 2
    summary = summary_of_analysis(configured)
    assert summary == summarise_bytes(source) and summary.tracing == {"g"}


def test_the_files_calling_a_name_are_those_whose_text_calls_it(tmp_path, monkeypatch):
    """Callers are looked for only when a question asks (not kept in the names index): a call, a
    decorator naming it, not a text that only mentions the name; a caller added later is seen, and
    changes the digest a cached result is checked against."""
    from jax_purity_lint.analysis import project_index

    files = {
        "pyproject.toml": "",
        "settings.py": "def set_lr(value):\n    global LR\n    LR = value\n",
        "calls.py": "import settings\n\nsettings.set_lr (0.1)\n",
        "decorates.py": "import settings\n\n@settings.set_lr\ndef f():\n    pass\n",
        "mentions.py": "# set_lr is not called here\nset_lr_name = 'set_lr'\n",
        "other.py": "x = 1\n",
    }
    write(tmp_path, files)
    index = ProjectIndex()
    settings = str(tmp_path / "settings.py")
    question = ("calls", str(tmp_path), "set_lr")
    # On the text alone `def set_lr(` reads as a call too: a superset, which the summaries then refine.
    assert sorted(Path(p).name for p in index.files_calling(settings, "set_lr")) == ["calls.py", "decorates.py", "settings.py"]
    before = index.answers([question])
    monkeypatch.setattr(project_index, "TREE_FRESH_SECONDS", -1.0)  # the next question looks afresh
    write(tmp_path, {"late.py": "from settings import set_lr\nset_lr(2)\n", "other.py": "import settings\nsettings.set_lr(3)\n"})
    os.utime(tmp_path / "other.py", ns=(1, 1))  # a new stat even where the clock is coarse
    expected = ["calls.py", "decorates.py", "late.py", "other.py", "settings.py"]
    assert sorted(Path(p).name for p in index.files_calling(settings, "set_lr")) == expected
    assert index.answers([question]) != before
