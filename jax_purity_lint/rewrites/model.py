"""What a rewrite is: the builders' drafts, and the records the planner hands to the CLI and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import libcst as cst

from .edits import Edits

if TYPE_CHECKING:
    from ..engine import LocatedFinding


@dataclass
class Group:
    """Findings one rewrite answers together (e.g. every read of one global): those of one group key."""

    key: tuple
    diagnostics: list["LocatedFinding"]

    @property
    def code(self) -> str:
        return self.diagnostics[0].code

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(sorted({d.code for d in self.diagnostics}))

    @property
    def first(self) -> "LocatedFinding":
        return min(self.diagnostics, key=lambda finding: finding.sort_key())


@dataclass
class Draft:
    """A builder's proposal: the edits, what they do, and why they may not be safe."""

    edits: Edits
    summary: str
    problems: list[str] = field(default_factory=list)  # each one makes the rewrite unsafe
    todo: list[str] = field(default_factory=list)  # what the user still has to do when it is unsafe
    anchor: Optional[cst.CSTNode] = None  # the statement the explanation comment goes above
    advice_only: bool = False  # a comment, no code change: the finding stays

    @property
    def safe(self) -> bool:
        return not self.problems


@dataclass
class Rewrite:
    """One rewrite as reported: for a group of diagnostics, what was (or would be) done."""

    codes: tuple[str, ...]
    line: int  # of the first diagnostic, in the file as it was before this rewrite
    function: str
    state: str
    summary: str
    safe: bool
    applied: bool
    problems: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)

    def describe(self) -> str:
        verdict = "safe" if self.safe else "needs review"
        text = f"{', '.join(self.codes)} line {self.line} `{self.function}` ({self.state}): {self.summary} [{verdict}]"
        for problem in self.problems:
            text += f"\n    - {problem}"
        return text


@dataclass
class ModuleFix:
    """The result for one module: the rewritten text (safe rewrites only, or all of them) and the records."""

    original: str
    rewritten: str
    rewrites: list[Rewrite]
    error: Optional[str] = None  # the module could not be parsed or analysed

    @property
    def changed(self) -> bool:
        return self.rewritten != self.original
