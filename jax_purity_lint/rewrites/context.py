"""What every rewrite builder works with: the module, an edit set, a name pool and the imports."""

from __future__ import annotations

from dataclasses import dataclass, field

from .edits import Edits
from .imports import Imports
from .names import NamePool
from .threading import Threader
from .view import ModuleView


@dataclass
class RewriteContext:
    view: ModuleView
    edits: Edits
    pool: NamePool
    imports: Imports
    threaders: list[Threader] = field(default_factory=list)  # to know, afterwards, which signatures changed

    @classmethod
    def for_view(cls, view: ModuleView) -> "RewriteContext":
        edits = Edits()
        return cls(view, edits, NamePool(), Imports(view, edits))

    def threader(self) -> Threader:
        threader = Threader(self.view, self.edits, self.pool, self.imports)
        self.threaders.append(threader)
        return threader

    def changed_functions(self) -> list:
        return [entry.conversion.function for threader in self.threaders for entry in threader.converted.values()]
