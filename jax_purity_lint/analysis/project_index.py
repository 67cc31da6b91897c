"""The project's modules on disk, as the linker asks for them (linking.ModuleIndex): file lookup by
module name (source/project_files.py) and each file's summary, computed from that file alone and
cached.

Summaries are memoised per process by (path, modification time, size) and kept on disk by content
hash under the project root's `.jpl_cache/summaries/` (JSON written atomically, as `check`'s result
cache is: a broken or foreign entry is a miss), so an editor's on-save check reads the other
modules' summaries instead of parsing them. A file that cannot be read, decoded or parsed has no
summary: its facts are unknown and it changes nothing the linker can see.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from typing import Callable, Iterable, Iterator, Optional

from .. import __version__
from ..source import project_files
from ..source.decoding import decode_source
from ..source.deep_stack import retry_deep, with_native_stack
from ..source.parsing import parse
from ..source.preflight import python_verdict, text_problem
from .collector import MUTATING_METHODS
from .summary import SUMMARY_FORMAT, ModuleSummary, summarise_module

TREE_FRESH_SECONDS = 2.0
CACHE_ROOT = ".jpl_cache"  # the folder `check`'s result cache uses too, at the project's root
CACHE_FOLDER = os.path.join(CACHE_ROOT, "summaries")
Stat = tuple[int, int]  # (mtime_ns, size)
# A question asked of the tree: ("module", folder, module name), ("name", path, ""), and the files
# that may change a name or call it: ("changes", folder, name), ("calls", folder, name).
Question = tuple[str, str, str]


# The names a file's text may change or call, found on the text alone and taken before anything is
# parsed: the names in an assignment's targets (`name = `, `name.a[k] += `, `a = name[k] = `,
# `a, name = `), before a mutating method (`name.append(`, `name.a.update(`), after `global`,
# `for`, `del`, `as`; `name(` and decorators `@a.name` for calls. Anchored on what makes a change
# (a statement's start, the mutating method), so that the scan stays linear in the text.
_ASSIGNED = re.compile(rb"^[ \t]*[(\[]?\*?([A-Za-z_][^=\n#]*?)\s*(?:[-+*/%&|^@]|\*\*|//|<<|>>|:)?=(?!=)", re.M)
_CHAINED = re.compile(rb"=\s*([A-Za-z_][\w.\[\]'\" ]*?)\s*=(?!=)")
_MUTATOR = re.compile(rb"\.\s*(?:" + b"|".join(m.encode() for m in sorted(MUTATING_METHODS)) + rb")\s*\(")
_RECEIVER = re.compile(rb"([A-Za-z_][\w.\[\]'\" ]*)$")
_CHANGED_LISTS = re.compile(rb"\b(?:global|nonlocal|del|for|as)\b([^\n#:=]*)")
_CALLED = re.compile(rb"\b([A-Za-z_]\w*)\s*\(")
_DECORATOR = re.compile(rb"@\s*([A-Za-z_][\w.]*)")
_IDENTIFIER = re.compile(rb"[A-Za-z_]\w*")
NAMES_FORMAT = 3


def names_in(text: bytes) -> dict[str, list[str]]:
    """{"changes": names the text may change, "calls": names it may call}; "changes" holds "*" when
    the text calls `setattr(`, which may change any name."""
    changed: set[bytes] = set()
    for target in (*_ASSIGNED.findall(text), *_CHAINED.findall(text)):  # `config.LR`: both names count
        changed.update(_IDENTIFIER.findall(target))
    for call in _MUTATOR.finditer(text):
        line = text[text.rfind(b"\n", 0, call.start()) + 1 : call.start()]
        receiver = _RECEIVER.search(line)
        if receiver is not None:
            changed.update(_IDENTIFIER.findall(receiver.group(1)))
    for tail in _CHANGED_LISTS.findall(text):
        changed.update(_IDENTIFIER.findall(tail))
    called = set(_CALLED.findall(text))
    for chain in _DECORATOR.findall(text):
        called.update(chain.split(b"."))
    if b"setattr(" in text:
        changed.add(b"*")
    return {"changes": sorted(n.decode() for n in changed), "calls": sorted(n.decode() for n in called)}


class ProjectIndex:
    """One per process and tree state (see `shared_index`). `overrides`: summaries of sources not
    read from disk (an editor's unsaved buffer, the file being analysed), by absolute path."""

    def __init__(self) -> None:
        self._summaries: dict[str, tuple[Stat, Optional[ModuleSummary]]] = {}
        self._texts: dict[str, tuple[Stat, Optional[bytes]]] = {}
        self.overrides: dict[str, ModuleSummary] = {}
        self.summaries_built = 0  # parsed here, not read from a cache (for the benchmark and tests)
        self._recording: Optional[set[Question]] = None
        self._name_indexes: dict[tuple[str, ...], dict[str, dict[str, frozenset[str]]]] = {}
        self.generation = 0  # counts the times the tree was looked at afresh (linking.Linker's memos follow it)
        self._looked_at = time.monotonic()

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

    def files_changing(self, importer: str, word: str) -> list[str]:
        return self._asked("changes", importer, word)

    def files_calling(self, importer: str, word: str) -> list[str]:
        return self._asked("calls", importer, word)

    def _asked(self, kind: str, importer: str, word: str) -> list[str]:
        self._refresh()
        folder = os.path.dirname(os.path.abspath(importer))
        self._record((kind, folder, word))
        return self._files_naming(folder, kind, word)

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
                files = self._files_naming(place, kind, text)
                answer = ",".join(f"{path}:{self._digest(path)}" for path in files)
            digest.update(f"{kind}|{place}|{text}|{answer}\n".encode())
        return digest.hexdigest()

    def _digest(self, path: str) -> str:
        text = self._text(path)
        return "-" if text is None else hashlib.blake2b(text, digest_size=12).hexdigest()

    def _files_naming(self, folder: str, kind: str, word: str) -> list[str]:
        """The project's files whose text may change (kind "changes") or call ("calls") `word`."""
        names = self._names(folder)
        return [
            path
            for path, found in names.items()
            if path in self.overrides or word in found[kind] or (kind == "changes" and "*" in found[kind])
        ]

    def _names(self, folder: str) -> dict[str, dict[str, frozenset[str]]]:
        """names_in() of every file of the project holding `folder`, kept on disk beside the summaries
        (by path, modification time and size) so that a new process need not read every file."""
        files = project_files.project_files(folder)
        known = self._name_indexes.get(files)
        if known is not None:
            return known
        root = project_files.project_root(folder)
        index_path = os.path.join(root, CACHE_ROOT, "names.json")
        key = f"{NAMES_FORMAT}|{__version__}|{_code_fingerprint()}"  # another version's index is not read
        kept = _read_json(index_path) or {}
        stored = kept.get("files", {}) if kept.get("key") == key else {}
        fresh: dict[str, dict] = {}
        result: dict[str, dict[str, frozenset[str]]] = {}
        for path in files:
            stat = _stat(path)
            entry = stored.get(path)
            if not _names_entry(entry) or stat is None or entry.get("stat") != list(stat):
                text = self._text(path)
                entry = {"stat": list(stat) if stat else None, **(names_in(text) if text is not None else {"changes": [], "calls": []})}
            fresh[path] = entry
            result[path] = {"changes": frozenset(entry["changes"]), "calls": frozenset(entry["calls"])}
        if fresh != stored:
            _store(index_path, json.dumps({"key": key, "files": fresh}))
        self._name_indexes[files] = result
        return result

    # -- summaries ---------------------------------------------------------------------------------

    def summary(self, path: str) -> Optional[ModuleSummary]:
        path = os.path.abspath(path)
        if path in self.overrides:
            return self.overrides[path]
        stat = _stat(path)
        if stat is None:
            return None
        known = self._summaries.get(path)
        if known is not None and known[0] == stat:
            return known[1]
        text = self._text(path)
        summary = None if text is None else self._cached_or_built(path, text)
        self._summaries[path] = (stat, summary)
        return summary

    def _cached_or_built(self, path: str, data: bytes) -> Optional[ModuleSummary]:
        entry = _entry_path(path, data)
        try:
            with open(entry, encoding="utf-8") as handle:
                return ModuleSummary.from_json(json.load(handle))
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):  # a broken entry: a miss
            pass
        summary = summarise_bytes(data)
        self.summaries_built += 1
        if summary is not None:
            _store(entry, json.dumps(summary.to_json()))
        return summary

    def _text(self, path: str) -> Optional[bytes]:
        stat = _stat(path)
        if stat is None:
            return None
        known = self._texts.get(path)
        if known is not None and known[0] == stat:
            return known[1]
        try:
            with open(path, "rb") as handle:
                data: Optional[bytes] = handle.read()
        except OSError:
            data = None
        self._texts[path] = (stat, data)
        return data


def summarise_bytes(data: bytes) -> Optional[ModuleSummary]:
    """The summary of a module's bytes, or None when it cannot be decoded, parsed or analysed."""
    try:
        source = decode_source(data)
        if text_problem(source) is not None:
            return None
        verdict = python_verdict(source)
        if verdict.tree is None or verdict.too_deep is not None:
            return None
        parsed = retry_deep(lambda: with_native_stack(lambda: parse(source, verdict.tree)))
        return summarise_module(parsed.module, _LazyPositions(parsed.positions))
    except Exception:  # another module's problem is reported when that module is checked
        return None


class _LazyPositions(dict):
    """Positions cost a pass over the tree: computed only if the summary asks for one."""

    def __init__(self, compute: Callable) -> None:
        super().__init__()
        self._compute = compute
        self._mapping = None

    def get(self, node, default=None):  # noqa: ANN001
        if self._mapping is None:
            self._mapping = self._compute()
        return self._mapping.get(node, default)


def _names_entry(entry: object) -> bool:
    """A well-formed entry of the names index (a hand-edited or truncated index is recomputed)."""
    return (
        isinstance(entry, dict)
        and all(isinstance(entry.get(kind), list) for kind in ("changes", "calls"))
    )


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _stat(path: str) -> Optional[Stat]:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


def _entry_path(path: str, data: bytes) -> str:
    digest = hashlib.blake2b(data, digest_size=20)
    digest.update(f"|{SUMMARY_FORMAT}|{__version__}|{_code_fingerprint()}".encode())
    name = digest.hexdigest()
    root = project_files.project_root(os.path.dirname(os.path.abspath(path)))
    return os.path.join(root, CACHE_FOLDER, name[:2], f"{name[2:]}.json")


_FINGERPRINT: list[str] = []


def _code_fingerprint() -> str:
    """A hash of the analysis code that summaries come from: an edited collector invalidates them."""
    if not _FINGERPRINT:
        digest = hashlib.blake2b(digest_size=12)
        folder = os.path.dirname(os.path.abspath(__file__))
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), "rb") as handle:
                    digest.update(name.encode() + handle.read())
        _FINGERPRINT.append(digest.hexdigest())
    return _FINGERPRINT[0]


def _store(entry: str, text: str) -> None:
    """Atomically, under the project's cache folder (marked as a cache for git and backup tools, as
    the result cache marks it); a cache that cannot be written costs only speed."""
    parts = entry.split(os.sep)
    cache_root = os.sep.join(parts[: len(parts) - parts[::-1].index(CACHE_ROOT)])
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        marker = os.path.join(cache_root, ".gitignore")
        if not os.path.exists(marker):
            _write(marker, "# Created by jax-purity-lint: a cache, not to be committed.\n*\n")
        _write(entry, text)
    except OSError:
        pass


def _write(target: str, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


_SHARED: list[ProjectIndex] = []


def shared_index() -> ProjectIndex:
    """The process's index: summaries read once serve every file a run checks."""
    if not _SHARED:
        _SHARED.append(ProjectIndex())
    return _SHARED[0]
