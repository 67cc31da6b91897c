"""`[tool.jax_purity_lint]` in pyproject.toml, read with tomllib, merged with command-line options."""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..diagnostics import ANALYSIS_FAILURE_CODE, opted_in
from ..settings import Settings
from .files import normalize_pattern

_RULE_MODULE = re.compile(r"(jpl\d{3})_\w+\.py")


@functools.lru_cache(maxsize=1)
def known_codes() -> frozenset[str]:
    """Every code, read from the names of the rule modules (one rule per module, named after its
    code: `jpl100_mutable_global_read.py`), because importing the rules loads libcst, which a run
    served from the cache does not otherwise need. tests/test_docs.py holds it to the registry."""
    try:
        names = [path.name for path in (Path(__file__).parents[1] / "rules").iterdir()]
    except OSError:  # not a folder (a zipped install): ask the registry itself
        from ..rules import ALL_RULES

        return frozenset({rule.code for rule in ALL_RULES} | {ANALYSIS_FAILURE_CODE})
    found = (_RULE_MODULE.fullmatch(name) for name in names)
    return frozenset({match.group(1).upper() for match in found if match} | {ANALYSIS_FAILURE_CODE})


DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "__pycache__", "build", "dist", "node_modules", ".eggs",
    "*.egg-info",
)
TABLE = "jax_purity_lint"
KNOWN_KEYS = ("select", "ignore", "exclude", "extend-exclude", "jit-functions", "state-aware-functions")


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
        return matches(self.select) > matches(self.ignore) and opted_in(code, self.select)

    @property
    def exclusions(self) -> tuple[str, ...]:
        return (*self.exclude, *self.extend_exclude)


def find_pyproject(start: Path) -> Optional[Path]:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(pyproject: Optional[Path]) -> Config:
    """The configuration in `pyproject` (defaults if None or it has no [tool.jax_purity_lint])."""
    if pyproject is None:
        return Config()
    try:
        with open(pyproject, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {pyproject}: {error}") from error
    table = data.get("tool", {}).get(TABLE, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.{TABLE}] must be a table")
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(
            f"{pyproject}: unknown key(s) in [tool.{TABLE}]: {', '.join(unknown)} (known: {', '.join(KNOWN_KEYS)})"
        )

    options = {key.replace("-", "_"): _strings(table, key, pyproject) for key in KNOWN_KEYS}
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


def _codes(values: Sequence[str]) -> tuple[str, ...]:
    codes = tuple(value.strip().upper() for value in values if value.strip())
    known = known_codes()
    for prefix in codes:
        if not any(code.startswith(prefix) for code in known):
            raise ConfigError(f"unknown code or prefix {prefix!r}: the codes are {', '.join(sorted(known))}")
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


def command_line_config(args: Any) -> Config:
    """pyproject.toml's [tool.jax_purity_lint] (or --config), overlaid with the options given on a
    command line: `check` and `fix` read it alike, so `fix` rewrites the findings `check` shows."""
    pyproject = args.config if args.config else find_pyproject(Path.cwd())
    return merge(
        load_config(pyproject),
        base=Path.cwd(),  # patterns given on the command line are relative to where it runs
        select=args.select,
        ignore=args.ignore,
        exclude=args.exclude,
        extend_exclude=args.extend_exclude,
        jit_functions=getattr(args, "jit_functions", None),
        state_aware_functions=getattr(args, "state_aware_functions", None),
    )
