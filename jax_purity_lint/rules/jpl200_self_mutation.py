from __future__ import annotations

from typing import Iterator

import libcst as cst

from ..analysis import jax_api
from ..analysis.scopes import BindingKind, EffectKind, Scope
from ..analysis.tree import dotted_name
from ..analysis.sites import SelfMode
from ..analysis.state import describe_effect
from .base import (
    GroupBy,
    Finding,
    FixAvailability,
    Rule,
    RuleContext,
    dotted,
    if_statements,
    self_method,
    traced_effects,
    where_traced,
)

# How `self` must reach the trace for its mutation to be lost (GLOBAL is JPL102, FRESH is harmless).
LOST_SELF_MODES = (SelfMode.FROZEN, SelfMode.STATIC, SelfMode.ARGUMENT)


def self_mutations(context: RuleContext, kinds, *, container: bool):
    """Mutations of `self` (container=False) or of a container held by `self` (container=True)."""
    for scope, trace, effect in traced_effects(context, *kinds):
        if trace.self_mode not in LOST_SELF_MODES or trace.state_aware:
            continue
        if trace.self_mode is SelfMode.ARGUMENT and trace.site.transform.qualified in jax_api.COPIES_ARGUMENTS:
            continue  # `@eqx.filter_jit` on a method: `self` is a copy, eagerly too; the change is lost in both
        method = self_method(context, scope, effect)
        if method is None:
            continue
        holds_container = effect.kind is not EffectKind.ATTR_STORE and len(effect.path) >= 1
        if holds_container == container:
            yield scope, trace, effect, method


class SelfMutation(Rule):
    """
    ## What it does
    Flags traced methods that assign, update or delete an attribute of `self` (`self.n += 1`,
    `setattr(self, ...)`, `object.__setattr__(self, ...)`, `del self.x`, `self.a.b = ...`), whatever
    the class: a flax nnx module whose method is compiled with plain `jax.jit` counts (only `nnx.jit`
    carries nnx state out of the trace). Under equinox's filter transforms a `self` that arrives as an
    argument (`@eqx.filter_jit` on the method) is a copy, eagerly too, so its changes are lost in both
    modes and not reported; a bound method held by reference (`eqx.filter_jit(model.__call__)`) is.

    A method the jitted function calls on one of its own arguments counts too (`step(state)` calling
    `state.bump()`, where `bump` assigns `self.value`): jit rebuilds the argument from its leaves, so
    the method changes a copy and the caller's object is left as it was. The call is followed when the
    parameter's annotation names a class of the module, or when a single class of the module
    registered as a pytree defines the method; `fix` gives advice only there.

    A compiled helper built on first use is not reported: `self._fn = f` under `if self._fn is None:`
    (or `if not hasattr(self, "_fn"):`) where `f` is a function the method makes (a nested def, a
    lambda, `jax.jit(...)`). Eager or traced, the first call stores it and later calls reuse it. A
    value cached that way (`self._offset = x * 0.5`) is still reported: under jit it is a tracer.

    ## Why is this bad?
    `jax.jit(counter.count)` runs `count` once, while tracing: the attribute is updated once, with a
    tracer, and every later call replays the compiled program without touching `self`. The counter
    returns 1, 1, 1 instead of 1, 2, 3; when the new value depends on an argument, the attribute is
    left holding a leaked tracer.

    ## Example
    ```python
    import jax

    class Counter:
        def __init__(self):
            self.n = 0

        def count(self):
            self.n += 1
            return self.n

    counter = Counter()
    fast_count = jax.jit(counter.count)
    ```

    ## Use instead
    ```python
    import jax

    class CounterV2:
        def count(self, n):
            return n + 1, n + 1  # (output, new state)

        def reset(self):
            return 0

    counter = CounterV2()
    state = counter.reset()
    fast_count = jax.jit(counter.count)
    value, state = fast_count(state)
    ```

    ## Fix safety
    The rewrite changes the method's signature and its callers; it is applied only when every
    caller is in the module.
    """

    code = "JPL200"
    name = "self-mutation"
    summary = "a traced method mutates `self`; it happens once, at trace time"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL200.md).
    CONFIRM_EVIDENCE = (
        "The values the jitted method returns: `fast_count()` gives 1, 2, 3 eagerly and 1, 1, 1 jitted, and "
        "afterwards `counter.n` is 3 eagerly but 1 jitted: `self.n += 1` ran once, while tracing."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Keep the state outside the object: `method(self, state, ...) -> (out, new_state)`"
    ADVICE = "keep the state outside the object: `method(self, state, ...) -> (out, new_state)`"
    FIX_BUILDER = "self_state.build_self_state"
    GROUP_BY = GroupBy.OBJECT
    INVALID = [
        "import jax\nclass Counter:\n    def __init__(self):\n        self.n = 0\n    def count(self):\n        self.n += 1  # expect: JPL200\n        return self.n\ncounter = Counter()\nfast = jax.jit(counter.count)\n",
    ]
    # `fix` on an example, and what it writes (tests/test_rule_registry.py runs each).
    FIX_EXAMPLES = [
        (
            'import jax\nclass Counter:\n    def __init__(self):\n        self.n = 0\n    def count(self):\n        self.n += 1\n        return self.n\ncounter = Counter()\nfast = jax.jit(counter.count)\n',
            'import jax\nCounterState = int\n\n\nclass Counter:\n    def init_state(self) -> CounterState:\n        return 0\n    def count(self, n: CounterState):\n        n += 1\n        return n, n\ncounter = Counter()\ncounter_state = counter.init_state()\nfast = jax.jit(counter.count)\n',
        ),
    ]
    VALID = [
        "import jax\nclass CounterV2:\n    def count(self, n):\n        return n + 1, n + 1\ncounter = CounterV2()\nfast = jax.jit(counter.count)\n",
        "class Counter:\n    def __init__(self):\n        self.n = 0\n    def count(self):\n        self.n += 1\n        return self.n\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        kinds = (EffectKind.ATTR_STORE, EffectKind.ITEM_STORE, EffectKind.MUTATOR_CALL)
        lazy: dict[int, set[int]] = {}
        for scope, trace, effect, method in self_mutations(context, kinds, container=False):
            if id(scope) not in lazy:
                lazy[id(scope)] = _lazily_cached_functions(context, scope)
            if id(effect.node) in lazy[id(scope)]:
                continue  # `if self._fn is None: self._fn = jax.jit(...)`: the same helper eagerly, set once
            state = dotted("self", effect.path)
            how = describe_effect(effect)

            def render(place_of, scope=scope, trace=trace, state=state, how=how) -> str:
                if trace.self_mode is SelfMode.ARGUMENT:
                    consequence = (
                        "under jit `self` is a copy rebuilt from the argument's leaves, so the caller's object "
                        "is left as it was"
                    )
                else:
                    consequence = "the update runs once, while tracing, and later calls neither repeat nor see it"
                return (
                    f"{where_traced(scope, trace, place_of)} mutates `{state}` ({how}); {consequence}. Make the "
                    f"state explicit: take it as an argument and return `(output, new_state)`"
                )

            yield self.finding(effect.node, scope, trace, state, render, variant=_variant(trace, method))


def _variant(trace, method: Scope) -> str:
    """"argument" for a method run on an argument of the traced function (`step(state)` calling
    `state.bump()`): the object is the caller's, so the state cannot move into the class alone."""
    entry = trace.entry
    if trace.self_mode is SelfMode.ARGUMENT and method is not entry:
        if entry.self_name is None or entry.enclosing_class is not method.enclosing_class:
            return "argument"
    return ""


def _lazily_cached_functions(context: RuleContext, scope: Scope) -> set[int]:
    """The targets of `self.X = f` under `if self.X is None:` (or `if not hasattr(self, "X"):`) where `f`
    is a function the method makes (a nested def, a lambda, `jax.jit(...)` of one): a compiled helper
    built on first use. Eager or traced, the first call stores it and later calls reuse it; a function
    object is no tracer (repro on the maxtext pattern: the same results jitted and eager)."""
    self_name = scope.self_name
    targets: set[int] = set()
    if self_name is None:
        return targets
    for statement in if_statements(scope.node):
        attribute = _unset_attribute(statement.test, self_name)
        if attribute is None or not isinstance(statement.body, cst.IndentedBlock):
            continue
        for line in statement.body.body:
            if not isinstance(line, cst.SimpleStatementLine):
                continue
            for small in line.body:
                if not isinstance(small, cst.Assign) or len(small.targets) != 1:
                    continue
                target = small.targets[0].target
                if dotted_name(target) == f"{self_name}.{attribute}" and _makes_function(context, scope, small.value):
                    targets.add(id(target))
    return targets


def _unset_attribute(test: cst.BaseExpression, self_name: str) -> str | None:
    """"X" for `self.X is None` and `not hasattr(self, "X")`."""
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        if isinstance(comparison.operator, cst.Is) and dotted_name(comparison.comparator) == "None":
            owner, _, attribute = dotted_name(test.left).rpartition(".")
            if owner == self_name:
                return attribute
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        call = test.expression
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "hasattr":
            args = [a.value for a in call.args]
            if len(args) == 2 and isinstance(args[0], cst.Name) and args[0].value == self_name:
                if isinstance(args[1], cst.SimpleString):
                    return args[1].evaluated_value if isinstance(args[1].evaluated_value, str) else None
    return None


def _makes_function(context: RuleContext, scope: Scope, value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.Lambda):
        return True
    if isinstance(value, cst.Name):
        bindings = scope.bindings.get(value.value, [])
        return len(bindings) == 1 and bindings[0].kind is BindingKind.FUNCTION
    if isinstance(value, cst.Call):
        qualified = context.resolver.qualify(scope, value.func)
        return qualified is not None and jax_api.canonical(qualified) in jax_api.COMPILE_AND_CACHE
    return False
