from __future__ import annotations

from typing import Iterator

from ..analysis.scopes import BindingKind, EffectKind, ScopeKind
from ..analysis.sites import SelfMode
from ..analysis.state import describe_effect
from .base import (
    Finding,
    FixAvailability,
    GroupBy,
    Rule,
    RuleContext,
    dotted,
    run_unit,
    self_method,
    traced_effects,
    where_traced,
)

_MUTATIONS = (EffectKind.ATTR_STORE, EffectKind.ITEM_STORE, EffectKind.MUTATOR_CALL)


class GlobalMutation(Rule):
    """
    ## What it does
    Flags traced code that changes a module-level container or object in place: `history.append(x)`,
    `cache[k] = v`, `config.lr = ...`, or a method of a module-level object that changes `self`,
    reached from traced code (`counter.bump()`, `buffer.add(x)` appending to a `deque` on `self`).
    The same holds for state that outlives calls without being a global: a class-level container
    changed through `cls` in a classmethod (`cls.history.append(x)`), and a mutable default argument
    (`def lookup(x, cache={})`: one dict, made when the `def` ran, shared by every call that does
    not pass `cache`). A push that the same scope pops again (a context manager's stack of scopes,
    entered inside the traced function) leaves the list as it was, and is not reported.

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
        "import jax\n@jax.jit\ndef f(x, seen=[]):\n    seen.append(x)  # expect: JPL102\n    return x\n",
    ]
    VALID = [
        "import jax\n@jax.jit\ndef f(x):\n    history = []\n    history.append(x)\n    return x\n",
        "import jax\nhistory = []\ndef f(x):\n    history.append(x)\n    return x\n",
        "import jax\n@jax.jit\ndef f(x, seen=None):\n    seen = [] if seen is None else seen\n    seen.append(x)\n    return x\n",
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
                yield self._finding(effect, scope, trace, state, owner="object")
                continue
            cls = resolver.cls_method(scope, effect.root)
            if cls is not None:
                if effect.path and effect.kind is not EffectKind.ATTR_STORE:  # `cls.history.append(x)`
                    yield self._finding(effect, scope, trace, dotted(cls.name, effect.path), owner="class")
                continue
            resolved = resolver.resolve(scope, effect.root)
            if resolved is not None and _shared_default(context, resolved):
                yield self._finding(effect, scope, trace, dotted(effect.root, effect.path), owner="default")
                continue
            if resolved is None or not resolved.is_global:
                continue
            binding = resolver.binding_at(resolved, None)
            if binding is None or binding.kind in (BindingKind.IMPORT, BindingKind.FUNCTION):
                continue  # `jax.config.update(...)`, function attributes: not program state
            if binding.kind is BindingKind.CLASS and effect.kind is EffectKind.ATTR_STORE:
                continue  # class attribute rebinding: JPL101
            yield self._finding(effect, scope, trace, dotted(effect.root, effect.path), owner="global")

    def _finding(self, effect, scope, trace, state, owner: str) -> Finding:
        """`owner`: what holds the state: "global", "object" (a module-level one, through its method),
        "class" (through `cls` in a classmethod) or "default" (a mutable default argument)."""
        how = describe_effect(effect)

        def render(place_of) -> str:
            what = {
                "object": f"module-level object `{trace.instance}`",
                "global": f"global `{state}`",
                "class": f"class attribute `{state}` (through `cls`)",
                "default": f"`{state}`, a mutable default argument (one object, made when the `def` ran and "
                f"shared by every call that does not pass it),",
            }[owner]
            return (
                f"{where_traced(scope, trace, place_of)} mutates {what} in place ({how}); this runs once, "
                f"while tracing, with tracers, and is not repeated by later {run_unit(trace)}s. Return the new "
                f"value from the function and update the state outside the traced code"
            )

        return self.finding(effect.node, scope, trace, state, render, variant=owner)


def _shared_default(context: RuleContext, resolved) -> bool:
    """The effect changes a parameter's mutable default (`cache={}`), a name the function never rebinds."""
    function = resolved.scope
    if function.kind is not ScopeKind.FUNCTION or context.state.mutable_default(function, resolved.name) is None:
        return False
    return all(b.kind is BindingKind.ARGUMENT for b in resolved.bindings)  # never rebound in the function
