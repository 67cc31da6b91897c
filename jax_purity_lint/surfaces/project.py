"""Which configuration applies to which file, for every surface (check, fix, confirm, flake8).

As ruff does, a file is configured by the nearest `pyproject.toml` above it (its own folder first)
that holds a `[tool.jax_purity_lint]` or `[tool.jax-purity-lint]` table. A pyproject.toml without
our table does not stop the search, so a sub-package that has one only for packaging is still
configured by the repository's; a sub-project with its own table is configured by that table alone
(tables are not merged). With no table up to the filesystem's root, the defaults apply. A
pyproject.toml on the way that cannot be read is an error: it might have held our table.

`--config FILE` replaces the search: FILE configures every file. Options given on the command line
are laid over the file's configuration, whichever file it is.

The outcome is cached per folder, so a tree of thousands of files reads each pyproject.toml once
and asks the file system about each folder once.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from .config import Config, ConfigError, config_from_table, load_config, merge, read_table

PYPROJECT = "pyproject.toml"
PathLike = Union[str, "os.PathLike[str]"]
# The options of a command line that configure files (as `args` attributes and Overrides fields).
OPTION_NAMES = ("select", "ignore", "exclude", "extend_exclude", "jit_functions", "state_aware_functions")


@dataclass(frozen=True)
class Overrides:
    """The configuration given on a command line: each option given (not None) replaces the file's,
    except `extend_exclude`, which adds to it. Patterns are relative to the working directory."""

    select: Optional[tuple[str, ...]] = None
    ignore: Optional[tuple[str, ...]] = None
    exclude: Optional[tuple[str, ...]] = None
    extend_exclude: Optional[tuple[str, ...]] = None
    jit_functions: Optional[tuple[str, ...]] = None
    state_aware_functions: Optional[tuple[str, ...]] = None
    base: Path = field(default_factory=Path.cwd)

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> "Overrides":
        """The options a subcommand has (`fix` has no --jit-functions: absent is not given)."""
        given = {name: getattr(args, name, None) for name in OPTION_NAMES}
        return cls(**{name: tuple(value) for name, value in given.items() if value is not None})

    def apply(self, config: Config) -> Config:
        return merge(config, base=self.base, **{name: getattr(self, name) for name in OPTION_NAMES})


class Project:
    """`project.config_for(path)`: the configuration of the file at `path`, which need not exist
    (the name given to stdin). Raises ConfigError for a pyproject.toml that is wrong; the error is
    cached too, so every file below it reports the same error without reading it again."""

    def __init__(self, overrides: Optional[Overrides] = None, fixed: Optional[Config] = None) -> None:
        """`fixed`: one configuration for every file (`--config FILE`, or a caller that built it)."""
        self.overrides = overrides or Overrides()
        self.fixed = fixed
        # Built now, so a wrong code on the command line is reported before any file is looked at.
        self.defaults = self.overrides.apply(Config())
        self._by_folder: dict[str, Union[Config, ConfigError]] = {}

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> "Project":
        overrides = Overrides.from_arguments(args)
        config_file = getattr(args, "config", None)
        return cls(overrides, None if config_file is None else overrides.apply(load_config(Path(config_file))))

    def config_for(self, path: PathLike) -> Config:
        return self.config_in(os.path.dirname(os.path.abspath(path)))

    def config_in(self, folder: PathLike) -> Config:
        """The configuration of the files in `folder`."""
        if self.fixed is not None:
            return self.fixed
        outcome = self._outcome(os.path.abspath(folder))
        if isinstance(outcome, ConfigError):
            raise outcome
        return outcome

    def exclusions_in(self, folder: Path) -> tuple[str, ...]:
        """For files.discover: the exclude patterns that apply to the entries of `folder`."""
        return self.config_in(folder).exclusions

    def _outcome(self, folder: str) -> Union[Config, ConfigError]:
        """Memoised: a folder without a table of its own has its parent's outcome."""
        known = self._by_folder.get(folder)
        if known is not None:
            return known
        try:
            outcome = self._configured_here(folder)
        except ConfigError as error:
            outcome = error
        if outcome is None:
            parent = os.path.dirname(folder)
            outcome = self.defaults if parent == folder else self._outcome(parent)
        self._by_folder[folder] = outcome
        return outcome

    def _configured_here(self, folder: str) -> Optional[Config]:
        """The configuration of the pyproject.toml in `folder` if it holds our table, else None."""
        candidate = Path(folder, PYPROJECT)
        if not candidate.is_file():
            return None
        table = read_table(candidate)
        return None if table is None else self.overrides.apply(config_from_table(table, candidate))


def add_configuration_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that make up a Project, for the subcommands that lint (`check`, `confirm`)."""
    parser.add_argument(
        "--select", type=comma_separated, help="comma-separated codes or prefixes to report (default: JPL)"
    )
    parser.add_argument("--ignore", type=comma_separated, help="comma-separated codes or prefixes to leave out")
    parser.add_argument(
        "--exclude", type=comma_separated, help="comma-separated glob patterns to skip (replaces the default)"
    )
    parser.add_argument("--extend-exclude", type=comma_separated, help="more glob patterns to skip")
    parser.add_argument(
        "--jit-functions", type=comma_separated, help="extra compile-and-cache transformations, e.g. mylib.compile"
    )
    parser.add_argument(
        "--state-aware-functions",
        type=comma_separated,
        help="transformations that carry module state, like flax.nnx.jit",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="the pyproject.toml to read for every file (default: for each file, the nearest one above it "
        "with a [tool.jax_purity_lint] table)",
    )


def comma_separated(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
