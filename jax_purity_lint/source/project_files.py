"""Where a file sits in its project: the import root that names its module, the project's root, and
the project's other Python files, found as Python finds them (no configuration needed).

- The *import root* of a file is the first folder above it without an `__init__.py`: pkg/sub/mod.py
  with pkg/__init__.py and pkg/sub/__init__.py is module `pkg.sub.mod` of the folder holding pkg/
  (a script's folder is its own import root, as `python script.py` puts it first on sys.path).
- The *project root* is the nearest folder, from the file's own upwards, holding pyproject.toml,
  setup.cfg, setup.py or .git; without one, the import root.
- `import a.b` in a file is looked for under its import root, then under each folder above it up to
  the project root (a test folder importing the package beside it), then under `src/` of the
  project root (the src layout). Nothing outside the project root is looked at: installed packages
  are never analysed, their state is not the project's to report.

Everything is memoised until `forget()`: the project index (analysis/project_index.py) forgets every
few seconds, so a long-lived process (the language server) sees files added, removed or saved.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Optional

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
# Folders that hold no module of the project (environments, builds, caches).
SKIPPED_FOLDERS = frozenset(
    {"site-packages", "dist-packages", "node_modules", "__pycache__", "build", "dist", "venv", "env", ".jpl_cache"}
)
MAX_PROJECT_FILES = 20_000  # a "project" larger than this is a home folder: only the import root is read


@functools.lru_cache(maxsize=None)
def import_root(folder: str) -> str:
    """The import root of the files in `folder` (an absolute path)."""
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


@functools.lru_cache(maxsize=None)
def project_root(folder: str) -> str:
    current = folder
    while True:
        if any(os.path.exists(os.path.join(current, marker)) for marker in ROOT_MARKERS):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return import_root(folder)
        current = parent


def module_name(path: str) -> Optional[str]:
    """`pkg.sub.mod` for pkg/sub/mod.py, `pkg.sub` for pkg/sub/__init__.py; None for a non-.py file."""
    path = os.path.abspath(path)
    if not path.endswith(".py"):
        return None
    root = import_root(os.path.dirname(path))
    parts = Path(os.path.relpath(path[: -len(".py")], root)).parts
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or any(not part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


@functools.lru_cache(maxsize=None)
def search_roots(folder: str) -> tuple[str, ...]:
    """Where `import x` in a file of `folder` is looked for, first to last."""
    top = project_root(folder)
    roots = [import_root(folder)]
    current = roots[0]
    while _within(current, top) and current != top:
        current = os.path.dirname(current)
        roots.append(current)
    roots.append(os.path.join(top, "src"))
    return tuple(dict.fromkeys(root for root in roots if _within(root, top) or root == roots[0]))


@functools.lru_cache(maxsize=None)
def module_file(folder: str, module: str) -> Optional[str]:
    """The project file `import module` loads from a file in `folder`, or None."""
    if not module or not all(part.isidentifier() for part in module.split(".")):
        return None
    relative = os.path.join(*module.split("."))
    for root in search_roots(folder):
        for candidate in (os.path.join(root, relative + ".py"), os.path.join(root, relative, "__init__.py")):
            if os.path.isfile(candidate) and not _skipped(candidate):
                return candidate
    return None


@functools.lru_cache(maxsize=None)
def python_files(root: str) -> tuple[str, ...]:
    """The project's .py files under `root`, sorted (hidden and environment folders left out)."""
    found: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        found.extend(os.path.join(folder, name) for name in sorted(files) if name.endswith(".py"))
        if len(found) > MAX_PROJECT_FILES:
            return ()
    return tuple(found)


def project_files(folder: str) -> tuple[str, ...]:
    """The .py files of the project holding `folder`; those of its import root if it is too large."""
    return python_files(project_root(folder)) or python_files(import_root(folder))


def forget() -> None:
    """Drop what was learnt of the tree: it is looked at again."""
    for memoised in (import_root, project_root, search_roots, module_file, python_files):
        memoised.cache_clear()


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def _skipped(path: str) -> bool:
    return any(part in SKIPPED_FOLDERS for part in Path(path).parts)

