"""Scopes and bindings, after pyflakes' model: every name a scope binds, and how it was bound.

A scope records what happens inside it (reads, stores, in-place mutations, calls) as *effects*,
unresolved; names are resolved only once the whole module has been read, so a global that is
rebound below a function is still seen as rebound (pyflakes defers function bodies the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator, Optional

import libcst as cst


class BindingKind(Enum):
    IMPORT = "import"
    FUNCTION = "function"
    CLASS = "class"
    ASSIGNMENT = "assignment"
    AUGMENTED = "augmented assignment"
    LOOP_TARGET = "loop target"
    DELETION = "del"
    ARGUMENT = "argument"
    OTHER = "binding"  # with-as, except-as, walrus, match, comprehension target


# Bindings of these kinds give a name a definition, not a value that changes.
DEFINITION_KINDS = frozenset({BindingKind.IMPORT, BindingKind.FUNCTION, BindingKind.CLASS})


@dataclass(eq=False)
class Binding:
    name: str
    kind: BindingKind
    node: cst.CSTNode  # the node to point at (the target Name, the def, the import alias)
    order: int  # pre-order position in the module: "before"/"after" without positions
    branch: tuple[tuple[int, int], ...]  # (compound statement id, branch index) from the scope root
    in_loop: bool
    loop: Optional[int] = None  # the outermost loop statement around it, in its scope
    value: Optional[cst.BaseExpression] = None  # right-hand side of a plain assignment
    qualified: Optional[str] = None  # for imports: the dotted name the binding stands for
    # For imports, where from: (relative level, module, name), `from ..cfg import LR` -> (2, "cfg", "LR"),
    # `import a.b as m` -> (0, "a.b", None). Relative imports have no `qualified`; modules of the
    # project are found from this (analysis/linking.py).
    imported: Optional[tuple[int, str, Optional[str]]] = None
    scope: Optional["Scope"] = None  # for FUNCTION/CLASS bindings and lambdas: the scope they open
    # For a name in a tuple target, `a, (b, c) = value`: the value and where in it the name sits
    # (c -> (value, (1, 1))); None for a plain target or when a `*rest` shifts the positions.
    unpacked_from: Optional[tuple[cst.BaseExpression, tuple[int, ...]]] = None

    def excludes(self, other: "Binding") -> bool:
        """True when the two bindings sit in different arms of one if/try: only one of them runs."""
        return branches_exclude(self.branch, other.branch)


def branches_exclude(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> bool:
    """True when two places sit in different arms of one if/try (in one run of it, only one runs)."""
    for (stmt_a, arm_a), (stmt_b, arm_b) in zip(a, b):
        if stmt_a != stmt_b:
            return False
        if arm_a != arm_b:
            return True
    return False


class EffectKind(Enum):
    READ = "read"  # a name loaded (possibly as the root of `a.b[c]`)
    ATTR_STORE = "attribute store"  # `root.a.b = v`, `del root.a`, `setattr(root, ...)`
    ITEM_STORE = "item store"  # `root[k] = v`, `del root[k]`, `root.a[k] += v`
    MUTATOR_CALL = "mutating call"  # `root.append(v)`, `root.a.update(...)`
    NEXT = "next"  # `next(root)`
    CALL = "call"  # any call: for trace sites, host effects and reachability


@dataclass(eq=False)
class Effect:
    kind: EffectKind
    root: Optional[str]  # the Name at the root of the expression acted on
    path: tuple[str, ...]  # attribute names after the root: `self.a.b` -> ("a", "b")
    node: cst.CSTNode  # where to report
    order: int
    in_loop: bool = False
    loop: Optional[int] = None  # the outermost loop statement around it, in its scope
    detail: str = ""  # the mutating method's name, or "shape" for metadata reads
    call: Optional[cst.Call] = None  # for CALL effects
    branch: tuple[tuple[int, int], ...] = ()  # (compound statement id, arm) from the scope root


class ScopeKind(Enum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"
    LAMBDA = "lambda"
    COMPREHENSION = "comprehension"


@dataclass(eq=False)
class Scope:
    kind: ScopeKind
    name: str
    node: cst.CSTNode
    parent: Optional["Scope"]
    order: int
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    global_names: set[str] = field(default_factory=set)
    nonlocal_names: set[str] = field(default_factory=set)
    effects: list[Effect] = field(default_factory=list)
    children: list["Scope"] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    decorators: list[cst.Decorator] = field(default_factory=list)
    param_annotations: dict[str, cst.BaseExpression] = field(default_factory=dict)
    packed_params: set[str] = field(default_factory=set)  # `*args`, `**kwargs`: built afresh for every call
    param_defaults: dict[str, cst.BaseExpression] = field(default_factory=dict)  # made once, when the def runs
    returned_names: set[str] = field(default_factory=set)  # names returned whole: `return state` / `return out, state`
    returned_values: list[Optional[cst.BaseExpression]] = field(default_factory=list)  # of each `return` (None: bare)
    # Where the scope's object is made (a def, lambda or comprehension runs) within its parent.
    loop: Optional[int] = None  # the outermost loop statement of the parent around it
    branch: tuple[tuple[int, int], ...] = ()

    @property
    def enclosing_class(self) -> Optional["Scope"]:
        """The class this function is a method of, if it is defined directly in a class body."""
        if self.kind is ScopeKind.FUNCTION and self.parent and self.parent.kind is ScopeKind.CLASS:
            return self.parent
        return None

    def decorator_names(self) -> set[str]:
        names = set()
        for decorator in self.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Name):
                names.add(expr.value)
            elif isinstance(expr, cst.Attribute):
                names.add(expr.attr.value)
        return names

    @property
    def self_name(self) -> Optional[str]:
        """The name of the instance parameter (`self`) of a plain method, else None."""
        if self.enclosing_class is None or not self.params:
            return None
        if self.decorator_names() & {"staticmethod", "classmethod"}:
            return None
        return self.params[0]

    def add_binding(self, binding: Binding) -> None:
        self.bindings.setdefault(binding.name, []).append(binding)


def scope_and_nested(scope: Scope) -> Iterator[Scope]:
    """`scope`, then every scope nested in it, at any depth."""
    stack = [scope]
    while stack:
        inner = stack.pop()
        stack.extend(inner.children)
        yield inner


def release_scopes(scopes: Iterable[Scope]) -> None:
    """Cut each scope's links to its parent and children, for scopes nothing reads again. A scope tree
    is a web of reference cycles (parent <-> children), so it, and every libcst node its bindings and
    effects point at, would wait for the cyclic collector, which the analysis pauses
    (source/gc_pause.py): when the collector resumes, it traverses all of that before freeing it. Cut,
    the tree is freed by reference counting, at once."""
    for scope in scopes:
        scope.parent = None
        scope.children = []
