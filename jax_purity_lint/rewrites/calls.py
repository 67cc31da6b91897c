"""Editing one call of a rewritten function: pass the new arguments, and take the new state it returns.

Taking the state needs a statement: `v = f(x)` becomes `v, s = f(x, s)`; a call inside a larger
expression is hoisted just before its statement (only when nothing evaluated before it has side
effects, so the order of effects is unchanged); a call inside a list comprehension turns the
comprehension into the equivalent `for` loop. Anything else is reported as a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import libcst as cst

from .edits import Edits, Lookup, keyword_arg, tuple_of
from .names import NamePool
from .view import COMPREHENSIONS, ModuleView, walk

NewArgument = tuple[Optional[str], cst.BaseExpression]  # (keyword or None, value)


def append_arguments(call: cst.Call, arguments: Sequence[NewArgument]) -> cst.Call:
    new = [keyword_arg(keyword, value) if keyword else cst.Arg(value) for keyword, value in arguments]
    args = list(call.args)
    if args and isinstance(args[-1].comma, cst.Comma):
        # A trailing comma (often a multi-line call): keep the layout, the new arguments follow it.
        last_comma = args[-1].comma
        new = [arg.with_changes(comma=last_comma) for arg in new]
    return call.with_changes(args=[*args, *new])


def call_uses_keywords(call: cst.Call) -> bool:
    return any(arg.keyword is not None or arg.star for arg in call.args)


# -- results: how the value of a rewritten call is taken apart ----------------------------------------------


@dataclass
class ResultShape:
    """What a rewritten call returns, and how to put it back together for its old place.

    ``make(temp)`` gets a function producing fresh temporaries and returns (the assignment target,
    the expression that stands where the call was, or None when the value was discarded anyway).
    """

    make: Callable[[Callable[[str], str]], tuple[cst.BaseAssignTargetExpression, Optional[cst.BaseExpression]]]
    discards_output: Callable[[], cst.BaseAssignTargetExpression]  # target when the value is unused


def output_and_states(targets: Sequence[cst.BaseAssignTargetExpression], has_output: bool, discard: str) -> ResultShape:
    """`(out, *states)` when the function still has its own output, else just the states."""

    def make(temp):
        if not has_output:
            return _target(targets), cst.Name("None")
        value = temp("value")
        return tuple_of([cst.Name(value), *targets]), cst.Name(value)

    def discards():
        if not has_output:
            return _target(targets)
        return tuple_of([cst.Name(discard), *targets])

    return ResultShape(make, discards)


def _target(targets: Sequence[cst.BaseAssignTargetExpression]) -> cst.BaseAssignTargetExpression:
    return targets[0] if len(targets) == 1 else tuple_of(targets)


# -- the threading itself -------------------------------------------------------------------------------------


@dataclass
class OutputThreader:
    """Turns calls whose results changed shape into statements that unpack them. One per rewrite."""

    view: ModuleView
    edits: Edits
    pool: NamePool
    problems: list[str] = field(default_factory=list)
    _restructured: set[int] = field(default_factory=set)  # statements already rebuilt by this rewrite
    _temporaries: dict[tuple[int, str], str] = field(default_factory=dict)

    def temporary(self, region: cst.CSTNode, base: str) -> str:
        """A name for a value used right after it is assigned: one per function is enough."""
        key = (id(region), base)
        if key not in self._temporaries:
            self._temporaries[key] = self.pool.fresh(region, base)
        return self._temporaries[key]

    def thread(self, call: cst.Call, shape: ResultShape) -> bool:
        """Edit the statement around ``call``; False (and a problem) when that cannot be done safely."""
        view = self.view
        line = view.statement_of(call)
        if line is None or view.body_of(line) is None:
            return self._problem(call, "it is not inside a plain statement")
        if id(line) in self._restructured:
            return self._problem(call, "another call in the same statement is rewritten too")
        region = view.enclosing_function(call) or view.module
        if isinstance(line, cst.SimpleStatementLine):
            small = view.small_statement_of(call)
            if small is None or small is not line.body[0]:
                return self._problem(call, "it shares its line with other statements")
            if isinstance(small, cst.Expr) and small.value is call:
                return self._whole_statement(line, small, call, shape, region, discarded=True)
            if isinstance(small, cst.Assign) and small.value is call and len(small.targets) == 1:
                return self._assignment(line, small, call, shape)
        comprehension = self._comprehension_around(call, line)
        if comprehension is not None:
            return self._unroll(line, comprehension, call, shape, region)
        if not self._hoistable(call, line):
            return self._problem(call, "something with side effects is evaluated before it in its statement")
        return self._hoist(line, call, shape, region)

    def _problem(self, call: cst.Call, why: str) -> bool:
        where = f"{self.view.place(call)}: cannot take the returned state from `{_short(self.view, call)}`"
        self.problems.append(f"{where}: {why}")
        return False

    # -- the call is the whole statement, or the whole right-hand side -------------------------------------------

    def _whole_statement(self, line, small, call, shape: ResultShape, region, discarded: bool) -> bool:
        self._restructured.add(id(line))
        discard_name = "_" if not self._reads_underscore(region) else self.pool.fresh(region, "unused")
        target = _rename_discard(shape.discards_output(), discard_name)
        self.edits.replace_statement(
            line, lambda updated, lookup: [updated.with_changes(body=[_assignment(target, lookup(call))])]
        )
        return True

    def _assignment(self, line, small: cst.Assign, call, shape: ResultShape) -> bool:
        self._restructured.add(id(line))
        region = self.view.enclosing_function(call) or self.view.module
        target, replacement = shape.make(lambda base: self.temporary(region, base))
        original_target = small.targets[0].target
        if replacement is not None and isinstance(replacement, cst.Name) and isinstance(target, cst.Tuple):
            # `v = f(x)` -> `v, s = f(x, s)`: the temporary is the old target itself.
            elements = [
                cst.Element(_paren(original_target)) if _is_name(e.value, replacement.value) else e
                for e in target.elements
            ]
            new_target = target.with_changes(elements=elements)

            def rebuild(updated, lookup):
                return [updated.with_changes(body=[_assignment(new_target, lookup(call))])]

            self.edits.replace_statement(line, rebuild)
            return True

        def rebuild_two(updated, lookup):
            return [
                updated.with_changes(body=[_assignment(target, lookup(call))]),
                cst.SimpleStatementLine([_assignment(original_target, replacement or cst.Name("None"))]),
            ]

        self.edits.replace_statement(line, rebuild_two)
        return True

    # -- the call is part of a larger expression ------------------------------------------------------------------

    def _hoist(self, line, call, shape: ResultShape, region) -> bool:
        self._restructured.add(id(line))
        target, replacement = shape.make(lambda base: self.temporary(region, base))
        self.edits.insert_before(line, lambda lookup: [_assign_line(target, lookup(call))])
        self._put_back(call, replacement or cst.Name("None"))
        return True

    def _put_back(self, call: cst.Call, replacement: cst.BaseExpression) -> None:
        """`(carry, ys)[0]` is just `carry`: a constant index into the rebuilt tuple takes the element."""
        parent = self.view.parent(call)
        if isinstance(replacement, cst.Tuple) and isinstance(parent, cst.Subscript) and parent.value is call:
            index = _constant_integer(parent)
            if index is not None and 0 <= index < len(replacement.elements):
                self.edits.substitute(parent, replacement.elements[index].value)
                return
        self.edits.substitute(call, replacement)

    def _reads_underscore(self, region) -> bool:
        return any(isinstance(n, cst.Name) and n.value == "_" and self.view.is_load(n) for n in walk(region))

    def _hoistable(self, node: cst.CSTNode, line: cst.CSTNode) -> bool:
        """``node`` is always evaluated, and first among the things with side effects in its statement."""
        child = self._expression_prefix_is_pure(node, stop_types=(cst.BaseSmallStatement, cst.BaseCompoundStatement))
        if child is None:
            return False
        holder = self.view.parent(child)
        if isinstance(holder, cst.AugAssign):
            return child is holder.value and _pure(holder.target)
        if isinstance(holder, cst.Assign):
            return child is holder.value or _pure(holder.value)
        if isinstance(holder, (cst.Return, cst.Expr)):
            return True
        if isinstance(holder, cst.If):
            is_elif = isinstance(self.view.parent(holder), cst.If)
            return child is holder.test and not is_elif
        if isinstance(holder, cst.For):
            return child is holder.iter
        return False

    def _expression_prefix_is_pure(self, node: cst.CSTNode, stop_types=(), stop: Optional[cst.CSTNode] = None):
        """Walk up from ``node`` through expressions; return the last expression before the statement (or
        ``stop``), or None when ``node`` may be skipped or follows something with side effects."""
        child = node
        for ancestor in self.view.ancestors(node):
            if ancestor is stop or isinstance(ancestor, stop_types):
                return child
            if isinstance(ancestor, (cst.Lambda, *COMPREHENSIONS)):
                return None
            if isinstance(ancestor, cst.BooleanOperation) and child is ancestor.right:
                return None
            if isinstance(ancestor, cst.IfExp) and child is not ancestor.test:
                return None
            if any(not _pure(sibling) for sibling in _evaluated_before(ancestor, child)):
                return None
            child = ancestor
        return None

    # -- the call is inside a list comprehension ----------------------------------------------------------------

    def _comprehension_around(self, call, line) -> Optional[cst.ListComp]:
        for ancestor in self.view.ancestors(call):
            if isinstance(ancestor, cst.ListComp):
                return ancestor
            if isinstance(ancestor, (cst.Lambda, cst.SetComp, cst.DictComp, cst.GeneratorExp)) or ancestor is line:
                return None
        return None

    def _unroll(self, line, comprehension: cst.ListComp, call, shape: ResultShape, region) -> bool:
        view = self.view
        clause = comprehension.for_in
        if clause.inner_for_in is not None or clause.asynchronous is not None:
            return self._problem(call, "the comprehension has several `for` clauses")
        if not self._within(call, comprehension.elt):
            return self._problem(call, "it is in the comprehension's condition")
        if not self._hoistable_within(call, comprehension.elt):
            return self._problem(call, "something with side effects is evaluated before it in the comprehension")
        if self._loop_names_clash(comprehension, region):
            return self._problem(call, "the comprehension's loop variable is used elsewhere in the function")
        small = view.small_statement_of(comprehension)
        whole_value = (
            isinstance(line, cst.SimpleStatementLine) and isinstance(small, cst.Assign) and small.value is comprehension
            and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name) and small is line.body[0]
        )
        if not whole_value and not self._hoistable(comprehension, line):
            return self._problem(call, "something with side effects is evaluated before the comprehension")
        self._restructured.add(id(line))
        list_name = small.targets[0].target.value if whole_value else self.pool.fresh(region, "values")
        target, replacement = shape.make(lambda base: self.temporary(region, base))
        self.edits.substitute(call, replacement or cst.Name("None"))

        def loop(lookup: Lookup) -> list[cst.BaseStatement]:
            element = (replacement or cst.Name("None")) if comprehension.elt is call else lookup(comprehension.elt)
            body: list[cst.BaseStatement] = [
                _assign_line(target, lookup(call)),
                cst.SimpleStatementLine([cst.Expr(cst.Call(
                    cst.Attribute(cst.Name(list_name), cst.Name("append")), [cst.Arg(element)]))]),
            ]
            for condition in reversed(clause.ifs):
                body = [cst.If(test=lookup(condition.test), body=cst.IndentedBlock(body))]
            return [
                _assign_line(cst.Name(list_name), cst.List([])),
                cst.For(target=lookup(clause.target), iter=lookup(clause.iter), body=cst.IndentedBlock(body)),
            ]

        if whole_value:
            self.edits.replace_statement(line, lambda updated, lookup: _keep_comments(updated, loop(lookup)))
        else:
            self.edits.insert_before(line, loop)
            self.edits.substitute(comprehension, cst.Name(list_name))
        return True

    def _within(self, node, container) -> bool:
        return node is container or any(a is container for a in self.view.ancestors(node))

    def _hoistable_within(self, call, elt) -> bool:
        return call is elt or self._expression_prefix_is_pure(call, stop=elt) is not None

    def _loop_names_clash(self, comprehension: cst.ListComp, region) -> bool:
        bound = {n.value for n in walk(comprehension.for_in.target) if isinstance(n, cst.Name)}
        inside = {id(n) for n in walk(comprehension)}
        for node in walk(region):
            if isinstance(node, cst.Name) and node.value in bound and id(node) not in inside and node.value != "_":
                if not self._is_other_loop_target(node):
                    return True
        return False

    def _is_other_loop_target(self, name: cst.Name) -> bool:
        """`for i in ...` elsewhere binds the same name afresh: no clash (its old value is never read)."""
        for ancestor in self.view.ancestors(name):
            if isinstance(ancestor, (cst.For, cst.CompFor)):
                return any(n is name for n in walk(ancestor.target))
            if isinstance(ancestor, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                return False
        return False


# -- helpers ---------------------------------------------------------------------------------------------------


def _assignment(target: cst.BaseAssignTargetExpression, value: cst.BaseExpression) -> cst.Assign:
    return cst.Assign([cst.AssignTarget(target)], value)


def _assign_line(target: cst.BaseAssignTargetExpression, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(target)], value)])


def _constant_integer(subscript: cst.Subscript) -> Optional[int]:
    if len(subscript.slice) == 1 and isinstance(subscript.slice[0].slice, cst.Index):
        value = subscript.slice[0].slice.value
        if isinstance(value, cst.Integer):
            return int(value.value)
    return None


def _keep_comments(original: cst.SimpleStatementLine, statements: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """The first new statement takes over the comments and blank lines above the one it replaces, and the
    comment that ended its line."""
    first = statements[0].with_changes(leading_lines=original.leading_lines)
    if isinstance(first, cst.SimpleStatementLine):
        first = first.with_changes(trailing_whitespace=original.trailing_whitespace)
    return [first, *statements[1:]]


def _rename_discard(target: cst.BaseAssignTargetExpression, discard: str) -> cst.BaseAssignTargetExpression:
    if isinstance(target, cst.Tuple):
        elements = [e.with_changes(value=cst.Name(discard)) if _is_name(e.value, "_") else e for e in target.elements]
        return target.with_changes(elements=elements)
    return target


def _is_name(node, value: str) -> bool:
    return isinstance(node, cst.Name) and node.value == value


def _paren(target):
    if isinstance(target, cst.Tuple) and not target.lpar:
        return target.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return target


def _pure(node: cst.CSTNode) -> bool:
    """No calls, awaits, yields or walrus assignments: evaluating it cannot change anything."""
    return not any(isinstance(n, (cst.Call, cst.Await, cst.Yield, cst.NamedExpr)) for n in walk(node))


def _evaluated_before(parent: cst.CSTNode, child: cst.CSTNode) -> list[cst.CSTNode]:
    """The children of ``parent`` evaluated before ``child`` (source order, the rule for expressions)."""
    before = []
    for sibling in parent.children:
        if sibling is child:
            return before
        before.append(sibling)
    return before


def _short(view: ModuleView, node: cst.CSTNode) -> str:
    text = " ".join(view.code(node).split())
    return text if len(text) <= 60 else text[:57] + "..."
