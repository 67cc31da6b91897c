from __future__ import annotations

from typing import Iterator

from ..analysis.scopes import EffectKind
from .base import GroupBy, Finding, FixAvailability, Rule, RuleContext, dotted, owner_is_traced, traced_effects, where_traced


class OuterIteratorConsumption(Rule):
    """
    ## What it does
    Flags `next(it)` in traced code when `it` lives outside the traced function: a global, a closure
    variable or an attribute of `self`.

    Not reported when no compiled cache serves a second call: the jitted function is made afresh
    for each call of the function around it and called once, or rebound before it is called again.

    ## Why is this bad?
    The iterator is advanced once, while tracing; the item it produced is baked into the compiled
    program, and later calls neither advance it nor see new items.

    ## Example
    ```python
    import jax

    batches = iter([1.0, 2.0, 3.0])

    @jax.jit
    def step(x):
        return x + next(batches)
    ```

    ## Use instead
    ```python
    import jax

    @jax.jit
    def step(x, batch):
        return x + batch

    for batch in [1.0, 2.0, 3.0]:
        y = step(0.0, batch)
    ```

    ## Fix safety
    No automatic fix: the loop that feeds the data must move out of the traced code.
    """

    code = "JPL402"
    name = "outer-iterator-consumption"
    NEEDS_REUSE = "run"  # a second call or loop iteration gets the same item again
    summary = "traced code consumes an outer iterator with `next()`, once, at trace time"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL402.md).
    CONFIRM_EVIDENCE = (
        "Successive calls of `step(0.0)` return 1.0, 2.0, 3.0 eagerly and 1.0, 1.0, 1.0 jitted: the iterator "
        "is advanced once, while tracing."
    )
    FIX = FixAvailability.NEVER
    FIX_TITLE = ""
    ADVICE = "draw the item outside the traced code and pass it in: `step(x, next(it))`"
    GROUP_BY = GroupBy.STATE
    INVALID = [
        "import jax\nbatches = iter([1.0, 2.0])\n@jax.jit\ndef f(x):\n    return x + next(batches)  # expect: JPL402\n",
    ]
    VALID = [
        "import jax\n@jax.jit\ndef f(x):\n    items = iter([1.0, 2.0])\n    return x + next(items)\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        resolver = context.resolver
        for scope, trace, effect in traced_effects(context, EffectKind.NEXT):
            if effect.root is None or not resolver.is_builtin(scope, "next"):
                continue  # a function of the module's own called `next`
            if resolver.self_method(scope, effect.root) is None:
                resolved = resolver.resolve(scope, effect.root)
                if resolved is None or resolved.scope is scope or owner_is_traced(context, resolved, trace):
                    continue
                if not resolved.is_global and effect.root in resolved.scope.params and resolved.scope is trace.entry:
                    continue
            elif not effect.path:
                continue
            state = dotted(effect.root, effect.path)

            def render(place_of, scope=scope, trace=trace, state=state) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} calls `next({state})` on an iterator from outside "
                    f"the trace; it is advanced once, while tracing, and the item is baked in. Pass each item in "
                    f"as an argument and iterate outside the traced code"
                )

            yield self.finding(effect.node, scope, trace, state, render)
