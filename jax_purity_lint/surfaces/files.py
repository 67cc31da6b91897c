"""Which files a command looks at: folders walked recursively, excludes honoured like flake8's.

The excludes can differ from folder to folder (each project's pyproject.toml has its own): an entry
met while walking is excluded by the patterns of the folder that holds it, `exclusions_in(folder)`."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

LINTABLE_SUFFIXES = (".py", ".pyi", ".ipynb")
# The exclude patterns that apply to the entries of a folder.
ExclusionsIn = Callable[[Path], Sequence[str]]


def normalize_pattern(pattern: str, base: Path) -> str:
    """As flake8 does: a pattern with a slash is a path relative to `base` (the folder of the
    configuration file, or the working directory for command-line patterns); one without a slash
    matches a file or folder name anywhere."""
    if "/" not in pattern:
        return pattern
    return os.path.abspath(os.path.join(base, pattern)).rstrip("/")


def excluded(path: Path, patterns: Sequence[str]) -> bool:
    name = path.name
    if name not in ("", ".", "..") and any(fnmatch.fnmatch(name, p) for p in patterns):
        return True
    absolute = os.path.abspath(path)
    return any(fnmatch.fnmatch(absolute, p) for p in patterns)


def excluded_with_folders(path: Path, patterns: Sequence[str]) -> bool:
    """A named path is excluded if it or a folder on its way is: `experiments/run.py` under
    `exclude = ["experiments"]`. Folders above the working directory do not count."""
    absolute = Path(os.path.abspath(path))
    try:
        below_cwd = absolute.relative_to(Path.cwd())
    except ValueError:
        below_cwd = absolute
    steps = [below_cwd, *below_cwd.parents][:-1] if below_cwd.parts else []  # [:-1] drops "." or "/"
    return any(excluded(step, patterns) for step in steps)


def named_path_excluded(path: Path, exclusions_in: ExclusionsIn) -> bool:
    """With --force-exclude, a path named on the command line (or stdin's --stdin-filename, which
    need not exist) is excluded as if it had been met while walking its folder."""
    return excluded_with_folders(path, exclusions_in(Path(os.path.dirname(os.path.abspath(path)))))


def discover(paths: Sequence[Path], exclusions_in: ExclusionsIn, force_exclude: bool = False) -> Iterator[Path]:
    """Folders are walked, skipping excluded entries; a path named explicitly is always checked
    unless `force_exclude` (pre-commit names every changed file, excluded or not)."""
    seen: set[str] = set()
    for path in paths:
        if force_exclude and named_path_excluded(path, exclusions_in):
            continue
        for candidate in _walk(path, exclusions_in) if path.is_dir() else [path]:
            key = os.path.abspath(candidate)
            if key not in seen:  # `check src src/a.py` lints a.py once
                seen.add(key)
                yield candidate


def _walk(folder: Path, exclusions_in: ExclusionsIn) -> Iterator[Path]:
    for here, subfolders, files in os.walk(folder):
        parent = Path(here)
        patterns = exclusions_in(parent)
        subfolders[:] = sorted(d for d in subfolders if not excluded(parent / d, patterns))
        for name in sorted(files):
            candidate = parent / name
            if candidate.suffix in LINTABLE_SUFFIXES and not excluded(candidate, patterns):
                yield candidate
