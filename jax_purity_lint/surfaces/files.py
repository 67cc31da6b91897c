"""Which files a command looks at: folders walked recursively, excludes honoured like flake8's."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Iterator, Sequence

LINTABLE_SUFFIXES = (".py", ".pyi", ".ipynb")


def excluded(path: Path, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(path.name, p) or fnmatch.fnmatch(str(path), p) for p in patterns)


def discover(paths: Sequence[Path], patterns: Sequence[str]) -> Iterator[Path]:
    """Files named explicitly are always checked; folders are walked, skipping excluded entries."""
    for path in paths:
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                here = Path(folder)
                subfolders[:] = sorted(d for d in subfolders if not excluded(here / d, patterns))
                for name in sorted(files):
                    candidate = here / name
                    if candidate.suffix in LINTABLE_SUFFIXES and not excluded(candidate, patterns):
                        yield candidate
        else:
            yield path
