"""The one result type every surface (flake8, CLI, runtime checker, rewrites) consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class TraceSite:
    """Where a function is handed to a trace-caching transformation.

    ``line``/``col`` locate the decorator expression or the call (1-based line, 0-based column).
    ``transform`` is the qualified name of the transformation, e.g. ``jax.jit``.
    """

    line: int
    col: int
    transform: str
    function: str  # name of the function whose trace is cached


@dataclass(frozen=True)
class Diagnostic:
    """One finding: ``code`` at ``line``/``col`` (1-based line, 0-based column, as flake8 expects)."""

    code: str
    line: int
    col: int
    message: str  # without the code prefix
    function: str  # the traced function in which the finding sits
    state: str  # the Python state touched, e.g. ``g``, ``self.n``, ``print``
    site: TraceSite | None  # the trace-caching site that makes this code run once (None for JPL001)
    path: tuple[str, ...] = field(default=())  # call path from the site's function to ``function``
    cell: Optional[int] = None  # for notebooks: 1-based code cell; ``line`` is then the line in that cell
    # Other places the finding involves, in other files: (absolute path, 1-based line, what happens there),
    # e.g. where another module changes the state read here.
    related: tuple[tuple[str, int, str], ...] = field(default=())

    def as_flake8(self) -> str:
        return f"{self.code} {self.message}"

    def sort_key(self) -> tuple[int, int, str]:
        return (self.line, self.col, self.code)
