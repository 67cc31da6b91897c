"""`[tool.jax_purity_lint]` in pyproject.toml, read with tomllib, merged with command-line options."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..rules import ALL_RULES, ANALYSIS_FAILURE_CODE
from ..settings import Settings

KNOWN_CODES = frozenset({rule.code for rule in ALL_RULES} | {ANALYSIS_FAILURE_CODE})
DEFAULT_EXCLUDES = (".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "__pycache__", "build", "dist", "node_modules", ".eggs", "*.egg-info")


class ConfigError(Exception):
    """A configuration the user must correct; the CLI exits with status 2."""


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ("JPL",)
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    extend_exclude: tuple[str, ...] = ()
    settings: Settings = field(default_factory=Settings)
    source: Optional[Path] = None  # the pyproject.toml it came from

    def enabled(self, code: str) -> bool:
        def matches(prefixes: tuple[str, ...]) -> int:
            return max((len(p) for p in prefixes if code.startswith(p)), default=-1)

        # As flake8: the longer (more specific) of the matching select/ignore prefixes wins.
        return matches(self.select) > matches(self.ignore)


def find_pyproject(start: Path) -> Optional[Path]:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(pyproject: Optional[Path]) -> Config:
    if pyproject is None:
        return Config()
    try:
        with open(pyproject, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{pyproject}: {error}") from error
    table = data.get("tool", {}).get("jax_purity_lint", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.jax_purity_lint] must be a table")
    known = {"select", "ignore", "exclude", "extend-exclude", "jit-functions", "state-aware-functions"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{pyproject}: unknown key(s) in [tool.jax_purity_lint]: {', '.join(unknown)}")
    config = Config(source=pyproject)
    return merge(
        config,
        select=_strings(table, "select", pyproject),
        ignore=_strings(table, "ignore", pyproject),
        exclude=_strings(table, "exclude", pyproject),
        extend_exclude=_strings(table, "extend-exclude", pyproject),
        jit_functions=_strings(table, "jit-functions", pyproject),
        state_aware_functions=_strings(table, "state-aware-functions", pyproject),
    )


def merge(config: Config, **overrides: Optional[list[str]]) -> Config:
    """Overlay options that were given (not None) onto `config`, validating codes."""
    def pick(key: str, current: tuple[str, ...]) -> tuple[str, ...]:
        value = overrides.get(key)
        return current if value is None else tuple(value)

    select, ignore = pick("select", config.select), pick("ignore", config.ignore)
    for prefix in (*select, *ignore):
        if not any(code.startswith(prefix) for code in KNOWN_CODES):
            raise ConfigError(f"unknown code or prefix {prefix!r}: codes are {', '.join(sorted(KNOWN_CODES))}")
    settings = Settings(
        jit_functions=frozenset(pick("jit_functions", tuple(config.settings.jit_functions))),
        state_aware_functions=frozenset(pick("state_aware_functions", tuple(config.settings.state_aware_functions))),
    )
    return Config(
        select=select,
        ignore=ignore,
        exclude=pick("exclude", config.exclude),
        extend_exclude=pick("extend_exclude", config.extend_exclude),
        settings=settings,
        source=config.source,
    )


def _strings(table: dict[str, Any], key: str, origin: Path) -> Optional[list[str]]:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: `{key}` must be a list of strings")
    return value
