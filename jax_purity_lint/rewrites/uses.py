"""Every place the module refers to a function, followed through jit aliases, so that all its calls can be
updated when its signature changes.

A use is a CALL (the function is called, possibly through `fast = jax.jit(f)`, `jax.jit(f)(x)` or a bound
method), a LAX use (handed to `lax.scan`, `fori_loop`, ...), or an ESCAPE: the function goes somewhere we
cannot follow (returned, stored, passed to `jax.grad`); escapes make a rewrite unsafe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterator, Optional

import libcst as cst

from ..analysis.jax_api import FUNCTION_KEYWORDS, IDENTITY_CACHED_ARGUMENTS, is_call_preserving
from ..analysis.sites import Transform
from .view import FunctionNode, ModuleView, walk

HARMLESS_DECORATORS = frozenset({"staticmethod"})


class UseKind(Enum):
    CALL = "call"
    LAX = "lax"
    ESCAPE = "escape"


@dataclass
class Use:
    kind: UseKind
    node: cst.CSTNode  # the reference (or the transform call wrapping it) at the end of the chain
    call: Optional[cst.Call] = None  # CALL: the call; LAX: the primitive's call
    transforms: tuple[cst.CSTNode, ...] = ()  # jit/pmap calls or decorators crossed on the way
    receiver: Optional[cst.BaseExpression] = None  # the instance, for methods
    primitive: Optional[str] = None  # LAX: e.g. `jax.lax.scan`
    argument: Optional[cst.Arg] = None  # LAX: the argument holding the function
    reason: str = ""  # ESCAPE: what happens to the function


@dataclass
class Instance:
    """`name = SomeClass(...)`: every reference to ``name`` in its scope."""

    name: str
    bindings: list[cst.SimpleStatementLine]
    region: cst.CSTNode  # the function (or module) whose variable it is
    references: list[cst.Name] = field(default_factory=list)

    @property
    def at_module_level(self) -> bool:
        return isinstance(self.region, cst.Module)


class UseFinder:
    def __init__(self, view: ModuleView) -> None:
        self.view = view

    # -- transformations -----------------------------------------------------------------------------------

    def call_preserving(self, call: cst.Call) -> Optional[str]:
        """`jax.jit(f, ...)`, `partial(jax.jit, ...)(f)`, `my_jit(f)`: the transformation, when the
        function it returns is called like ``f``. The analysis recognises it (aliases, `partial`,
        configured jit functions), so `fix` follows exactly the sites `check` diagnoses."""
        return self._if_call_preserving(self.view.analysis.transformation_of(call))

    def decorator_transform(self, decorator: cst.Decorator) -> Optional[str]:
        named = self._if_call_preserving(self.view.analysis.transformation_of(decorator))
        if named is None and isinstance(decorator.decorator, cst.Name) and decorator.decorator.value in HARMLESS_DECORATORS:
            return "staticmethod"
        return named

    def identity_cached_primitive(self, call: cst.Call) -> Optional[str]:
        """`lax.scan(body, ...)`, `jax.checkpoint(f)`: the primitive, as the analysis names it."""
        transform = self.view.analysis.transformation_of(call)
        return transform.qualified if transform is not None and transform.qualified in IDENTITY_CACHED_ARGUMENTS else None

    def _if_call_preserving(self, transform: Optional[Transform]) -> Optional[str]:
        if transform is None or not is_call_preserving(transform.qualified, self.view.settings.jit_functions):
            return None
        if transform.via is not None and not transform.wrapper_returns_it:
            return None  # a project's wrapper that may do more than jit: its calls are not followed
        return transform.qualified

    def decorator_uses(self, function: cst.FunctionDef) -> tuple[list[Use], list[cst.CSTNode]]:
        """The decorators a rewrite cannot see through (as escapes), and the transformations among
        the others, which every call of the function goes through."""
        uses: list[Use] = []
        transforms: list[cst.CSTNode] = []
        for decorator in function.decorators:
            kind = self.decorator_transform(decorator)
            if kind is None:
                reason = f"it is decorated with `@{self.view.code(decorator.decorator)}`"
                uses.append(Use(UseKind.ESCAPE, decorator, reason=reason))
            elif kind != "staticmethod":
                transforms.append(decorator)
        return uses, transforms

    # -- functions -------------------------------------------------------------------------------------------

    def of_function(self, function: FunctionNode) -> list[Use]:
        if isinstance(function, cst.Lambda):
            return list(self.classify(function))
        uses, transforms = self.decorator_uses(function)
        for reference in self.references_to_binding(function, function.name.value):
            uses.extend(self.classify(reference, tuple(transforms)))
        return uses

    def references_to_binding(self, binder: cst.CSTNode, name: str) -> list[cst.CSTNode]:
        """The nodes reading the name that ``binder`` (a def, class or assignment target) binds."""
        scope = self.view.scopes.get(binder)
        if scope is None:
            return []
        found = []
        for assignment in scope.assignments[name]:
            if getattr(assignment, "node", None) is binder:
                found.extend(access.node for access in assignment.references)
        return _unique(found)

    def assignments_count(self, binder: cst.CSTNode, name: str) -> int:
        scope = self.view.scopes.get(binder)
        return len(list(scope.assignments[name])) if scope is not None else 0

    # -- what a reference does with the function ----------------------------------------------------------

    def classify(self, node: cst.CSTNode, transforms: tuple = (), receiver=None, depth: int = 0) -> Iterator[Use]:
        view = self.view
        parent = view.parent(node)
        if depth > 6:
            yield Use(UseKind.ESCAPE, node, reason="it is wrapped too many times")
            return
        if isinstance(parent, cst.Call) and parent.func is node:
            yield Use(UseKind.CALL, node, parent, transforms, receiver)
            return
        if isinstance(parent, cst.Arg):
            call = view.parent(parent)
            if isinstance(call, cst.Call) and _is_function_argument(call, parent):
                if self.call_preserving(call):
                    yield from self.classify(call, transforms + (call,), receiver, depth + 1)
                    return
                primitive = self.identity_cached_primitive(call)
                if primitive is not None:
                    yield Use(UseKind.LAX, node, call, transforms, receiver, primitive, parent)
                    return
            where = view.code(call.func) if isinstance(call, cst.Call) else "a call"
            yield Use(UseKind.ESCAPE, node, reason=f"it is passed to `{where}`")
            return
        if isinstance(parent, cst.Assign) and parent.value is node and len(parent.targets) == 1:
            target = parent.targets[0].target
            if isinstance(target, cst.Name):
                if self.assignments_count(target, target.value) > 1:
                    yield Use(UseKind.ESCAPE, node, reason=f"`{target.value}` is assigned more than once")
                    return
                for reference in self.references_to_binding(target, target.value):
                    yield from self.classify(reference, transforms, receiver, depth + 1)
                return
        if isinstance(parent, cst.Attribute) and parent.value is node:
            yield Use(UseKind.ESCAPE, node, reason=f"its attribute `{parent.attr.value}` is used")
            return
        where = _short(view, view.statement_of(node) or node)
        yield Use(UseKind.ESCAPE, node, reason=f"it is used as a value in `{where}`")

    # -- methods and the objects they are called on ---------------------------------------------------------

    def instances(self, class_def: cst.ClassDef) -> tuple[list[Instance], list[str]]:
        """The variables holding objects of the class, and why the others cannot be followed."""
        view = self.view
        problems: list[str] = []
        by_region: dict[tuple[int, str], Instance] = {}
        for reference in self.references_to_binding(class_def, class_def.name.value):
            parent = view.parent(reference)
            if _inside_annotation(view, reference) or _is_isinstance_argument(view, reference):
                continue
            if isinstance(parent, cst.Attribute) and parent.value is reference:
                continue  # class attributes: the callers decide
            if isinstance(parent, cst.Call) and parent.func is reference:
                assign = view.parent(parent)
                if _assigns_one_name(assign):
                    target = assign.targets[0].target
                    statement = view.statement_of(assign)
                    region = view.enclosing_function(assign) or (view.enclosing_class(assign) and None) or view.module
                    if view.enclosing_function(assign) is None and _in_class_body(view, assign):
                        problems.append(f"an object of `{class_def.name.value}` is made in a class body")
                        continue
                    key = (id(region), target.value)
                    instance = by_region.setdefault(key, Instance(target.value, [], region))
                    instance.bindings.append(statement)
                    continue
            problems.append(
                f"`{class_def.name.value}` is used in `{_short(view, view.statement_of(reference) or reference)}`"
            )
        instances = list(by_region.values())
        for instance in instances:
            binder_targets = [
                small.targets[0].target
                for line in instance.bindings
                for small in line.body
                if isinstance(small, cst.Assign)
            ]
            if self.assignments_count(binder_targets[0], instance.name) != len(binder_targets):
                problems.append(f"`{instance.name}` is also assigned something else than a `{class_def.name.value}`")
            refs: list[cst.Name] = []
            for target in binder_targets:
                refs.extend(r for r in self.references_to_binding(target, instance.name) if isinstance(r, cst.Name))
            instance.references = _unique(refs)
        return instances, problems

    def self_references(self, class_def: cst.ClassDef) -> Iterator[tuple[cst.FunctionDef, cst.Attribute]]:
        """`self.x` attributes in the class's methods (for each method, its first parameter is `self`)."""
        for method in methods(class_def):
            self_name = self_parameter(method)
            if self_name is None:
                continue
            for node in walk(method.body):
                if isinstance(node, cst.Attribute) and _is_name(node.value, self_name):
                    if self.view.enclosing_class(_method_of(self.view, node) or method) is class_def:
                        yield method, node

    def attribute_aliases(self, class_def: cst.ClassDef) -> dict[str, tuple[str, cst.Call]]:
        """`self.step = jax.jit(self._step)` in a method: {"step": ("_step", the jit call)}."""
        aliases: dict[str, tuple[str, cst.Call]] = {}
        for method, attribute in self.self_references(class_def):
            parent = self.view.parent(attribute)
            if not (isinstance(parent, cst.Arg) and isinstance(self.view.parent(parent), cst.Call)):
                continue
            call = self.view.parent(parent)
            if not self.call_preserving(call) or not _is_function_argument(call, parent):
                continue
            assign = self.view.parent(call)
            if isinstance(assign, cst.Assign) and len(assign.targets) == 1:
                target = assign.targets[0].target
                if isinstance(target, cst.Attribute) and _is_name(target.value, self_parameter(method)):
                    aliases[target.attr.value] = (attribute.attr.value, call)
        return aliases


# -- small helpers ------------------------------------------------------------------------------------------------


def methods(class_def: cst.ClassDef) -> list[cst.FunctionDef]:
    body = class_def.body
    if not isinstance(body, cst.IndentedBlock):
        return []
    return [s for s in body.body if isinstance(s, cst.FunctionDef)]


def self_parameter(method: cst.FunctionDef) -> Optional[str]:
    if any(_is_name(d.decorator, "staticmethod") or _is_name(d.decorator, "classmethod") for d in method.decorators):
        return None
    params = method.params.posonly_params or method.params.params
    return params[0].name.value if params else None


def _method_of(view: ModuleView, node: cst.CSTNode) -> Optional[cst.FunctionDef]:
    """The method (a def directly in a class body) whose code contains ``node``."""
    for ancestor in view.ancestors(node):
        if isinstance(ancestor, cst.FunctionDef) and view.enclosing_class(ancestor) is not None:
            return ancestor
    return None


def _is_function_argument(call: cst.Call, arg: cst.Arg) -> bool:
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if arg.keyword is not None:
        return arg.keyword.value in FUNCTION_KEYWORDS
    return arg in positional


def _inside_annotation(view: ModuleView, node: cst.CSTNode) -> bool:
    return any(isinstance(a, cst.Annotation) for a in view.ancestors(node))


def _is_isinstance_argument(view: ModuleView, node: cst.CSTNode) -> bool:
    parent = view.parent(node)
    holder = view.parent(parent) if isinstance(parent, cst.Arg) else None
    if isinstance(parent, cst.Element):
        tuple_node = view.parent(parent)
        arg = view.parent(tuple_node) if tuple_node is not None else None
        holder = view.parent(arg) if isinstance(arg, cst.Arg) else None
    return isinstance(holder, cst.Call) and (_is_name(holder.func, "isinstance") or _is_name(holder.func, "issubclass"))


def _in_class_body(view: ModuleView, node: cst.CSTNode) -> bool:
    for ancestor in view.ancestors(node):
        if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
            return False
        if isinstance(ancestor, cst.ClassDef):
            return True
    return False


def _is_name(node: cst.CSTNode, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _assigns_one_name(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)


def _unique(nodes):
    seen, out = set(), []
    for node in nodes:
        if id(node) not in seen:
            seen.add(id(node))
            out.append(node)
    return out


def _short(view: ModuleView, node: cst.CSTNode) -> str:
    text = " ".join(view.code(node).split())
    return text if len(text) <= 60 else text[:57] + "..."
