"""The single pass over the CST: scopes, bindings and effects, nothing resolved yet.

One walk of the module collects everything the rules need, so no rule rescans the tree.
Compound statements are walked by hand where the branch or loop a binding sits in matters.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Sequence, Union

import libcst as cst

from .container_methods import MUTATING_METHODS, MUTATING_METHODS_WITH_RESULT
from .scopes import Binding, BindingKind, Effect, EffectKind, Scope, ScopeKind
from .tree import dotted_name

# Attribute reads that describe an array rather than read its (possibly stale) value.
METADATA_ATTRIBUTES = frozenset({"shape", "dtype", "ndim", "size", "sharding", "aval", "weak_type"})

Target = Union[cst.BaseExpression, cst.BaseAssignTargetExpression]


def attribute_chain(expr: cst.BaseExpression) -> tuple[Optional[cst.Name], tuple[str, ...], list[cst.CSTNode]]:
    """`a.b[c].d` -> (Name a, ("b", "d"), [the nodes on the chain]); root None if not a Name."""
    path: list[str] = []
    chain: list[cst.CSTNode] = []
    node = expr
    while True:
        chain.append(node)
        if isinstance(node, cst.Attribute):
            path.append(node.attr.value)
            node = node.value
        elif isinstance(node, cst.Subscript):
            node = node.value
        elif isinstance(node, cst.Name):
            return node, tuple(reversed(path)), chain
        else:
            return None, tuple(reversed(path)), chain


# Fields that hold only whitespace, comments and punctuation: nothing to analyse.
_SKIPPED_FIELDS = frozenset(
    {"lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer", "comma", "semicolon",
     "trailing_whitespace", "newline", "colon", "equal", "star", "dot", "lbracket", "rbracket", "lbrace", "rbrace",
     "operator", "asynchronous", "encoding", "default_indent", "default_newline", "has_trailing_newline", "indent",
     "whitespace"}
)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(node_type: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(node_type)
    if fields is None:
        fields = tuple(
            f.name
            for f in dataclasses.fields(node_type)
            if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace")
        )
        _CHILD_FIELDS[node_type] = fields
    return fields


class ScopeCollector:
    """Walks the tree itself: libcst's `visit` rebuilds every node it passes (a transformer's
    traversal), which costs more than the parse; reading the dataclass fields costs far less."""

    def __init__(self) -> None:
        self.order = 0
        self.module_scope: Optional[Scope] = None
        self.scope: Optional[Scope] = None
        self.all_scopes: list[Scope] = []
        self.scope_of_node: dict[int, Scope] = {}
        self._branch: tuple[tuple[int, int], ...] = ()  # (if/try statement, arm) from the scope root
        self._loops: tuple[int, ...] = ()  # enclosing loop statements in the current scope, outermost first
        self.loop_ends: dict[int, int] = {}  # loop statement id -> order of the last node inside it
        self._not_a_read: set[int] = set()  # Names/Attributes that are stores, keywords or consumed roots
        self._statement_calls: set[int] = set()  # calls whose result is thrown away
        self.turns_on_hijax = False  # a call with `hijax=True`: nnx Variables here are JAX refs
        self.applied_calls: set[int] = set()  # calls whose result is called at once: `jax.jit(f)(x)`
        self.try_statements: set[int] = set()  # try statements: their body runs unless it raises

    # -- bookkeeping ------------------------------------------------------------------------------

    def visit(self, node: cst.CSTNode) -> None:
        """Pre-order: the node's `visit_<Type>` handler, then (unless it returns False) its children."""
        self.order += 1
        handler = _HANDLERS.get(type(node), _NO_HANDLER)
        if handler is _NO_HANDLER:
            handler = _HANDLERS[type(node)] = getattr(ScopeCollector, f"visit_{type(node).__name__}", None)
        if handler is not None and handler(self, node) is False:
            return
        for name in _child_fields(type(node)):
            value = getattr(node, name)
            if isinstance(value, cst.CSTNode):
                self.visit(value)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, cst.CSTNode):
                        self.visit(item)

    def _walk(self, nodes: Iterable[Optional[cst.CSTNode]]) -> None:
        for node in nodes:
            if node is not None and isinstance(node, cst.CSTNode):
                self.visit(node)

    def _open_scope(self, kind: ScopeKind, name: str, node: cst.CSTNode) -> Scope:
        scope = Scope(
            kind=kind,
            name=name,
            node=node,
            parent=self.scope,
            order=self.order,
            loop=self._loops[0] if self._loops else None,
            branch=self._branch,
        )
        if self.scope is not None:
            self.scope.children.append(scope)
        self.all_scopes.append(scope)
        self.scope_of_node[id(node)] = scope
        return scope

    def _in_scope(self, scope: Scope, body: Sequence[Optional[cst.CSTNode]]) -> None:
        saved = (self.scope, self._branch, self._loops)
        self.scope, self._branch, self._loops = scope, (), ()
        self._walk(body)
        self.scope, self._branch, self._loops = saved

    def _bind(self, name: str, kind: BindingKind, node: cst.CSTNode, **extra) -> Binding:
        assert self.scope is not None
        binding = Binding(
            name=name,
            kind=kind,
            node=node,
            order=self.order,
            branch=self._branch,
            in_loop=bool(self._loops),
            loop=self._loops[0] if self._loops else None,
            **extra,
        )
        self.scope.add_binding(binding)
        return binding

    def _effect(self, kind: EffectKind, root: Optional[str], path: tuple[str, ...], node: cst.CSTNode, **extra) -> None:
        assert self.scope is not None
        self.scope.effects.append(
            Effect(
                kind=kind,
                root=root,
                path=path,
                node=node,
                order=self.order,
                in_loop=bool(self._loops),
                loop=self._loops[0] if self._loops else None,
                branch=self._branch,
                **extra,
            )
        )

    # -- stores -----------------------------------------------------------------------------------

    def _store(
        self,
        target: Target,
        kind: BindingKind,
        value: Optional[cst.BaseExpression] = None,
        unpacked: Optional[tuple[cst.BaseExpression, tuple[int, ...]]] = None,
    ) -> None:
        """Record what assigning to `target` binds or mutates; its sub-expressions are walked after."""
        if isinstance(target, cst.Name):
            self._not_a_read.add(id(target))
            self._bind(target.value, kind, target, value=value, unpacked_from=unpacked)
        elif isinstance(target, (cst.Tuple, cst.List)):
            # `a, b = f()`: each name holds one element of the value, known while no `*rest` shifts them.
            fixed = not any(isinstance(e, cst.StarredElement) for e in target.elements)
            if value is not None and fixed:
                unpacked = (value, ())
            for index, element in enumerate(target.elements):
                inner = (unpacked[0], (*unpacked[1], index)) if unpacked is not None and fixed else None
                self._store(element.value, kind, unpacked=inner)
        elif isinstance(target, cst.StarredElement):
            self._store(target.value, kind)
        elif isinstance(target, (cst.Attribute, cst.Subscript)):
            root, path, chain = attribute_chain(target)
            self._not_a_read.update(id(n) for n in chain)
            effect = EffectKind.ATTR_STORE if isinstance(target, cst.Attribute) else EffectKind.ITEM_STORE
            detail = "del" if kind is BindingKind.DELETION else ("augmented" if kind is BindingKind.AUGMENTED else "")
            if isinstance(target, cst.Subscript) and _is_ref_update(target):
                detail = "ref"  # `ref[...] = v`: a JAX Ref / hijax Variable update, carried out of the trace
            self._effect(effect, root.value if root else None, path, target, detail=detail)

    # -- scopes -----------------------------------------------------------------------------------

    def visit_Module(self, node: cst.Module) -> bool:
        self.module_scope = self._open_scope(ScopeKind.MODULE, "<module>", node)
        self._in_scope(self.module_scope, node.body)
        return False

    def _walk_parameters(self, params: cst.Parameters) -> list[cst.Param]:
        everything = named_parameters(params)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                everything.append(star)
        # Defaults run in the enclosing scope when the def is executed.
        self._walk(p.default for p in everything)
        return everything

    def _bind_parameters(self, scope: Scope, params: list[cst.Param], packed: cst.Parameters) -> None:
        for star in (packed.star_arg, packed.star_kwarg):
            if isinstance(star, cst.Param):
                scope.packed_params.add(star.name.value)
        for param in params:
            scope.params.append(param.name.value)
            if param.annotation is not None:
                scope.param_annotations[param.name.value] = param.annotation.annotation
            if param.default is not None:
                scope.param_defaults[param.name.value] = param.default
            scope.add_binding(
                Binding(param.name.value, BindingKind.ARGUMENT, param.name, self.order, (), False)
            )

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._walk(d.decorator for d in node.decorators)
        params = self._walk_parameters(node.params)
        scope = self._open_scope(ScopeKind.FUNCTION, node.name.value, node)
        scope.decorators = list(node.decorators)
        self._bind(node.name.value, BindingKind.FUNCTION, node, scope=scope)
        self._bind_parameters(scope, params, node.params)
        self._in_scope(scope, [node.body])
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        params = self._walk_parameters(node.params)
        scope = self._open_scope(ScopeKind.LAMBDA, "<lambda>", node)
        self._bind_parameters(scope, params, node.params)
        self._in_scope(scope, [node.body])
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._walk(d.decorator for d in node.decorators)
        self._walk(arg.value for arg in (*node.bases, *node.keywords))
        scope = self._open_scope(ScopeKind.CLASS, node.name.value, node)
        scope.decorators = list(node.decorators)
        self._bind(node.name.value, BindingKind.CLASS, node, scope=scope)
        self._in_scope(scope, [node.body])
        return False

    def _comprehension(self, node: cst.BaseComp, parts: Sequence[cst.CSTNode]) -> bool:
        first_iterable = node.for_in.iter  # evaluated in the enclosing scope
        self._walk([first_iterable])
        scope = self._open_scope(ScopeKind.COMPREHENSION, "<comprehension>", node)
        saved = (self.scope, self._branch, self._loops)
        self.scope, self._branch, self._loops = scope, (), ()
        for_in: Optional[cst.CompFor] = node.for_in
        while for_in is not None:
            self._store(for_in.target, BindingKind.OTHER)
            self._walk([for_in.target])
            if for_in is not node.for_in:
                self._walk([for_in.iter])
            self._walk(condition.test for condition in for_in.ifs)
            for_in = for_in.inner_for_in
        self._walk(parts)
        self.scope, self._branch, self._loops = saved
        return False

    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return self._comprehension(node, [node.elt])

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return self._comprehension(node, [node.elt])

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return self._comprehension(node, [node.elt])

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return self._comprehension(node, [node.key, node.value])

    # -- statements that bind ---------------------------------------------------------------------

    def visit_Assign(self, node: cst.Assign) -> bool:
        self._walk([node.value])
        for target in node.targets:
            self._store(target.target, BindingKind.ASSIGNMENT, node.value)
            self._walk([target.target])
        return False

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        if node.value is None:
            return False  # a bare annotation binds nothing at run time
        self._walk([node.value])
        self._store(node.target, BindingKind.ASSIGNMENT, node.value)
        self._walk([node.target])
        return False

    def visit_AugAssign(self, node: cst.AugAssign) -> bool:
        self._walk([node.value])
        if isinstance(node.target, cst.Name):
            # `n += 1` reads n before rebinding it.
            self._effect(EffectKind.READ, node.target.value, (), node.target)
        self._store(node.target, BindingKind.AUGMENTED)
        self._walk([node.target])
        return False

    def visit_Del(self, node: cst.Del) -> bool:
        self._store(node.target, BindingKind.DELETION)
        self._walk([node.target])
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> bool:
        self._walk([node.value])
        self._store(node.target, BindingKind.OTHER, node.value)
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            dotted = dotted_name(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name.value, BindingKind.IMPORT, alias, qualified=dotted, imported=(0, dotted, None))
            else:
                top = dotted.split(".")[0]
                self._bind(top, BindingKind.IMPORT, alias, qualified=top, imported=(0, top, None))
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if isinstance(node.names, cst.ImportStar):
            return False
        module = dotted_name(node.module) if node.module is not None else ""
        level = len(node.relative)
        for alias in node.names:
            name = dotted_name(alias.name)
            bound = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            qualified = None if level else f"{module}.{name}"
            self._bind(bound, BindingKind.IMPORT, alias, qualified=qualified, imported=(level, module, name))
        return False

    def visit_Return(self, node: cst.Return) -> None:
        assert self.scope is not None
        value = node.value
        self.scope.returned_values.append(value)
        elements = [e.value for e in value.elements] if isinstance(value, (cst.Tuple, cst.List)) else [value]
        self.scope.returned_names.update(e.value for e in elements if isinstance(e, cst.Name))

    def visit_Global(self, node: cst.Global) -> bool:
        assert self.scope is not None
        self.scope.global_names.update(item.name.value for item in node.names)
        return False

    def visit_Nonlocal(self, node: cst.Nonlocal) -> bool:
        assert self.scope is not None
        self.scope.nonlocal_names.update(item.name.value for item in node.names)
        return False

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self._store(node.name, BindingKind.OTHER)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self._store(node.name, BindingKind.OTHER)

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self._store(node.rest, BindingKind.OTHER)

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> None:
        self._not_a_read.add(id(node.key))

    # -- control flow: which arm and whether in a loop --------------------------------------------

    def _arm(self, statement: cst.CSTNode, arm: int, nodes: Sequence[Optional[cst.CSTNode]]) -> None:
        saved = self._branch
        self._branch = (*saved, (id(statement), arm))
        self._walk(nodes)
        self._branch = saved

    def _loop_body(self, loop: cst.CSTNode, nodes: Sequence[Optional[cst.CSTNode]]) -> None:
        saved = self._loops
        self._loops = (*saved, id(loop))
        self._walk(nodes)
        self._loops = saved
        self.loop_ends[id(loop)] = self.order

    def visit_If(self, node: cst.If) -> bool:
        self._walk([node.test])
        self._arm(node, 0, [node.body])
        self._arm(node, 1, [node.orelse])
        return False

    def visit_Try(self, node: cst.Try) -> bool:
        self.try_statements.add(id(node))
        self._arm(node, 0, [node.body, node.orelse])
        for index, handler in enumerate(node.handlers, start=1):
            self._arm(node, index, [handler])
        self._walk([node.finalbody])
        return False

    def visit_TryStar(self, node: cst.TryStar) -> bool:
        self.try_statements.add(id(node))
        self._arm(node, 0, [node.body, node.orelse])
        for index, handler in enumerate(node.handlers, start=1):
            self._arm(node, index, [handler])
        self._walk([node.finalbody])
        return False

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> bool:
        self._walk([node.type])
        if node.name is not None:
            self._store(node.name.name, BindingKind.OTHER)
        self._walk([node.body])
        return False

    def visit_For(self, node: cst.For) -> bool:
        self._walk([node.iter])
        saved = self._loops
        self._loops = (*saved, id(node))
        self._store(node.target, BindingKind.LOOP_TARGET)
        self._walk([node.target, node.body])
        self._loops = saved
        self.loop_ends[id(node)] = self.order
        self._walk([node.orelse])
        return False

    def visit_While(self, node: cst.While) -> bool:
        self._loop_body(node, [node.test, node.body])
        self._walk([node.orelse])
        return False

    def visit_With(self, node: cst.With) -> bool:
        for item in node.items:
            self._walk([item.item])
            if item.asname is not None:
                self._store(item.asname.name, BindingKind.OTHER)
                self._walk([item.asname.name])
        self._walk([node.body])
        return False

    # -- expressions ------------------------------------------------------------------------------

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._not_a_read.add(id(node.keyword))
            if node.keyword.value == "hijax" and isinstance(node.value, cst.Name) and node.value.value == "True":
                self.turns_on_hijax = True

    def visit_Expr(self, node: cst.Expr) -> None:
        if isinstance(node.value, cst.Call):
            self._statement_calls.add(id(node.value))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Call):
            self.applied_calls.add(id(func))
        root, path, _ = attribute_chain(func)
        self._effect(EffectKind.CALL, root.value if root else None, path, node, call=node)
        if isinstance(func, cst.Attribute) and self._mutates_receiver(node, func.attr.value):
            receiver_root, receiver_path, chain = attribute_chain(func.value)
            if receiver_root is not None:
                self._not_a_read.update(id(n) for n in chain)
                self._effect(
                    EffectKind.MUTATOR_CALL, receiver_root.value, receiver_path, node, detail=func.attr.value, call=node
                )
        elif _is_object_setattr(func) and node.args:
            # `object.__setattr__(self, "n", v)`: how frozen dataclasses and equinox modules set fields.
            target_root, target_path, _ = attribute_chain(node.args[0].value)
            if target_root is not None:
                attr = _string_value(node.args[1].value) if len(node.args) > 1 else None
                self._effect(
                    EffectKind.ATTR_STORE, target_root.value, target_path + ((attr,) if attr else ("?",)), node,
                    detail="setattr",
                )
        elif isinstance(func, cst.Name) and node.args:
            first = node.args[0].value
            if func.value in ("setattr", "delattr"):
                target_root, target_path, chain = attribute_chain(first)
                if target_root is not None:
                    attr = _string_value(node.args[1].value) if len(node.args) > 1 else None
                    self._effect(
                        EffectKind.ATTR_STORE,
                        target_root.value,
                        target_path + ((attr,) if attr else ("?",)),
                        node,
                        detail=func.value,
                    )
            elif func.value == "next":
                target_root, target_path, chain = attribute_chain(first)
                if target_root is not None:
                    self._not_a_read.update(id(n) for n in chain)
                    self._effect(EffectKind.NEXT, target_root.value, target_path, node)

    def _mutates_receiver(self, call: cst.Call, method: str) -> bool:
        if method in MUTATING_METHODS_WITH_RESULT:
            return True
        # `opt.update(grads, state)` returns something: a pure API (optax), not `dict.update`.
        return method in MUTATING_METHODS and id(call) in self._statement_calls

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._not_a_read.add(id(node.attr))
        if id(node) in self._not_a_read:
            return
        value = node.value
        if node.attr.value in METADATA_ATTRIBUTES:
            # `x.shape` / `self.w.shape`: record the read of the owner as a metadata read.
            root, path, chain = attribute_chain(value)
            if root is not None and all(isinstance(n, (cst.Attribute, cst.Name)) for n in chain):
                self._not_a_read.update(id(n) for n in chain)
                self._effect(EffectKind.READ, root.value, path, node, detail="metadata")
            return
        if isinstance(value, cst.Name) and id(value) not in self._not_a_read:
            self._not_a_read.add(id(value))
            self._effect(EffectKind.READ, value.value, (node.attr.value,), node)

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self._not_a_read:
            self._effect(EffectKind.READ, node.value, (), node)


def named_parameters(params: cst.Parameters) -> list[cst.Param]:
    """The parameters of a def or lambda that have a name of their own (not `*args`, `**kwargs`)."""
    return [*params.posonly_params, *params.params, *params.kwonly_params]


def _is_ref_update(target: cst.Subscript) -> bool:
    """`ref[...] = v`, or any store into a name ending in `_ref` (Pallas kernels' convention for their
    refs: `o_scratch_ref[:, k] = v`): a Ref update, not a Python container's."""
    elements = target.slice
    if isinstance(target.value, cst.Name) and target.value.value.endswith("_ref"):
        return True
    return (
        len(elements) == 1
        and isinstance(elements[0].slice, cst.Index)
        and isinstance(elements[0].slice.value, cst.Ellipsis)
    )


def _is_object_setattr(func: cst.BaseExpression) -> bool:
    return (
        isinstance(func, cst.Attribute)
        and func.attr.value in ("__setattr__", "__delattr__")
        and isinstance(func.value, cst.Name)
        and func.value.value == "object"
    )


def _string_value(node: cst.BaseExpression) -> Optional[str]:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


_NO_HANDLER = object()
_HANDLERS: dict[type, object] = {}


def collect(module: cst.Module) -> ScopeCollector:
    collector = ScopeCollector()
    collector.visit(module)
    return collector
