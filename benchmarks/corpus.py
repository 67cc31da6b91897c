"""What the benchmark lints: the installed sources of JAX libraries, and one synthetic file per size
built from the test fixtures."""

from __future__ import annotations

import ast
import dataclasses
import functools
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, ScopeProvider

from jax_purity_lint.source.prefilter import might_trace, names_a_transformation
from jax_purity_lint.source.decoding import read_source
from jax_purity_lint.settings import DEFAULT_SETTINGS

CORPUS_PACKAGES = ("jax", "flax", "optax", "equinox")
UNIT_LINES = 1_000  # the synthetic file of n units has about n thousand lines
COPY_TOKEN = "__copy_of_snippet__"  # stands for a copy's suffix until the copy is written out


@dataclasses.dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str

    @property
    def lines(self) -> int:
        return self.text.count("\n")

    @property
    def marked(self) -> bool:
        """Passes the marker check on the text: it names JAX and spells a transformation's name."""
        return might_trace(self.text, DEFAULT_SETTINGS)

    @functools.cached_property
    def reaches_libcst(self) -> bool:
        """Passes the whole prefilter, the check on CPython's tree included: the engine parses it."""
        if not self.marked:
            return False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(self.text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return True  # the engine hands what CPython cannot parse to libcst
        return names_a_transformation(tree, DEFAULT_SETTINGS)


def corpus_files(site_packages: Path, packages: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for package in packages:
        folder = site_packages / package
        if not folder.is_dir():
            raise SystemExit(f"{package} is not installed in {site_packages}")
        files.extend(sorted(folder.rglob("*.py")))
    return files


def load(files: Iterable[Path]) -> list[SourceFile]:
    """Decoded as the linter decodes them; the few files it cannot read are left out of every figure."""
    loaded = []
    for path in files:
        try:
            loaded.append(SourceFile(path, read_source(path)))
        except (OSError, UnicodeDecodeError, SyntaxError):
            continue
    return loaded


# -- the synthetic scaling series -------------------------------------------------------------------
#
# Fixture snippets pasted one after another would rebind the same globals (`g`, `scenario`, `jax`)
# hundreds of times, which no real file does. So each snippet's module-level names get a suffix
# per copy (`g__3_17`), and imports are hoisted once to the top: a file of n units is n independent
# copies of one ~1k-line unit, whose findings are n times the unit's.


@dataclasses.dataclass(frozen=True)
class Snippet:
    imports: tuple[str, ...]  # its module-level import statements
    body: str  # the rest, module-level names ending in COPY_TOKEN


def _import_statements(module: cst.Module) -> list[cst.SimpleStatementLine]:
    return [
        statement
        for statement in module.body
        if isinstance(statement, cst.SimpleStatementLine)
        and all(isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body)
    ]


def _module_level_names(module: cst.Module) -> set[str]:
    """Names bound at module level by anything but an import."""
    scopes = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ScopeProvider)
    global_scope = scopes[module]
    return {
        assignment.name
        for assignment in global_scope.assignments
        if not isinstance(getattr(assignment, "node", None), (cst.Import, cst.ImportFrom))
    }


class _RenameGlobals(cst.CSTTransformer):
    """`name` -> `name__<index>COPY_TOKEN` for the given names; attribute and keyword names stay."""

    def __init__(self, names: set[str], index: int) -> None:
        self.names, self.index = names, index

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        if original.value in self.names:
            return updated.with_changes(value=f"{original.value}__{self.index}{COPY_TOKEN}")
        return updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.Attribute:
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)


def snippet_of(path: Path, index: int) -> Snippet:
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    imports = _import_statements(module)
    names = _module_level_names(module)
    hoisted = {id(statement) for statement in imports}
    rest = module.with_changes(body=[s for s in module.body if id(s) not in hoisted])
    renamed = rest.visit(_RenameGlobals(names, index))
    return Snippet(tuple(module.code_for_node(s).strip() for s in imports), renamed.code)


def unit_of(fixtures: Sequence[Path]) -> list[Snippet]:
    """One fixture of each kind (jpl100, jpl101, ..., ok) in turn while the unit fits in UNIT_LINES lines."""
    kinds: dict[str, list[Path]] = {}
    for path in sorted(fixtures):
        kinds.setdefault(path.stem.split("_")[0], []).append(path)
    in_turn = [paths[i] for i in range(max(map(len, kinds.values()))) for paths in kinds.values() if i < len(paths)]
    unit: list[Snippet] = []
    for index, path in enumerate(in_turn):
        snippet = snippet_of(path, index)
        if len(synthetic_file([*unit, snippet], 1).splitlines()) > UNIT_LINES:
            break
        unit.append(snippet)
    return unit


def synthetic_file(unit: Sequence[Snippet], copies: int) -> str:
    imports = list(dict.fromkeys(line for snippet in unit for line in snippet.imports))
    future = [line for line in imports if line.startswith("from __future__")]
    header = "\n".join([*future, *(line for line in imports if line not in future)]) + "\n\n\n"
    copy_text = "\n\n".join(snippet.body for snippet in unit)
    return header + "\n\n".join(copy_text.replace(COPY_TOKEN, f"_{copy}") for copy in range(copies))


def scaling_series(fixtures: Sequence[Path], units: Sequence[int], folder: Path) -> list[Path]:
    """synthetic_<n>k.py in `folder` for each n in `units`."""
    unit = unit_of(fixtures)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for copies in units:
        path = folder / f"synthetic_{copies}k.py"
        path.write_text(synthetic_file(unit, copies), encoding="utf-8")
        written.append(path)
    return written
