"""The `Config` of one file: `[tool.jax_purity_lint]` (or `[tool.jax-purity-lint]`) of a pyproject.toml,
read with tomllib and validated, with command-line options merged on top. Which pyproject.toml
configures which file is decided in project.py."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

from ..codes import ANALYSIS_FAILURE_CODE, opted_in, rule_modules
from ..settings import Settings
from .files import normalize_pattern



@functools.lru_cache(maxsize=1)
def known_codes() -> frozenset[str]:
    """Every code: the registry's rule modules by their names (`rules/jpl100_*.py` holds JPL100, which
    the registry checks when it imports them), so that a run served from the cache need not import
    the rules and libcst to validate `--select`."""
    return frozenset(rule_modules()) | {ANALYSIS_FAILURE_CODE}


DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "__pycache__", "build", "dist", "node_modules", ".eggs",
    "*.egg-info",
)
TABLE = "jax_purity_lint"
# The same table under the package's own name: `[tool.jax-purity-lint]` reads as the project does.
TABLE_SPELLINGS = (TABLE, "jax-purity-lint")
KNOWN_KEYS = ("select", "ignore", "exclude", "extend-exclude", "jit-functions", "state-aware-functions")


class ConfigError(Exception):
    """A configuration the user must correct; the CLI exits with status 2."""


# One layer of select/ignore prefixes: a pyproject table's, or a command line's.
SelectionLayer = tuple[Sequence[str], Sequence[str]]


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ("JPL",)
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDES
    extend_exclude: tuple[str, ...] = ()
    settings: Settings = field(default_factory=Settings)
    source: Optional[Path] = None  # the pyproject.toml it came from

    def enabled(self, code: str) -> bool:
        return enabled_by_layers(code, [(self.select, self.ignore)])

    @property
    def exclusions(self) -> tuple[str, ...]:
        return (*self.exclude, *self.extend_exclude)


def enabled_by_layers(code: str, layers: Sequence[SelectionLayer]) -> bool:
    """As flake8 decides: the longest (most specific) matching select or ignore prefix wins; at equal
    length an ignore wins within a layer, and a later layer wins over an earlier one (so flake8's
    own options win over the pyproject's at equal length). An opt-in code also needs a selecting
    prefix more specific than `JPL` in some layer (codes.opted_in)."""
    best: tuple[int, int, int] = (-1, -1, -1)
    selected = False
    for rank, (select, ignore) in enumerate(layers):
        for prefixes, selects, tie_break in ((select, True, 0), (ignore, False, 1)):
            for prefix in prefixes:
                key = (len(prefix), rank, tie_break)
                if code.startswith(prefix) and key > best:
                    best, selected = key, selects
    return selected and opted_in(code, [prefix for select, _ in layers for prefix in select])


class Table(NamedTuple):
    name: str  # as spelt in the file: jax_purity_lint or jax-purity-lint
    values: dict[str, Any]


def read_table(pyproject: Path) -> Optional[Table]:
    """Our table in `pyproject`, or None if it has none. Both spellings in one file are an error:
    which of them would win is not obvious, so the user is asked to keep one."""
    import tomllib  # here: a file without a pyproject.toml above it never needs the parser

    try:
        with open(pyproject, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {pyproject}: {error}") from error
    tool = data.get("tool", {})
    present = [name for name in TABLE_SPELLINGS if isinstance(tool, dict) and name in tool]
    if len(present) > 1:
        raise ConfigError(
            f"{pyproject}: both [tool.{present[0]}] and [tool.{present[1]}] are present; "
            "they mean the same: keep one of them"
        )
    if not present:
        return None
    [name] = present
    if not isinstance(tool[name], dict):
        raise ConfigError(f"{pyproject}: [tool.{name}] must be a table")
    return Table(name, tool[name])


def load_config(pyproject: Path) -> Config:
    """The configuration in `pyproject` (defaults if it has no table of ours)."""
    return config_from_table(read_table(pyproject) or Table(TABLE, {}), pyproject)


def config_from_table(table: Table, pyproject: Path) -> Config:
    """Validated: an unknown key or code is an error, so that a typo does not silently switch a check off.
    Exclude patterns with a slash are relative to the pyproject's folder."""
    unknown = sorted(set(table.values) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(
            f"{pyproject}: unknown key(s) in [tool.{table.name}]: {', '.join(unknown)} (known: {', '.join(KNOWN_KEYS)})"
        )
    options = {key.replace("-", "_"): _strings(table.values, key, pyproject) for key in KNOWN_KEYS}
    try:
        return merge(Config(source=pyproject), base=pyproject.parent, **options)
    except ConfigError as error:
        raise ConfigError(f"{pyproject}: {error}") from error


def merge(
    config: Config,
    *,
    base: Path,
    select: Optional[Sequence[str]] = None,
    ignore: Optional[Sequence[str]] = None,
    exclude: Optional[Sequence[str]] = None,
    extend_exclude: Optional[Sequence[str]] = None,
    jit_functions: Optional[Sequence[str]] = None,
    state_aware_functions: Optional[Sequence[str]] = None,
) -> Config:
    """Overlay the options that were given (not None) onto `config`; extend_exclude adds to it.
    Exclude patterns with a slash are relative to `base`; codes are validated, so a typo is an error
    rather than a silent no-op."""
    settings = config.settings
    return Config(
        select=config.select if select is None else _codes(select),
        ignore=config.ignore if ignore is None else _codes(ignore),
        exclude=config.exclude if exclude is None else _patterns(exclude, base),
        # "extend" adds to what is configured already, on the command line as in pyproject.toml.
        extend_exclude=config.extend_exclude + _patterns(extend_exclude or (), base),
        settings=Settings(
            jit_functions=settings.jit_functions if jit_functions is None else frozenset(jit_functions),
            state_aware_functions=(
                settings.state_aware_functions if state_aware_functions is None else frozenset(state_aware_functions)
            ),
        ),
        source=config.source,
    )


def could_name_our_codes(prefix: str) -> bool:
    """`JPL1`, `J`: a prefix some code of ours starts with (flake8's `E501` is not one)."""
    return any(code.startswith(prefix) for code in known_codes())


def _codes(values: Sequence[str]) -> tuple[str, ...]:
    codes = tuple(value.strip().upper() for value in values if value.strip())
    for prefix in codes:
        if not could_name_our_codes(prefix):
            raise ConfigError(f"unknown code or prefix {prefix!r}: the codes are {', '.join(sorted(known_codes()))}")
    return codes


def _patterns(values: Sequence[str], base: Path) -> tuple[str, ...]:
    return tuple(normalize_pattern(value, base) for value in values if value)


def _strings(table: dict[str, Any], key: str, origin: Path) -> Optional[list[str]]:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: `{key}` must be a list of strings")
    return value
