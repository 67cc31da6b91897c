from __future__ import annotations

from typing import Iterator

from ..analysis.scopes import BindingKind, EffectKind
from ..analysis.sites import SelfMode
from ..analysis.state import describe_effect
from .base import GroupBy, Finding, FixAvailability, Rule, RuleContext, dotted, self_method, traced_effects, where_traced

_MUTATIONS = (EffectKind.ATTR_STORE, EffectKind.ITEM_STORE, EffectKind.MUTATOR_CALL)


class GlobalMutation(Rule):
    """
    ## What it does
    Flags traced code that changes a module-level container or object in place: `history.append(x)`,
    `cache[k] = v`, `config.lr = ...`, or a method of a module-level object that changes `self`,
    reached from traced code (`counter.bump()`).

    ## Why is this bad?
    The mutation happens once, while tracing, with tracers instead of values; later calls of the
    compiled function do not repeat it. The container ends up holding leaked tracers and the
    program's Python-side state stops tracking what the computation does.

    ## Example
    ```python
    import jax

    history = []

    @jax.jit
    def step(x):
        history.append(x)
        return x * 2
    ```

    ## Use instead
    ```python
    import jax

    @jax.jit
    def step(x):
        return x * 2, x  # return what should be recorded

    history = []
    y, record = step(1.0)
    history.append(record)
    ```

    ## Fix safety
    No automatic fix: where the recorded value goes is a design decision. The diff shows the shape.
    """

    code = "JPL102"
    name = "global-mutation"
    summary = "traced code mutates a global container or object in place, once, at trace time"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL102.md).
    CONFIRM_EVIDENCE = (
        "The container after the calls differs: three calls leave three entries in `history` eagerly, and "
        "jitted a single entry, a tracer recorded while tracing."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Return the value to record (shown as a diff)"
    ADVICE = "return the value to record and update the container outside the traced code"
    FIX_BUILDER = "state_return.build_global_write"
    GROUP_BY = GroupBy.STATE
    INVALID = [
        "import jax\nhistory = []\n@jax.jit\ndef f(x):\n    history.append(x)  # expect: JPL102\n    return x\n",
        "import jax\ncache = {}\n@jax.jit\ndef f(x):\n    cache['last'] = x  # expect: JPL102\n    return x\n",
    ]
    VALID = [
        "import jax\n@jax.jit\ndef f(x):\n    history = []\n    history.append(x)\n    return x\n",
        "import jax\nhistory = []\ndef f(x):\n    history.append(x)\n    return x\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        resolver = context.resolver
        for scope, trace, effect in traced_effects(context, *_MUTATIONS):
            if effect.root is None:
                continue
            if not context.state.is_mutation(scope, effect):
                continue
            if trace.self_mode is SelfMode.GLOBAL and self_method(context, scope, effect) is not None:
                state = dotted(trace.instance or "self", effect.path)
                yield self._finding(effect, scope, trace, state, via_self=True)
                continue
            resolved = resolver.resolve(scope, effect.root)
            if resolved is None or not resolved.is_global:
                continue
            binding = resolver.binding_at(resolved, None)
            if binding is None or binding.kind in (BindingKind.IMPORT, BindingKind.FUNCTION):
                continue  # `jax.config.update(...)`, function attributes: not program state
            if binding.kind is BindingKind.CLASS and effect.kind is EffectKind.ATTR_STORE:
                continue  # class attribute rebinding: JPL101
            yield self._finding(effect, scope, trace, dotted(effect.root, effect.path), via_self=False)

    def _finding(self, effect, scope, trace, state, via_self: bool) -> Finding:
        how = describe_effect(effect)

        def render(place_of) -> str:
            owner = f"module-level object `{trace.instance}`" if via_self else f"global `{state}`"
            return (
                f"{where_traced(scope, trace, place_of)} mutates {owner} in place ({how}); this runs once, "
                f"while tracing, with tracers, and is not repeated by later calls. Return the new value "
                f"from the function and update the state outside the traced code"
            )

        return self.finding(effect.node, scope, trace, state, render)
