"""The flake8 surface: options through flake8's option manager, results as (line, col, message, type)."""

from __future__ import annotations

import ast
from typing import Any, ClassVar, Iterator, Sequence

from . import __version__
from .diagnostics import opted_in
from .engine import analysis_failure, analyze_source, describe_exception
from .settings import DEFAULT_SETTINGS, Settings


class JaxPurityPlugin:
    name = "jax-purity-lint"
    version = __version__
    settings: ClassVar[Settings] = DEFAULT_SETTINGS
    # What flake8 was told to select: opt-in codes are reported only when named there (as
    # flake8-bugbear does for its B9 codes; flake8 itself runs every plugin whatever is selected).
    selected: ClassVar[tuple[str, ...]] = ()

    def __init__(self, tree: ast.AST, lines: Sequence[str], filename: str) -> None:
        # flake8 has already parsed `tree`: the prefilter and the preflight use it instead of parsing
        # again, and only files that may hold a trace site are read again with libcst.
        self.tree = tree
        self.lines = lines
        self.filename = filename

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        option_manager.add_option(
            "--jpl-jit-functions",
            default="",
            parse_from_config=True,
            comma_separated_list=True,
            help="Extra compile-and-cache transformations, by qualified name (e.g. mylib.compile).",
        )
        option_manager.add_option(
            "--jpl-state-aware-functions",
            default="",
            parse_from_config=True,
            comma_separated_list=True,
            help="Extra transformations that carry module state in and out, like flax.nnx.jit.",
        )

    @classmethod
    def parse_options(cls, options: Any) -> None:
        cls.settings = Settings(
            jit_functions=frozenset(_names(getattr(options, "jpl_jit_functions", ()))),
            state_aware_functions=frozenset(_names(getattr(options, "jpl_state_aware_functions", ()))),
        )
        cls.selected = tuple(
            code.upper() for key in ("select", "extend_select") for code in _names(getattr(options, key, None))
        )

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        # flake8 iterates this outside its own plugin guard: anything raised here aborts the whole
        # run with a traceback, so even a failure to join the lines becomes JPL001.
        try:
            source = "".join(self.lines)
            diagnostics = analyze_source(source, self.filename, self.settings, python_tree=self.tree)
        except Exception as error:
            diagnostics = [analysis_failure(f"internal error {describe_exception(error)}")]
        for diagnostic in diagnostics:
            if not opted_in(diagnostic.code, self.selected):
                continue
            yield diagnostic.line, diagnostic.col, diagnostic.as_flake8(), type(self)


def _names(values: Any) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    return [value.strip() for value in values or () if value and value.strip()]
