"""`check`'s results cached per file content (as ruff's cache does), so that linting an unchanged
tree again reads small JSON files instead of parsing every file.

An entry is found by a hash of the file's bytes, the file's resolved path and a key of
everything else a result depends on: the package version, a fingerprint of the linter's own code
(a change to a rule, or a new rule, invalidates everything, even without a version bump), and the
configuration that changes results (select, ignore, the settings). A changed file or configuration
therefore looks up another entry: a result is never served for content or options it was not
computed for. The stored entry repeats its whole key and is checked against it when read.

Entries are JSON, never pickle: a cache folder found inside a repository is not trusted code.
Writes go to a temporary file renamed into place (os.replace is atomic), so a crash leaves the old
entry or the new one, never half of one; an entry that cannot be read or decoded, or that is for
another key, counts as a miss and is overwritten. A cache that cannot be written costs only speed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Optional

from .. import __version__
from ..code_fingerprint import code_fingerprint
from ..source.atomic_write import write_atomically
from ..diagnostics import Diagnostic, TraceSite
from .cache_folder import default_cache_folder, use_summary_cache
from .check import FileResult, check_file
from .config import Config
from .notebooks import NotebookTraceSite

ENTRY_FORMAT = 2  # bump when the layout of an entry changes
SITE_TYPES = {cls.__name__: cls for cls in (TraceSite, NotebookTraceSite)}
# Config fields that decide which files are checked, not what a file's result is.
FILE_SELECTION_FIELDS = frozenset({"exclude", "extend_exclude", "source"})

# Written into a new cache folder: git ignores it and backup tools skip it (as ruff and pytest do).
FOLDER_MARKERS = {
    ".gitignore": "# Created by jax-purity-lint: a cache, not to be committed.\n*\n",
    "CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by jax-purity-lint.\n",
}


@dataclasses.dataclass
class CacheStats:
    """Counted in the process that looks entries up (with -j N, in each worker)."""

    hits: int = 0
    misses: int = 0
    stores: int = 0


class CachePerProject:
    """Without --cache-dir: each file's results go to the cache of the project that configures it
    (default_cache_folder), as ruff keeps a cache per project; `check a/x.py b/y.py` over two
    projects fills both. A drop-in for `check_file`, picklable like ResultCache."""

    def __init__(self) -> None:
        self.caches: dict[Path, ResultCache] = {}

    def check(self, path: Path, config: Config) -> FileResult:
        folder = default_cache_folder(config)
        if folder not in self.caches:
            self.caches[folder] = ResultCache(folder)
        return self.caches[folder].check(path, config)


def configuration_key(config: Config) -> str:
    """Everything besides the file's bytes that a file's result depends on. Every field of the
    configuration counts except those that only choose which files are checked, so an option
    added to Config later invalidates entries without anyone remembering to add it here."""
    options = {
        field.name: getattr(config, field.name)
        for field in dataclasses.fields(config)
        if field.name not in FILE_SELECTION_FIELDS
    }
    return json.dumps(
        {
            "format": ENTRY_FORMAT,
            "version": __version__,
            "code": code_fingerprint(),
            "options": options,
        },
        sort_keys=True,
        default=_plain,
    )


def _plain(value: Any) -> Any:
    """JSON for what a Config holds: frozensets (in a stable order), nested dataclasses, paths."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if dataclasses.is_dataclass(value):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return str(value)


def content_digest(path: Path) -> Optional[str]:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=20).hexdigest()
    except OSError:
        return None


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


class ResultCache:
    """A drop-in for `check_file`: `ResultCache(folder).check(path, config)`. Picklable, so the
    process pool of `check -j N` runs it in its workers."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.stats = CacheStats()
        self._keys: dict[Config, str] = {}
        self._folder_marked = False

    def check(self, path: Path, config: Config) -> FileResult:
        before = content_digest(path)
        if before is None:  # unreadable: check_file reports why; nothing to key a result on
            return check_file(path, config)
        key = self._entry_key("check", before, path, config)
        entry = self._entry_path(key)
        use_summary_cache(self.folder)
        cached = self._load(entry, key)
        if cached is not None:
            self.stats.hits += 1
            return FileResult(path, cached)
        self.stats.misses += 1
        result = check_file(path, config)
        # Stored only if the file did not change while it was being checked (an editor saving it).
        if content_digest(path) == before:
            self._store(entry, key, result)
        return result

    def analyse_text(self, text: str, path: Path, config: Config, analyse: Callable[[], FileResult]) -> FileResult:
        """For a caller that holds the text it was given (the flake8 plugin): the entry is keyed by
        that text and `path`; `analyse()` computes the result on a miss. Its entries are apart from
        `check`'s, whose diagnostics are filtered by the configuration and `# noqa` (flake8 filters
        its own)."""
        key = self._entry_key("text", text_digest(text), path, config)
        entry = self._entry_path(key)
        use_summary_cache(self.folder)
        cached = self._load(entry, key)
        if cached is not None:
            self.stats.hits += 1
            return FileResult(path, cached)
        self.stats.misses += 1
        result = analyse()
        self._store(entry, key, result)
        return result

    # -- keys --------------------------------------------------------------------------------------

    def _entry_key(self, kind: str, digest: str, path: Path, config: Config) -> str:
        configuration = self._keys.get(config)
        if configuration is None:
            configuration = self._keys[config] = configuration_key(config)
        # The path, not only the bytes: the same text in two packages imports different modules
        # (`from . import config`), and its findings name places in them.
        return f"{configuration}|{kind}|{Path(path).resolve()}|{digest}"

    def _entry_path(self, key: str) -> Path:
        name = hashlib.blake2b(key.encode(), digest_size=20).hexdigest()
        return self.folder / name[:2] / f"{name[2:]}.json"

    # -- reading and writing -----------------------------------------------------------------------

    def _load(self, entry: Path, key: str) -> Optional[tuple[Diagnostic, ...]]:
        """The stored diagnostics, or None for a missing, unreadable, corrupt or foreign entry."""
        try:
            with open(entry, encoding="utf-8") as handle:
                stored = json.load(handle)
            if stored["key"] != key:
                return None
            dependencies = [tuple(question) for question in stored["dependencies"]]
            if dependencies and project_answers(dependencies) != stored["answers"]:
                return None  # another module of the project changed what this result was computed from
            return tuple(decode_diagnostic(item) for item in stored["diagnostics"])
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def _store(self, entry: Path, key: str, result: FileResult) -> None:
        payload = {
            "key": key,
            "diagnostics": [encode_diagnostic(d) for d in result.diagnostics],
            "dependencies": [list(question) for question in result.dependencies],
            "answers": project_answers(result.dependencies) if result.dependencies else "",
        }
        try:
            self._mark_folder()
            entry.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(entry, json.dumps(payload))
        except (OSError, TypeError, ValueError):
            return  # a read-only or full disk, or an unencodable result: only speed is lost
        self.stats.stores += 1

    def _mark_folder(self) -> None:
        if self._folder_marked:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in FOLDER_MARKERS.items():
            marker = self.folder / name
            if not marker.exists():
                _write_atomically(marker, text)
        self._folder_marked = True


def project_answers(questions) -> str:
    """What the project's files answer now to the questions a result was computed from."""
    from ..analysis.project_index import shared_index  # only for entries that asked: see check_file

    return shared_index().answers(questions)


def _write_atomically(target: Path, text: str) -> None:
    """Readers see all or nothing (source/atomic_write.py)."""
    write_atomically(target, text, suffix=".json")


# -- diagnostics as JSON -------------------------------------------------------------------------------


def encode_diagnostic(diagnostic: Diagnostic) -> dict[str, Any]:
    data = dataclasses.asdict(diagnostic)
    site = diagnostic.site
    if site is not None:
        # The site's class is kept: a notebook's site carries its cell (notebooks.NotebookTraceSite).
        data["site"] = {"type": type(site).__name__, **dataclasses.asdict(site)}
    return data


def decode_diagnostic(data: dict[str, Any]) -> Diagnostic:
    fields = dict(data)
    site = fields.pop("site")
    if site is not None:
        site = dict(site)
        site = SITE_TYPES[site.pop("type")](**site)
    fields["path"] = tuple(fields["path"])
    fields["related"] = tuple((str(path), int(line), str(text)) for path, line, text in fields.get("related", ()))
    return Diagnostic(site=site, **fields)
