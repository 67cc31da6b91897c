from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import libcst as cst

from ..analysis.cache_life import Reach
from ..analysis.reachability import TraceContext
from ..analysis.resolution import Resolved
from ..analysis.scopes import Effect, EffectKind, Scope
from ..analysis.state import Change
from .base import (
    Finding,
    FixAvailability,
    Rule,
    RuleContext,
    first_change,
    if_statements,
    owner_is_traced,
    run_unit,
    traced_effects,
    where_traced,
)

_WRITES = (EffectKind.ATTR_STORE, EffectKind.ITEM_STORE, EffectKind.MUTATOR_CALL)


class ChangingClosure(Rule):
    """
    ## What it does
    Flags traced code that reads or writes a variable of an enclosing function when that variable
    changes after the traced function is made: it is written through `nonlocal`, rebound later in the
    enclosing function (a loop that binds it again counts), or changed in place. A rebinding is
    reported only if the enclosing function's order of execution lets a call go through a cache traced
    before it: not when the jitted closure is first called after the change, when the change is in the
    other arm of the `if` that makes the closure, when nothing calls the closure again before the
    enclosing function returns (its cache dies with the frame), or when the closure is made by an
    inner function that drops it when it returns and the change is made by the code around that
    function, after it ran (the next run makes a new closure, traced afresh). A closure that is
    returned is called later, so a change after one call inside the function is reported. A
    rebinding that only runs again the code that made the value, with the same inputs
    (`n_batches, order = init()` at every epoch), is left to the opt-in [JPL104](JPL104.md).

    ## Why is this bad?
    A closure cell is Python state like a global. The traced function sees its value once, at trace
    time; the compiled program keeps that value, and writes through `nonlocal` happen only once.

    ## Example
    ```python
    import jax

    def make_counter():
        count = 0

        @jax.jit
        def step(x):
            nonlocal count
            count += 1
            return x + count

        return step
    ```

    ## Use instead
    ```python
    import jax

    @jax.jit
    def step(x, count):
        count = count + 1
        return x + count, count
    ```

    ## Fix safety
    Returning the new value changes the function's signature; applied only as a diff.
    """

    code = "JPL103"
    name = "changing-closure"
    summary = "traced code reads or writes a closure variable that changes after tracing"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL103.md).
    CONFIRM_EVIDENCE = (
        "Successive calls of the returned `step(0.0)` give 1.0, 2.0, 3.0 eagerly and 1.0, 1.0, 1.0 jitted: "
        "the closure's count was read and written once, at trace time."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Pass the closure variable in (and return its new value)"
    ADVICE = "pass the closure variable as an argument (and return its new value)"
    FIX_BUILDER = "state_return.build_closure_access"
    INVALID = [
        "import jax\ndef make():\n    scale = 1.0\n    @jax.jit\n    def f(x):\n        return x * scale  # expect: JPL103\n    f(0.0)\n    scale = 2.0\n    return f\n",
        "import jax\ndef main():\n    @jax.jit\n    def f(x):\n        return x * n  # expect: JPL103\n    for n in range(1, 4):\n        print(f(1.0))\n",
    ]
    # `fix` on an example, and what it writes (tests/test_rule_registry.py runs each).
    FIX_EXAMPLES = [
        (
            'import jax\ndef main():\n    @jax.jit\n    def f(x):\n        return x * n\n    for n in range(1, 4):\n        print(f(1.0))\n',
            'import jax\ndef main():\n    @jax.jit\n    def f(x, n):\n        return x * n\n    for n in range(1, 4):\n        print(f(1.0, n))\n',
        ),
    ]
    VALID = [
        "import jax\ndef make(scale):\n    scale = scale * 2\n    @jax.jit\n    def f(x):\n        return x * scale\n    return f\n",
        # Rebound before anything calls `f`: the trace sees 2.0, as eager code does.
        "import jax\ndef make():\n    scale = 1.0\n    @jax.jit\n    def f(x):\n        return x * scale\n    scale = 2.0\n    return f\n",
    ]

    @classmethod
    def group_key(cls, finding: Finding) -> tuple:
        access = "read" if finding.variant == "reads" else "write"
        return (cls.code, finding.state, access)

    def check(self, context: RuleContext) -> Iterator[Finding]:
        seen: set[int] = set()
        for scope, trace in context.traced.items():
            for name in sorted(scope.nonlocal_names & scope.bindings.keys()):
                for binding in scope.bindings[name]:
                    seen.add(id(binding.node))
                    yield self._finding(binding.node, scope, trace, name, "writes", None)
        for read in stale_closure_reads(context):
            if read.late:  # otherwise only the code that made it runs again: JPL104, when selected
                yield self._finding(read.effect.node, read.scope, read.trace, read.name, "reads", list(read.late))
        for scope, trace, effect in traced_effects(context, *_WRITES):
            if effect.root is None or id(effect.node) in seen or not context.state.is_mutation(scope, effect):
                continue
            resolved = _enclosing_variable(context, scope, trace, effect.root)
            if resolved is None:
                continue
            if _overwritten_scratch(trace, resolved, effect) or _bounded_fill(trace, scope, effect.branch, effect.root):
                continue  # in a loop body made per call: the same end state traced or eager
            yield self._finding(effect.node, scope, trace, effect.root, "mutates", None)

    def _finding(self, node, scope, trace, name, verb, changes) -> Finding:
        def render(place_of) -> str:
            if verb == "reads":
                because = f", which is {first_change(changes, place_of)}" if changes else ""
                why = "the trace captures it once and the compiled function never sees later changes"
            else:
                because = ""
                why = f"this runs once, while tracing, with tracers, and later {run_unit(trace)}s do not repeat it"
            return (
                f"{where_traced(scope, trace, place_of)} {verb} closure variable `{name}`{because}; {why}. "
                f"Pass `{name}` in as an argument and return its new value"
            )

        return self.finding(node, scope, trace, name, render, variant=verb)


@dataclass(frozen=True)
class StaleClosureRead:
    """A read, in traced code, of a variable of an enclosing function that changes after a trace may
    have seen it."""

    scope: Scope
    trace: TraceContext
    effect: Effect
    name: str
    owner: Scope  # the function whose variable it is
    changes: tuple[Change, ...]  # those a call through a cache traced before them can see
    # Those of `changes` that are not the code that made the value run again (analysis/equal_values.py):
    # JPL103's; when there are none, the read is JPL104's.
    late: tuple[Change, ...] = ()


def stale_closure_reads(context: RuleContext) -> list[StaleClosureRead]:
    """Shared by JPL103 and JPL104, found once per module."""
    return context.once("stale-closure-reads", lambda: list(_stale_closure_reads(context)))


def _stale_closure_reads(context: RuleContext) -> Iterator[StaleClosureRead]:
    for scope, trace, effect in traced_effects(context, EffectKind.READ):
        if effect.root is None or effect.detail == "metadata":
            continue
        resolved = _enclosing_variable(context, scope, trace, effect.root)
        if resolved is None:
            continue
        if effect.root in scope.nonlocal_names:
            continue  # the writes are reported; the read of the same cell adds nothing
        made = _outermost_untraced(context, scope, trace)
        changes = [
            c
            for c in context.state.changes_of_closure(resolved.scope, effect.root, made)
            if context.change_reaches(trace, c, scope)
        ]
        looped = context.state.closure_loop_binding(resolved.scope, effect.root)
        if looped is not None and context.reach(trace, looped, scope) is Reach.SEEN:
            changes.append(looped)  # bound by a loop that runs again after a call traced it
        if not changes or all(_bounded_fill(trace, c.scope, c.branch, effect.root) for c in changes):
            continue  # only guarded fills change it: they stop at the same point, as eagerly
        equal = context.equal_values
        late = tuple(c for c in changes if not equal.rebinds_to_equal(resolved.scope, effect.root, c.node))
        yield StaleClosureRead(scope, trace, effect, effect.root, resolved.scope, tuple(changes), late)


def _enclosing_variable(context: RuleContext, scope: Scope, trace: TraceContext, name: str) -> Optional[Resolved]:
    """The variable `name` stands for in traced `scope` when it belongs to an enclosing function that
    is not traced itself (not a global, a local, `self`, or a cell living only inside the trace)."""
    resolver = context.resolver
    resolved = resolver.resolve(scope, name)
    if resolved is None or resolved.is_global or resolved.scope is scope:
        return None
    if resolver.self_method(scope, name) is not None or owner_is_traced(context, resolved, trace):
        return None
    return resolved


def _overwritten_scratch(trace, resolved, effect) -> bool:
    """`locations[axis] = i` in a loop body made per call, on a list its maker never reads after the
    loop: every iteration overwrites the slot before using it, eagerly as in the one traced run, and
    nothing outside sees the leftover. (An append accumulates; a read after the loop sees the count.)"""
    if not trace.site.fresh_per_call or effect.kind is not EffectKind.ITEM_STORE:
        return False
    owner = resolved.scope
    after = trace.site.order if trace.site.scope is owner else -1
    return not any(
        e.kind is EffectKind.READ and e.root == resolved.name and e.order > after for e in owner.effects
    )


def _bounded_fill(trace, scope, branch, name) -> bool:
    """`if len(shapes) < n: shapes.append(...)` in a loop body made per call: a fill guarded by a test
    of the container itself stops at the same point whether the body runs once (traced) or at every
    iteration (eager), as numpyro's scan records its carry shapes."""
    if not trace.site.fresh_per_call or not branch:
        return False
    tests = {id(statement): statement.test for statement in if_statements(scope.node)}
    for statement, _arm in branch:
        test = tests.get(statement)
        if test is not None and _reads_name(test, name):
            return True
    return False


def _reads_name(node: cst.CSTNode, name: str) -> bool:
    if isinstance(node, cst.Name):
        return node.value == name
    if isinstance(node, cst.Attribute):
        return _reads_name(node.value, name)
    return any(_reads_name(child, name) for child in node.children)


def _outermost_untraced(context: RuleContext, scope, trace):
    """The closure is made when the outermost traced function around `scope` is defined."""
    made = scope
    parent = scope.parent
    while parent is not None and context.traced.get(parent) is not None and context.traced[parent].site is trace.site:
        made = parent
        parent = parent.parent
    return made
