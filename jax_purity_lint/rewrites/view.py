"""One analysed module with everything the rewrites look up: positions, parents, scopes, qualified
names, and which functions the analysis says are traced.

A view is made from the engine's `FileAnalysis` and wraps its very tree (no copy, no second parse or
analysis), so the analysis's scopes and each finding's node are our nodes.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Union

import libcst as cst
from libcst.metadata import (
    ExpressionContext,
    ExpressionContextProvider,
    MetadataWrapper,
    PositionProvider,
    ScopeProvider,
)

from ..analysis import ModuleAnalysis, analyse_module
from ..analysis.jax_api import canonical
from ..engine import line_place
from ..settings import DEFAULT_SETTINGS, Settings

if TYPE_CHECKING:
    from ..engine import FileAnalysis, LocatedFinding

FunctionNode = Union[cst.FunctionDef, cst.Lambda]
# Nodes that open a new Python scope: a search for "the enclosing function" stops at them.
SCOPE_NODES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class ModuleView:
    def __init__(
        self,
        module: cst.Module,
        analysis: Optional[ModuleAnalysis] = None,
        settings: Optional[Settings] = None,
        place: Callable[[int], str] = line_place,
    ) -> None:
        self.settings = settings or DEFAULT_SETTINGS
        self.place_of_line = place  # how an explanation names a line: "line 9", "cell 3, line 2"
        self.module = module
        self._analysis = analysis
        self.wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
        self.positions = self.wrapper.resolve(PositionProvider)
        self.parents = _parent_map(self.module)  # libcst's ParentNodeProvider is several times slower

    # Scopes and expression contexts cost a traversal each: only rewrites that follow names need them.
    @cached_property
    def _names_metadata(self):
        return self.wrapper.resolve_many([ScopeProvider, ExpressionContextProvider])

    @property
    def scopes(self):
        return self._names_metadata[ScopeProvider]

    @property
    def contexts(self):
        return self._names_metadata[ExpressionContextProvider]

    # -- the analysis ------------------------------------------------------------------------------

    @classmethod
    def of(
        cls, file: "FileAnalysis", settings: Optional[Settings] = None, place: Optional[Callable[[int], str]] = None
    ) -> "ModuleView":
        """The view of the tree the engine parsed and analysed (parsed once, whatever reads it)."""
        if file.parsed is None:
            raise ValueError("the file was not parsed: nothing in it can be traced")
        if place is None:
            return cls(file.parsed.module, file.module_analysis, settings)
        return cls(file.parsed.module, file.module_analysis, settings, place)

    @property
    def analysis(self) -> ModuleAnalysis:
        if self._analysis is None:  # the engine stops before analysing a file that has no trace site
            self._analysis = analyse_module(self.module, self.settings)
        return self._analysis

    @cached_property
    def traced_nodes(self) -> set[int]:
        """ids of the FunctionDef/Lambda nodes that run while some trace-caching site traces."""
        return {id(scope.node) for scope in self.analysis.traced if scope.node is not None}

    def is_traced(self, function: Optional[cst.CSTNode]) -> bool:
        return function is not None and id(function) in self.traced_nodes

    # -- text and places ---------------------------------------------------------------------------

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def place(self, node: cst.CSTNode) -> str:
        """Where the node is, as an explanation says it: "line 9" ("cell 3, line 2" in a notebook)."""
        return self.place_of_line(self.line(node))

    def parent(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        return self.parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parents.get(node)
        while current is not None:
            yield current
            current = self.parents.get(current)

    def enclosing_function(self, node: cst.CSTNode) -> Optional[FunctionNode]:
        """The innermost def or lambda around ``node`` (comprehensions do not count); None at module level
        or directly in a class body."""
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
                return ancestor
            if isinstance(ancestor, cst.ClassDef):
                return None
        return None

    def enclosing_class(self, function: cst.CSTNode) -> Optional[cst.ClassDef]:
        """The class ``function`` is a method of (defined directly in the class body)."""
        parent = self.parent(function)
        if isinstance(parent, cst.IndentedBlock):
            owner = self.parent(parent)
            if isinstance(owner, cst.ClassDef):
                return owner
        return None

    def statement_of(self, node: cst.CSTNode) -> Optional[cst.BaseStatement]:
        """The statement (a line, or a compound statement's header) that contains ``node``."""
        current: Optional[cst.CSTNode] = node
        while current is not None:
            if isinstance(current, cst.SimpleStatementLine):
                return current
            if isinstance(current, cst.BaseCompoundStatement) and current is not node:
                return current
            current = self.parents.get(current)
        return None

    def anchor_of(self, function: cst.CSTNode) -> Optional[cst.BaseStatement]:
        """The statement a comment about ``function`` goes above: the def itself, or the lambda's statement."""
        return function if isinstance(function, cst.FunctionDef) else self.statement_of(function)

    def small_statement_of(self, node: cst.CSTNode) -> Optional[cst.BaseSmallStatement]:
        current: Optional[cst.CSTNode] = node
        while current is not None and not isinstance(current, cst.BaseSmallStatement):
            if isinstance(current, (cst.BaseCompoundStatement, cst.SimpleStatementLine)):
                return None
            current = self.parents.get(current)
        return current

    def body_of(self, statement: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The module or indented block whose body lists ``statement``."""
        parent = self.parent(statement)
        return parent if isinstance(parent, (cst.Module, cst.IndentedBlock)) else None

    def is_load(self, node: cst.CSTNode) -> bool:
        return self.contexts.get(node) is ExpressionContext.LOAD

    def is_store(self, node: cst.CSTNode) -> bool:
        return self.contexts.get(node) is ExpressionContext.STORE

    # -- names -------------------------------------------------------------------------------------

    def qualified(self, node: cst.CSTNode) -> Optional[str]:
        """``jax.jit`` for ``J.jit`` under ``import jax as J``; None when it is not an import."""
        scope = self.scopes.get(node)
        if scope is None:
            return None
        try:
            names = scope.get_qualified_names_for(node)
        except Exception:  # libcst cannot qualify some expressions
            return None
        for name in sorted(names, key=lambda q: q.name):
            return canonical(name.name)
        return None

    # -- what a finding points at --------------------------------------------------------------------

    @cached_property
    def _by_start(self) -> dict[tuple[int, int], list[cst.CSTNode]]:
        index: dict[tuple[int, int], list[cst.CSTNode]] = {}
        for node, where in self.positions.items():
            index.setdefault((where.start.line, where.start.column), []).append(node)
        return index

    def nodes_of(self, finding: "LocatedFinding") -> list[cst.CSTNode]:
        """The finding's node with the nodes that start where it starts, outermost first: the statement
        or call a builder edits may begin at the very name the finding is about."""
        start = self.positions[finding.node].start
        return sorted(self._by_start.get((start.line, start.column), []), key=self._depth)

    def _depth(self, node: cst.CSTNode) -> int:
        return sum(1 for _ in self.ancestors(node))

    def node_of(self, finding: "LocatedFinding", kind: type) -> Optional[cst.CSTNode]:
        """The outermost node of ``kind`` among `nodes_of(finding)`."""
        for node in self.nodes_of(finding):
            if isinstance(node, kind):
                return node
        return None

    def function_of(self, finding: "LocatedFinding") -> Optional[FunctionNode]:
        """The function the finding's node sits in."""
        return self.enclosing_function(finding.node)


def function_name(function: FunctionNode) -> str:
    return function.name.value if isinstance(function, cst.FunctionDef) else "lambda"


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The node's children from its fields: much cheaper than libcst's `children`, which runs a visitor.
    (Field order is not always source order; callers that need source order use `.children`.)"""
    kind = type(node)
    names = _CHILD_FIELDS.get(kind)
    if names is None:
        names = _CHILD_FIELDS[kind] = tuple(f.name for f in dataclasses.fields(node))
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


def _parent_map(module: cst.Module) -> dict[cst.CSTNode, cst.CSTNode]:
    parents: dict[cst.CSTNode, cst.CSTNode] = {}
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        for child in _child_nodes(node):
            parents[child] = node
            stack.append(child)
    return parents


def walk(node: cst.CSTNode, into_scopes: bool = True) -> Iterator[cst.CSTNode]:
    """Pre-order walk; with ``into_scopes=False`` nested defs, lambdas and classes are not entered."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = [c for c in _child_nodes(current) if into_scopes or not isinstance(c, SCOPE_NODES)]
        stack.extend(reversed(children))


def own_nodes(function: FunctionNode) -> Iterator[cst.CSTNode]:
    """The nodes of ``function``'s own body: nested defs/lambdas/classes are skipped."""
    body = function.body
    yield from walk(body, into_scopes=False)
