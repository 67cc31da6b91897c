"""Where the project-wide analysis keeps module summaries on disk: named by the surfaces that cache
(`check`'s result cache, the flake8 plugin), nowhere otherwise. A module of its own, without libcst,
so that naming it costs a run served from the result cache nothing."""

from __future__ import annotations

import os
from typing import Optional

_folder: list[Optional[str]] = [None]


def use(folder: Optional[str]) -> None:
    _folder[0] = None if folder is None else os.path.abspath(folder)


def folder() -> Optional[str]:
    return _folder[0]
