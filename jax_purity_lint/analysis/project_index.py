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
import tempfile
from typing import Callable, Iterable, Iterator, Optional

from .. import __version__
from ..source import project_files
from ..source.decoding import decode_source
from ..source.deep_stack import retry_deep, with_native_stack
from ..source.parsing import parse
from ..source.preflight import python_verdict, text_problem
from .summary import SUMMARY_FORMAT, ModuleSummary, summarise_module

CACHE_FOLDER = os.path.join(".jpl_cache", "summaries")
Stat = tuple[int, int]  # (mtime_ns, size)
# A question asked of the tree: ("module", folder, module name), ("name", path, ""), ("word", folder, word).
Question = tuple[str, str, str]


class ProjectIndex:
    """One per process and tree state (see `shared_index`). `overrides`: summaries of sources not
    read from disk (an editor's unsaved buffer, the file being analysed), by absolute path."""

    def __init__(self) -> None:
        self._summaries: dict[str, tuple[Stat, Optional[ModuleSummary]]] = {}
        self._texts: dict[str, tuple[Stat, Optional[bytes]]] = {}
        self.overrides: dict[str, ModuleSummary] = {}
        self.summaries_built = 0  # parsed here, not read from a cache (for the benchmark and tests)
        self._recording: Optional[set[Question]] = None

    # -- linking.ModuleIndex -----------------------------------------------------------------------

    def module_name(self, path: str) -> Optional[str]:
        self._record(("name", os.path.abspath(path), ""))
        return project_files.module_name(path)

    def module_file(self, importer: str, module: str) -> Optional[str]:
        folder = os.path.dirname(os.path.abspath(importer))
        self._record(("module", folder, module))
        return project_files.module_file(folder, module)

    def files_mentioning(self, importer: str, word: str) -> list[str]:
        folder = os.path.dirname(os.path.abspath(importer))
        self._record(("word", folder, word))
        return self._files_mentioning(folder, word)

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
                answer = ",".join(f"{path}:{self._digest(path)}" for path in self._files_mentioning(place, text))
            digest.update(f"{kind}|{place}|{text}|{answer}\n".encode())
        return digest.hexdigest()

    def _digest(self, path: str) -> str:
        text = self._text(path)
        return "-" if text is None else hashlib.blake2b(text, digest_size=12).hexdigest()

    def _files_mentioning(self, folder: str, word: str) -> list[str]:
        encoded = word.encode()
        found = []
        for path in project_files.project_files(folder):
            if path in self.overrides:
                found.append(path)
                continue
            text = self._text(path)
            if text is not None and encoded in text:
                found.append(path)
        return found

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

    # -- summaries ---------------------------------------------------------------------------------

    def _cached_or_built(self, path: str, data: bytes) -> Optional[ModuleSummary]:
        entry = _entry_path(path, data)
        try:
            with open(entry, encoding="utf-8") as handle:
                return ModuleSummary.from_json(json.load(handle))
        except (OSError, ValueError, TypeError, KeyError, IndexError):
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
    """Atomically, in the cache folder (marked as a cache for git and backup tools); a cache that
    cannot be written costs only speed."""
    folder = os.path.dirname(entry)
    try:
        os.makedirs(folder, exist_ok=True)
        top = os.path.dirname(folder)
        marker = os.path.join(os.path.dirname(top), ".gitignore")
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
