"""The project's modules on disk, as the linker asks for them (linking.ModuleIndex): file lookup by
module name (source/project_files.py) and each file's summary, computed from that file alone and
cached.

Summaries are memoised per process by (path, modification time, size) and, when a surface names a
cache folder (`use_cache_folder`: `check`'s result cache folder, flake8's), kept on disk there by
content hash under `summaries/` (JSON written atomically, as `check`'s result cache is: a broken or
foreign entry is a miss), so an editor's on-save check reads the other modules' summaries instead
of parsing them. Without one (`check --no-cache`, the library's own calls) nothing is written
(analysis/cache_place.py). A file that cannot be read, decoded or parsed has no
summary: its facts are unknown and it changes nothing the linker can see.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import time
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional

from .. import __version__
from ..code_fingerprint import code_fingerprint
from ..source import project_files
from ..source.atomic_write import write_atomically
from ..source.decoding import decode_source
from ..source.deep_stack import retry_deep, with_native_stack
from ..source.preflight import python_verdict, text_problem
from . import cache_place
from .container_methods import MUTATING_METHODS

# Parsing and summarising need libcst; telling whether a cached result still holds (`answers`: module
# lookups and the names index) does not, so a result served from a cache loads no libcst.
if TYPE_CHECKING:
    from ..source.parsing import ParsedModule
    from .summary import ModuleSummary

TREE_FRESH_SECONDS = 2.0
Stat = tuple[int, int]  # (mtime_ns, size)
# A question asked of the tree: ("module", folder, module name), ("name", path, ""), and the files
# that may change a name of a module or call a name: ("changes", module path, name), ("calls", folder,
# name).
Question = tuple[str, str, str]


# The names a file's text may change or call, found on the text alone and taken before anything is
# parsed: the names in an assignment's targets (`name = `, `name.a[k] += `, `a = name[k] = `,
# `a, name = `), before a mutating method (`name.append(`, `name.a.update(`), after `global`,
# `for`, `del`, `as`; `name(` and decorators `@a.name` for calls. Anchored on what makes a change
# (a statement's start, the mutating method), so that the scan stays linear in the text.
# Greedy up to a line's first `=` (an augmented operator before it stays in the target, and adds no
# identifier): three times faster than stopping lazily at each character to try the operators.
_ASSIGNED = re.compile(rb"^[ \t]*[(\[]?\*?([A-Za-z_][^=\n#]*)\s*=(?!=)", re.M)
_CHAINED = re.compile(rb"=\s*([A-Za-z_][\w.\[\]'\" ]*?)\s*=(?!=)")
_MUTATOR = re.compile(rb"\.\s*(?:" + b"|".join(m.encode() for m in sorted(MUTATING_METHODS)) + rb")\s*\(")
_RECEIVER = re.compile(rb"([A-Za-z_][\w.\[\]'\" ]*)$")
_CHANGED_LISTS = re.compile(rb"\b(global|nonlocal|del|for|as)\b([^\n#:=]*)")
_CALLED = re.compile(rb"\b([A-Za-z_]\w*)\s*\(")
_DECORATOR = re.compile(rb"@\s*([A-Za-z_][\w.]*)")
_IDENTIFIER = re.compile(rb"[A-Za-z_]\w*")
_OWN_OBJECT = (b"self", b"cls")  # `self.config = ...` changes an instance, never another module's name
NAMES_FORMAT = 5
_NAME_KINDS = ("changes", "reaches")


def names_in(text: bytes) -> dict[str, list[str]]:
    """{"changes": names the text may change, "reaches": those it may change through an attribute or in
    place (`config.LR = v`, `REGISTRY.append(f)`, `CFG["k"] = v`: how one module changes another's
    state)}. A plain `name = v` changes only the file's own `name`. Both lists hold "*" when the text
    calls `setattr(`, which may change any name."""
    changed: set[bytes] = set()
    reached: set[bytes] = set()

    def target(text: bytes) -> None:
        for part in text.split(b","):
            names = _IDENTIFIER.findall(part)
            changed.update(names)  # `config.LR`: both names count
            if names and names[0] not in _OWN_OBJECT and (b"." in part or b"[" in part):
                reached.update(names)

    for assigned in (*_ASSIGNED.findall(text), *_CHAINED.findall(text)):
        target(assigned)
    for call in _MUTATOR.finditer(text):
        line = text[text.rfind(b"\n", 0, call.start()) + 1 : call.start()]
        receiver = _RECEIVER.search(line)
        if receiver is not None:
            target(receiver.group(1) + b".")  # the receiver is changed in place
    for keyword, tail in _CHANGED_LISTS.findall(text):
        if keyword == b"del":
            target(tail)
        else:
            changed.update(_IDENTIFIER.findall(tail))
    if b"setattr(" in text:
        changed.add(b"*")
        reached.add(b"*")
    kinds = (("changes", changed), ("reaches", reached))
    return {kind: sorted(n.decode() for n in names) for kind, names in kinds}


def calls_in(text: bytes) -> frozenset[str]:
    """The names the text may call: `name(`, and each part of a decorator's `@a.name`."""
    called = set(_CALLED.findall(text))
    for chain in _DECORATOR.findall(text):
        called.update(chain.split(b"."))
    return frozenset(n.decode() for n in called)


class ProjectIndex:
    """One per process (see `shared_index`); what it learns of the tree is refreshed every few seconds."""

    def __init__(self) -> None:
        self._summaries: dict[str, tuple[Stat, Optional[ModuleSummary]]] = {}
        self._texts: dict[str, tuple[Stat, Optional[bytes]]] = {}
        self.summaries_built = 0  # parsed here, not read from a cache (for the benchmark and tests)
        self._recording: Optional[set[Question]] = None
        self._name_indexes: dict[tuple[str, ...], dict[str, dict[str, frozenset[str]]]] = {}
        self._lines: dict[str, tuple[Optional[Stat], dict[int, int]]] = {}
        self.generation = 0  # counts the times the tree was looked at afresh (linking.Linker's memos follow it)
        self._looked_at = time.monotonic()
        # An editor's unsaved buffers (the language server's open documents), read in place of the
        # files: another module's summary follows what is typed, not what was last saved. Each with
        # the stand-in for its stat, which changes with its content.
        self._buffers: dict[str, tuple[bytes, Stat]] = {}
        # What the CPython tree of a file whose summary is not at hand says (see files_changing).
        self._through_imports: dict[str, tuple[Optional[Stat], Optional[frozenset[str]]]] = {}
        # Each file's names_in() entry by its stat, kept when the tree is looked at afresh: a refresh
        # then costs a walk and a stat per file, not a scan of every text again (in a tree of 15,000
        # files a scan takes 14 s, and a long run refreshes every few seconds).
        self._file_names: dict[str, tuple[Optional[Stat], dict, dict[str, frozenset[str]]]] = {}
        self.names_scanned = 0  # texts scanned by names_in (for tests)
        # Each file's calls_in() by its stat, for the files a `files_calling` question read, and the
        # stat of each file whose text did not hold the word asked (path, word): a long-lived process
        # asked again reads only the files that changed.
        self._file_calls: dict[str, tuple[Optional[Stat], frozenset[str]]] = {}
        self._word_absent: dict[tuple[str, str], Stat] = {}

    def use_buffer(self, path: str, text: str) -> bool:
        """Read `text` for the file at `path` until `drop_buffer(path)`; True when other modules now
        read something new (the text differs from the buffer before it, or from the file)."""
        path, data = os.path.abspath(path), text.encode("utf-8")
        before = self._buffers[path][0] if path in self._buffers else _file_bytes(path)
        self._buffers[path] = (data, (-1, int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")))
        if before == data:
            return False
        self._forget_tree()
        return True

    def drop_buffer(self, path: str) -> bool:
        """The file at `path` is read from disk again (its editor closed it); True when that differs
        from the buffer."""
        path = os.path.abspath(path)
        buffer = self._buffers.pop(path, None)
        if buffer is None or buffer[0] == _file_bytes(path):
            return False
        self._forget_tree()
        return True

    def _forget_tree(self) -> None:
        self._name_indexes.clear()
        self.generation += 1

    def _stat(self, path: str) -> Optional[Stat]:
        """The file's (mtime, size), or for a buffer a stand-in that changes with its content."""
        buffer = self._buffers.get(path)
        return buffer[1] if buffer is not None else _stat(path)

    def use_cache_folder(self, folder: Optional[str]) -> None:
        """Where summaries and the names index are kept on disk from now on (None: nowhere)."""
        cache_place.use(folder)

    @property
    def cache_folder(self) -> Optional[str]:
        return cache_place.folder()

    # -- linking.ModuleIndex -----------------------------------------------------------------------

    def module_name(self, path: str) -> Optional[str]:
        self._refresh()
        self._record(("name", os.path.abspath(path), ""))
        return project_files.module_name(path)

    def module_file(self, importer: str, module: str) -> Optional[str]:
        self._refresh()
        folder = os.path.dirname(os.path.abspath(importer))
        self._record(("module", folder, module))
        return project_files.module_file(folder, module)

    def files_changing(self, owner: str, word: str) -> list[str]:
        """The files that may change `word` of the module at `owner`: `owner` itself by any binding,
        the others only through what they import (`config.LR = v`, `REGISTRY.append(f)` after
        `from .registry import REGISTRY`): the text's candidates, and of the others only those whose
        CPython tree changes something imported, so that no summary is built for the rest."""
        self._refresh()
        owner = os.path.abspath(owner)
        self._record(("changes", owner, word))
        return [
            path
            for path in self._files_changing(owner, word)
            if path == owner or not self._imports_unchanged(path, word)
        ]

    def _imports_unchanged(self, path: str, word: str) -> bool:
        """Does the file's CPython tree show it cannot change `word` of another module? Asked only
        when its summary is not at hand: a summary read from memory or disk answers exactly, and
        costs less than parsing the text again."""
        stat = self._stat(path)
        if self._summary_at_hand(path, stat):
            return False
        known = self._through_imports.get(path)
        if known is None or known[0] != stat:
            known = self._through_imports[path] = (stat, changed_through_imports(self._text(path)))
        words = known[1]
        return words is not None and word not in words

    def _summary_at_hand(self, path: str, stat: Optional[Stat]) -> bool:
        known = self._summaries.get(path)
        if known is not None and known[0] == stat:
            return True
        text = self._text(path)
        entry = self._entry_path(text) if text is not None else None
        return entry is not None and os.path.exists(entry)

    def _files_changing(self, owner: str, word: str) -> list[str]:
        """The candidates on the text alone (what a cached result's `answers` digests)."""
        names = self._names(os.path.dirname(owner))
        return [
            path
            for path, found in names.items()
            if any(w in found["reaches"] or (path == owner and w in found["changes"]) for w in (word, "*"))
        ]

    def files_calling(self, importer: str, word: str) -> list[str]:
        self._refresh()
        folder = os.path.dirname(os.path.abspath(importer))
        self._record(("calls", folder, word))
        return self._files_calling(folder, word)

    def _files_calling(self, folder: str, word: str) -> list[str]:
        """The project's files whose text may call `word`. Asked of a few words in a run (the callers of
        a function that changes state), so not kept in the names index: only the texts holding the
        word are scanned."""
        spelled = word.encode()
        found = []
        for path in project_files.project_files(folder):
            stat = self._stat(path)
            if stat is not None and self._word_absent.get((path, word)) == stat:
                continue
            known = self._file_calls.get(path)
            if known is None or known[0] != stat or stat is None:
                text = self._text(path, keep=False)
                if text is None or spelled not in text:
                    if stat is not None:
                        self._word_absent[(path, word)] = stat
                    continue
                known = self._file_calls[path] = (stat, calls_in(text))
            if word in known[1]:
                found.append(path)
        return found

    def _refresh(self) -> None:
        """What was learnt of the tree (its files, the names index) holds for a few seconds: a run
        sees one state of the tree, and a long-lived process sees files saved, added or removed."""
        now = time.monotonic()
        if now - self._looked_at > TREE_FRESH_SECONDS:
            project_files.forget()
            self._name_indexes.clear()
            self.generation += 1
            self._looked_at = now

    # -- what a result depends on ------------------------------------------------------------------

    @contextlib.contextmanager
    def recording(self) -> Iterator[set["Question"]]:
        """The questions asked of the tree meanwhile: a result computed from their answers is valid
        as long as `answers(questions)` is unchanged (surfaces/cache.py keys entries on it)."""
        outer, self._recording = self._recording, set()
        try:
            yield self._recording
        finally:
            asked, self._recording = self._recording, outer
            if outer is not None:
                outer.update(asked)

    def _record(self, question: "Question") -> None:
        if self._recording is not None:
            self._recording.add(question)

    def answers(self, questions: Iterable["Question"]) -> str:
        """A digest of what the tree answers now: module lookups, module names, and for each word the
        files mentioning it with their content."""
        digest = hashlib.blake2b(digest_size=20)
        for kind, place, text in sorted(questions):
            if kind == "module":
                answer = project_files.module_file(place, text) or "-"
            elif kind == "name":
                answer = project_files.module_name(place) or "-"
            else:
                files = self._files_changing(place, text) if kind == "changes" else self._files_calling(place, text)
                answer = ",".join(f"{path}:{self._digest(path)}" for path in files)
            digest.update(f"{kind}|{place}|{text}|{answer}\n".encode())
        return digest.hexdigest()

    def _digest(self, path: str) -> str:
        text = self._text(path)
        return "-" if text is None else hashlib.blake2b(text, digest_size=12).hexdigest()

    def _names(self, folder: str) -> dict[str, dict[str, frozenset[str]]]:
        """names_in() of every file of the project holding `folder`, kept on disk beside the summaries
        (by path, modification time and size) so that a new process need not read every file."""
        files = project_files.project_files(folder)
        known = self._name_indexes.get(files)
        if known is not None:
            return known
        root = project_files.project_root(folder)
        index_path = self._names_path(root)
        key = f"{NAMES_FORMAT}|{__version__}|{code_fingerprint()}"  # another version's index is not read
        kept = (_read_json(index_path) if index_path is not None else None) or {}
        stored = kept.get("files", {}) if kept.get("key") == key else {}
        fresh: dict[str, dict] = {}
        result: dict[str, dict[str, frozenset[str]]] = {}
        for path in files:
            stat = self._stat(path)
            known = self._file_names.get(path)
            if known is None or known[0] != stat or stat is None:
                entry = stored.get(path)
                if not _names_entry(entry) or stat is None or entry.get("stat") != list(stat):
                    text = self._text(path, keep=False)
                    self.names_scanned += 1
                    found = names_in(text) if text is not None else {kind: [] for kind in _NAME_KINDS}
                    entry = {"stat": list(stat) if stat else None, **found}
                known = self._file_names[path] = (stat, entry, {kind: frozenset(entry[kind]) for kind in _NAME_KINDS})
            fresh[path] = known[1]
            result[path] = known[2]
        if index_path is not None and fresh != stored:
            _store(index_path, json.dumps({"key": key, "files": fresh}), self.cache_folder)
        self._name_indexes[files] = result
        return result

    def _names_path(self, root: str) -> Optional[str]:
        if self.cache_folder is None:
            return None
        digest = hashlib.blake2b(root.encode(), digest_size=8).hexdigest()
        return os.path.join(self.cache_folder, f"names-{digest}.json")

    def _entry_path(self, data: bytes) -> Optional[str]:
        if self.cache_folder is None:
            return None
        from .summary import SUMMARY_FORMAT

        digest = hashlib.blake2b(data, digest_size=20)
        digest.update(f"|{SUMMARY_FORMAT}|{__version__}|{code_fingerprint()}".encode())
        name = digest.hexdigest()
        return os.path.join(self.cache_folder, "summaries", name[:2], f"{name[2:]}.json")

    # -- summaries ---------------------------------------------------------------------------------

    def summary(self, path: str) -> Optional[ModuleSummary]:
        path = os.path.abspath(path)
        stat = self._stat(path)
        if stat is None:
            return None
        known = self._summaries.get(path)
        if known is not None and known[0] == stat:
            return known[1]
        text = self._text(path)
        if text is None:
            self._summaries[path] = (stat, None)
            return None
        entry = self._entry_path(text)
        kept = _read_summary(entry) if entry is not None else None
        if kept is not None:
            self._summaries[path] = (stat, kept)
            return kept
        summary = summarise_bytes(text)
        self._keep(path, stat, summary, entry)
        return summary

    def line_at(self, path: str, order: int) -> int:
        """The line of the node at `order` (a summary fact's position) in the module at `path`; 0 if
        it cannot be found. The module is parsed again, with positions, once per content: only
        modules that a finding names pay for it."""
        path = os.path.abspath(path)
        stat = self._stat(path)
        known = self._lines.get(path)
        if known is None or known[0] != stat:
            known = self._lines[path] = (stat, _lines_by_order(self._text(path)))
        return known[1].get(order, 0)

    def remember(self, path: str, source: str, build: Callable[[], ModuleSummary]) -> None:
        """The summary of a module just analysed, from its own analysis (`build`), kept as if read
        from disk, so that a run asking for it later does not parse the module again. Only when
        `source` is the file's content and no summary of that content is kept already."""
        path = os.path.abspath(path)
        data = self._text(path)
        stat = self._stat(path)
        if data is None or stat is None:
            return
        known = self._summaries.get(path)
        if known is not None and known[0] == stat:
            return
        entry = self._entry_path(data)
        if entry is not None and os.path.exists(entry):
            return  # read when asked for
        try:
            if decode_source(data).lstrip("\ufeff") != source:
                return  # an editor's buffer, not the file
        except (UnicodeDecodeError, SyntaxError, LookupError):
            return
        self._keep(path, stat, build(), entry)

    def _keep(self, path: str, stat: Stat, summary: Optional[ModuleSummary], entry: Optional[str]) -> None:
        """A summary made here: memoised, and kept on disk if there is a cache folder."""
        self.summaries_built += 1
        self._summaries[path] = (stat, summary)
        if summary is not None and entry is not None:
            _store(entry, json.dumps(summary.to_json()), self.cache_folder)

    def _text(self, path: str, keep: bool = True) -> Optional[bytes]:
        """The file's bytes (an editor's buffer first); memoised unless `keep` is False: the names
        scan reads every file of the tree once, and keeping them all would hold the whole tree in
        memory."""
        if path in self._buffers:
            return self._buffers[path][0]
        stat = _stat(path)
        if stat is None:
            return None
        known = self._texts.get(path)
        if known is not None and known[0] == stat:
            return known[1]
        data = _file_bytes(path)
        if keep:
            self._texts[path] = (stat, data)
        return data


def changed_through_imports(data: Optional[bytes]) -> Optional[frozenset[str]]:
    """What a module can change of other modules, read on CPython's tree: for each attribute or item
    store, `del`, method call, `next()` or `setattr()` on a chain that starts at a name some import
    binds, that name, the name it was imported as, and every attribute of the chain (`config.LR = v`
    -> config, LR; `from .registry import REGISTRY as R; R.append(f)` -> R, REGISTRY). A superset of
    the names of other modules its summary can show changed (linking.Linker._changes_target); None
    when the text does not parse (the summary decides)."""
    if data is None:
        return frozenset()
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    imported: dict[str, str] = {}  # each name an import binds -> the name imported (`import W as A`: A -> W)
    changed: list[tuple[str, list[str]]] = []  # each changed chain's first name and attributes
    found: set[str] = set()

    def chain(node: ast.AST) -> None:
        """`node` is changed (stored into, or a method's receiver): its chain, if it starts at a name."""
        names: list[str] = []
        while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
            if isinstance(node, ast.Attribute):
                names.append(node.attr)
            node = node.func if isinstance(node, ast.Call) else node.value
        if isinstance(node, ast.Name):
            changed.append((node.id, names))

    # One walk (the imports are known only at its end): the walk is most of the cost.
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Attribute or kind is ast.Subscript:
            if isinstance(node.ctx, (ast.Store, ast.Del)):  # a target's part: `config.LR = v`, `del CFG["k"]`
                chain(node)
        elif kind is ast.Call:
            func = node.func
            if isinstance(func, ast.Attribute):
                chain(func.value)  # `R.append(f)`, `config.CFG.update(...)`: the receiver
            elif isinstance(func, ast.Name) and func.id in ("next", "setattr", "delattr") and node.args:
                chain(node.args[0])
                if func.id != "next":
                    found.add("*")  # the attribute's name may be computed
        elif kind is ast.Import or kind is ast.ImportFrom:
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                imported[bound] = alias.name.rsplit(".", 1)[-1] if kind is ast.ImportFrom else bound
    for root, names in changed:
        if root in imported:
            found.update((root, imported[root], *names))
    return frozenset(found)


def _read_summary(entry: str) -> Optional[ModuleSummary]:
    """A kept summary, or None for a missing entry or one of another shape (a miss)."""
    from .summary import ModuleSummary

    try:
        with open(entry, encoding="utf-8") as handle:
            return ModuleSummary.from_json(json.load(handle))
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def summarise_bytes(data: bytes) -> Optional[ModuleSummary]:
    """The summary of a module's bytes, or None when it cannot be decoded, parsed or analysed."""
    from .summary import summarise_module

    parsed = _parsed(data)
    if parsed is None:
        return None
    try:
        return summarise_module(parsed.module)
    except Exception:  # another module's problem is reported when that module is checked
        return None


def _parsed(data: Optional[bytes]) -> Optional[ParsedModule]:
    from ..source.parsing import parse

    if data is None:
        return None
    try:
        source = decode_source(data)
        if text_problem(source) is not None:
            return None
        verdict = python_verdict(source)
        if verdict.tree is None or verdict.too_deep is not None:
            return None
        return retry_deep(lambda: with_native_stack(lambda: parse(source, verdict.tree)))
    except Exception:
        return None


def _lines_by_order(data: Optional[bytes]) -> dict[int, int]:
    """Line of each binding and effect of the module, by its order (as the collector numbers them)."""
    from .collector import collect
    from .scopes import release_scopes

    parsed = _parsed(data)
    if parsed is None:
        return {}
    try:
        nodes: dict[int, object] = {}
        scopes = collect(parsed.module).all_scopes
        for scope in scopes:
            for bindings in scope.bindings.values():
                for binding in bindings:
                    nodes.setdefault(binding.order, binding.node)
            for effect in scope.effects:
                nodes.setdefault(effect.order, effect.node)
        release_scopes(scopes)
        positions = parsed.positions()
        return {order: positions[node].start.line for order, node in nodes.items() if node in positions}
    except Exception:
        return {}


def _names_entry(entry: object) -> bool:
    """A well-formed entry of the names index (a hand-edited or truncated index is recomputed)."""
    return (
        isinstance(entry, dict)
        and all(isinstance(entry.get(kind), list) for kind in _NAME_KINDS)
    )


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _file_bytes(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _stat(path: str) -> Optional[Stat]:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


def _store(entry: str, text: str, cache_folder: Optional[str]) -> None:
    """Atomically, under the cache folder (marked as a cache for git and backup tools, as the result
    cache marks it); a cache that cannot be written costs only speed."""
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        if cache_folder is not None:
            marker = os.path.join(cache_folder, ".gitignore")
            if not os.path.exists(marker):
                write_atomically(marker, "# Created by jax-purity-lint: a cache, not to be committed.\n*\n")
        write_atomically(entry, text)
    except OSError:
        pass


_SHARED: list[ProjectIndex] = []


def shared_index() -> ProjectIndex:
    """The process's index: summaries read once serve every file a run checks."""
    if not _SHARED:
        _SHARED.append(ProjectIndex())
    return _SHARED[0]
