"""Summaries linked across a project: which changes, made anywhere in it, can reach state that a
traced function of one module reads through an import.

Python's import semantics decide what a reader sees. `import config` then `config.LR` reads the
module's global at each call, so both a rebinding (`config.LR = 0.5`, a setter with `global LR`) and
a change in place are seen. `from config import LR` copies the value once, at import: a later
rebinding of `config.LR` never reaches the reader (eager or jitted), only changes made in place to
the object it holds (`CFG["lr"] = 0.5`, `REGISTRY.append(f)`). A re-export (`pkg/__init__.py` doing
`from .config import CFG`) is followed to the module that defines the name.

A change counts only if a cached trace can see it, as within a module (cache_life.py): one made
before the code that could trace has run is set-up. Across modules the order of execution is known
only coarsely, so a change is set-up when it is not in a loop, no call of the project's code comes
before it in its function (or module code), and its function, if any, is itself called only from
such places, or is a hook Python runs while a class statement runs (`__init_subclass__`). Anything
else is reported: a setter nobody in the project calls may be called by anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Protocol

from .summary import CallFact, ChangeFact, ImportSource, ModuleSummary

_MAX_DEPTH = 4  # re-exports and callers followed: deeper chains are rare and are reported as live
_ANY = object()  # every change of a name, whatever attribute it touches
# Methods Python calls while a class statement runs (flax registers every nnx Module type from
# `__init_subclass__`): a registry they fill is filled as the modules defining the classes load.
_CLASS_CREATION_HOOKS = frozenset({"__init_subclass__", "__set_name__"})


class ModuleIndex(Protocol):
    """The project's modules as files: what the linker asks of the file system (project/modules.py)."""

    def module_name(self, path: str) -> Optional[str]:
        """`pkg.sub.mod` for pkg/sub/mod.py (`pkg.sub` for pkg/sub/__init__.py), None if unknown."""

    def module_file(self, importer: str, module: str) -> Optional[str]:
        """The project file that `import module` in `importer` loads; None outside the project."""

    def summary(self, path: str) -> Optional[ModuleSummary]:
        """None when the file cannot be read or analysed: its facts are unknown."""

    def files_changing(self, owner: str, word: str) -> list[str]:
        """The project's files that may change name `word` of the module at `owner` (a superset:
        `owner` by any binding its text shows, other files through an attribute or in place on
        something they import, as their text and Python tree show)."""

    def files_calling(self, importer: str, word: str) -> list[str]:
        """The project's files whose text may call a function `word` (a superset)."""

    def line_at(self, path: str, order: int) -> int:
        """The line of a summary fact, by its order in the module (0 if unknown)."""


@dataclass(frozen=True)
class Target:
    """A module-level name of a project module, as a reader reaches it."""

    path: str
    name: str
    rebinding_seen: bool  # read through the module (`config.LR`): a rebinding reaches the reader


@dataclass(frozen=True)
class RemoteChange:
    """A change of the state a reader reaches, made in a project module (maybe the reader's own)."""

    path: str
    line: int
    how: str
    state: str  # as the changing module spells it: `config.LR`, `REGISTRY`
    function: Optional[str]


@dataclass(frozen=True)
class HelperEffect:
    """What a project function called from traced code does while it is traced: it prints, or it
    reads state that changes late (`changes`)."""

    kind: str  # "print" or "read"
    path: str  # the module where it happens
    line: int
    helper: str  # the function of that module the effect is in
    what: str  # the printing function, or the state read as that module spells it (`SCALE`, `config.LR`)
    changes: tuple[RemoteChange, ...] = ()


class Linker:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self._callers: dict[tuple[str, str], list[tuple[str, CallFact]]] = {}
        self._tracing: dict[tuple[str, str], bool] = {}
        self._generation = getattr(index, "generation", 0)

    # -- what a read reaches ----------------------------------------------------------------------

    def changes_reaching(
        self, importer: str, source: ImportSource, path: tuple[str, ...]
    ) -> tuple[list[RemoteChange], int]:
        """The live changes of what `name.path...` reaches in `importer`, where `name` was imported
        from `source`, and how many of `path`'s attributes lead to that state (`config.LR.item` ->
        1): no changes when it is not state of a project module, or nothing changes it late."""
        reached = self._reach(importer, source, path)
        if reached is None:
            return [], 0
        self._follow_the_tree()
        target, rest = reached
        wanted = self._attribute_read(target, rest[0] if rest else None)
        changes = (change for each in self._targets(target) for change in self._changes_of(each, wanted))
        return _by_place(changes), len(path) - len(rest)

    def _attribute_read(self, target: Target, attribute: Optional[str]) -> object:
        """Which changes a read sees: of a class or function of the project, only its rebinding or a
        change of the attribute read (`isinstance(x, Module)` reads the same class object whatever its
        attributes hold); of any other object, every change (_ANY)."""
        summary = self.index.summary(target.path)
        return attribute if summary is not None and target.name in summary.definitions else _ANY

    def _follow_the_tree(self) -> None:
        """The memos below hold for one look at the tree (see project_index.ProjectIndex._refresh)."""
        generation = getattr(self.index, "generation", 0)
        if generation != self._generation:
            self._callers.clear()
            self._tracing.clear()
            self._generation = generation

    def _targets(self, target: Target, depth: int = 0) -> Iterator[Target]:
        """The module-level names whose changes a read of `target` can see: itself, and through a
        re-export the one it copies (whose changes in place it shares)."""
        yield target
        if depth >= _MAX_DEPTH:
            return
        summary = self.index.summary(target.path)
        copied = summary.imports.get(target.name) if summary is not None else None
        reached = self._reach(target.path, copied, ()) if copied is not None else None
        if reached is not None:  # a re-export: the object is the imported one
            for inner in self._targets(reached[0], depth + 1):
                yield Target(inner.path, inner.name, rebinding_seen=False)

    def _reach(self, importer: str, source: ImportSource, path: tuple[str, ...]) -> Optional[tuple[Target, tuple[str, ...]]]:
        """The project module's name that `imported.path...` stands for, and the attributes after it."""
        level, module, name = source
        base = self._absolute(importer, level, module)
        if base is None:
            return None
        rest = list(path)
        if name is not None:
            if self._is_module(importer, f"{base}.{name}" if base else name):
                base = f"{base}.{name}" if base else name
            else:
                file = self.index.module_file(importer, base) if base else None
                if file is None:
                    return None
                return Target(file, name, rebinding_seen=False), tuple(rest)
        while rest and self._is_module(importer, f"{base}.{rest[0]}"):
            base = f"{base}.{rest.pop(0)}"
        if not rest:
            return None  # the module object itself
        file = self.index.module_file(importer, base)
        if file is None:
            return None
        return Target(file, rest[0], rebinding_seen=True), tuple(rest[1:])

    def _absolute(self, importer: str, level: int, module: str) -> Optional[str]:
        if level == 0:
            return module
        own = self.index.module_name(importer)
        if own is None:
            return None
        package = own.split(".")
        if not importer.endswith("__init__.py"):
            package = package[:-1]
        if level - 1 > len(package):
            return None
        package = package[: len(package) - (level - 1)]
        return ".".join([*package, *([module] if module else [])])

    def _is_module(self, importer: str, module: str) -> bool:
        return self.index.module_file(importer, module) is not None

    # -- what a helper of another module does -----------------------------------------------------

    def helper_effects(self, importer: str, source: ImportSource, path: tuple[str, ...]) -> list[HelperEffect]:
        """The effects of calling `name.path...` (a function of a project module, `name` imported from
        `source`) and of the project functions it calls, a few calls deep."""
        self._follow_the_tree()
        reached = self._reach(importer, source, path)
        if reached is None or reached[1]:
            return []  # not a module-level function (a method of an object, a module, ...)
        return self._effects_of(reached[0].path, reached[0].name, 0, set())

    def _effects_of(self, path: str, name: str, depth: int, seen: set[tuple[str, str]]) -> list[HelperEffect]:
        if (path, name) in seen or depth > _MAX_DEPTH:
            return []
        seen.add((path, name))
        summary = self.index.summary(path)
        if summary is None:
            return []
        if name in summary.imports:  # a re-export: the function is the imported one
            reached = self._reach(path, summary.imports[name], ())
            return self._effects_of(reached[0].path, reached[0].name, depth + 1, seen) if reached else []
        if name not in summary.definitions:
            return []
        effects = []
        for fact in summary.helpers.get(name, ()):
            if fact.kind == "print":
                effects.append(HelperEffect("print", path, self.index.line_at(path, fact.order), name, fact.what))
                continue
            changes = self._read_changes(path, summary, fact.what, fact.attribute)
            if changes:
                spelled = f"{fact.what}.{fact.attribute}" if fact.attribute and fact.what in summary.imports else fact.what
                line = self.index.line_at(path, fact.order)
                effects.append(HelperEffect("read", path, line, name, spelled, tuple(changes)))
        for call in summary.calls:
            if call.function == name:
                callee = self._callee(path, summary, call)
                if callee is not None:
                    effects.extend(self._effects_of(callee[0], callee[1], depth + 1, seen))
        return effects

    def _read_changes(self, path: str, summary: ModuleSummary, name: str, attribute: Optional[str]) -> list[RemoteChange]:
        if name in summary.imports:
            changes, _ = self.changes_reaching(path, summary.imports[name], (attribute,) if attribute else ())
            return changes
        target = Target(path, name, rebinding_seen=True)
        return _by_place(self._changes_of(target, self._attribute_read(target, attribute)))

    # -- what changes it --------------------------------------------------------------------------

    def _changes_of(self, target: Target, attribute: object = _ANY) -> Iterator[RemoteChange]:
        """`attribute`: keep only the changes of that attribute (None: of the name itself), or _ANY."""
        for path in self.index.files_changing(target.path, target.name):
            summary = self.index.summary(path)
            if summary is None:
                continue
            for change in summary.changes:
                if attribute is not _ANY and change.attribute != attribute:
                    continue
                if path == target.path and change.function is None:
                    continue  # the module's own code changing its own global runs while it is imported,
                    # before any importer can call (and trace) anything
                if self._changes_target(path, summary, change, target) and not self.is_set_up(path, change):
                    line = self.index.line_at(path, change.order)
                    yield RemoteChange(path, line, change.how, _spelled(change), change.function)

    def _changes_target(self, path: str, summary: ModuleSummary, change: ChangeFact, target: Target) -> bool:
        if path == target.path and change.name == target.name:
            return target.rebinding_seen or not change.rebinds  # its own global
        source = summary.imports.get(change.name)
        if source is None:
            return False
        reached = self._reach(path, source, (change.attribute,) if change.attribute else ())
        if reached is None:
            return False
        changed, _ = reached
        if (changed.path, changed.name) != (target.path, target.name):
            return False
        # `config.LR = v` rebinds the module's global; `config.CFG["k"] = v`, `CFG.append(v)` change it in place.
        rebinds = changed.rebinding_seen and change.how.startswith(("attribute", "changed by `setattr"))
        return target.rebinding_seen or not rebinds

    # -- set-up or not ----------------------------------------------------------------------------

    def is_set_up(self, path: str, change: ChangeFact) -> bool:
        """Made before anything of the project that could trace has run (see the module docstring)."""
        if change.in_loop and change.function is None and change.loop_end is not None:
            # A loop of module code: set-up if nothing of the project is called before it ends.
            return not self._project_call_before(path, None, change.loop_end)
        return self._runs_first(path, change.function, change.order, change.in_loop, 0)

    def _runs_first(self, path: str, function: Optional[str], order: int, in_loop: bool, depth: int) -> bool:
        if in_loop or depth > _MAX_DEPTH or self._project_call_before(path, function, order):
            return False
        if function is None:
            return True  # module code, before any call of the project's code: import-time set-up
        if function.rsplit(".", 1)[-1] in _CLASS_CREATION_HOOKS:
            return True  # runs as a class statement runs: when the modules defining subclasses load
        callers = self._callers_of(path, function)
        return bool(callers) and all(
            self._runs_first(caller, call.function, call.order, call.in_loop, depth + 1) for caller, call in callers
        )

    def _project_call_before(self, path: str, function: Optional[str], order: int) -> bool:
        """Does code that may trace run before `order` in `function` of `path` (None: module code)?"""
        summary = self.index.summary(path)
        if summary is None:
            return True
        if any(site_function == function and site_order < order for site_function, site_order in summary.site_orders):
            return True
        return any(
            call.function == function and call.order < order and self._may_trace(path, summary, call, 0)
            for call in summary.calls
        )

    def _may_trace(self, path: str, summary: ModuleSummary, call: CallFact, depth: int) -> bool:
        """Can the callee trace: a project function that is jitted or holds a trace site, or calls
        one (followed a few calls deep; deeper is taken to trace)."""
        callee = self._callee(path, summary, call)
        if callee is None:
            return False
        callee_path, name = callee
        key = (callee_path, name)
        if key in self._tracing:
            return self._tracing[key]
        if depth > _MAX_DEPTH:
            return True
        callee_summary = self.index.summary(callee_path)
        if callee_summary is None:
            return True  # unknown code of the project: it may trace
        self._tracing[key] = False  # a recursion ends here
        traces = name in callee_summary.tracing or (
            name not in callee_summary.definitions and name in callee_summary.imports and self._may_trace(
                callee_path, callee_summary, CallFact(name, (), None, 0, False), depth + 1
            )
        ) or any(
            _inside(inner.function, name) and self._may_trace(callee_path, callee_summary, inner, depth + 1)
            for inner in callee_summary.calls
        )
        self._tracing[key] = traces
        return traces

    def _callee(
        self, path: str, summary: ModuleSummary, call: CallFact, exact: bool = False
    ) -> Optional[tuple[str, str]]:
        """The project module and module-level name a call reaches (`model.softmax` -> model.py,
        softmax; `model.Trainer.fit` -> model.py, Trainer, unless `exact`: the name itself is called)."""
        if call.name in summary.definitions and not call.path:
            return path, call.name
        source = summary.imports.get(call.name)
        reached = self._reach(path, source, call.path) if source is not None else None
        if reached is None or (exact and reached[1]):
            return None
        return reached[0].path, reached[0].name

    def _callers_of(self, path: str, function: str) -> list[tuple[str, CallFact]]:
        """The calls of module-level function `function` of `path` found in the project."""
        key = (path, function)
        if key in self._callers:
            return self._callers[key]
        found: list[tuple[str, CallFact]] = []
        if "." not in function:  # methods and nested functions: their callers are not followed
            for caller in self.index.files_calling(path, function):
                summary = self.index.summary(caller)
                if summary is None:
                    continue
                for call in summary.calls:
                    if self._callee(caller, summary, call, exact=True) == (path, function):
                        found.append((caller, call))
        self._callers[key] = found
        return found


def _by_place(changes: Iterable[RemoteChange]) -> list[RemoteChange]:
    """One change per place (the first found), in file and line order."""
    found: dict[tuple[str, int], RemoteChange] = {}
    for change in changes:
        found.setdefault((change.path, change.line), change)
    return sorted(found.values(), key=lambda c: (c.path, c.line))


def _inside(function: Optional[str], name: str) -> bool:
    """Is code of `function` (a qualified name) part of module-level `name` (its methods, its locals)?"""
    return function is not None and (function == name or function.startswith(f"{name}."))


def _spelled(change: ChangeFact) -> str:
    return f"{change.name}.{change.attribute}" if change.attribute else change.name
