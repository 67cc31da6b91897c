"""Where a project's caches live: `check`'s results and the module summaries of the project-wide
analysis share one folder. A module of its own, importing only the configuration, so that the flake8
plugin can name the folder for a file without loading the result cache (json, hashlib, `check`) on a
file the prefilter turns away."""

from __future__ import annotations

from pathlib import Path

from .config import Config

CACHE_FOLDER_NAME = ".jpl_cache"


def default_cache_folder(config: Config) -> Path:
    """Beside the pyproject.toml the configuration came from (the project's root), else in the
    working directory."""
    root = config.source.parent if config.source is not None else Path.cwd()
    return root / CACHE_FOLDER_NAME


def use_summary_cache(folder: Path) -> None:
    """The other modules' summaries (the project-wide analysis) are kept in the same folder as the
    results; only for runs that cache (`--no-cache` writes nothing)."""
    from ..analysis import cache_place  # no libcst: a run served from the cache stays light

    cache_place.use(str(folder))
