from __future__ import annotations

from typing import Iterator

from ..analysis.scopes import EffectKind
from .base import GroupBy, Finding, FixAvailability, Rule, RuleContext, dotted, traced_effects, where_traced


class GlobalRebinding(Rule):
    """
    ## What it does
    Flags traced code that rebinds a module-level name (`global n; n += 1`) or a class attribute
    (`Model.calls += 1`, or `cls.calls += 1` in a classmethod that traced code calls).

    ## Why is this bad?
    The assignment runs once, while the function is traced. Later calls replay the compiled program
    and never execute it again, so a counter stops counting after the first call; worse, the global
    may end up holding a tracer that escaped the trace.
    Reads of that global in the same function (`n = n + 1`) belong to this finding and are not
    reported again as JPL100.

    ## Example
    ```python
    import jax

    calls = 0

    @jax.jit
    def step(x):
        global calls
        calls += 1
        return x * 2
    ```

    ## Use instead
    ```python
    import jax

    @jax.jit
    def step(x, calls):
        return x * 2, calls + 1
    ```

    ## Fix safety
    Returning the new value changes the function's result; every caller must unpack it, so the fix
    is shown as a diff and applied only when all calls are in the same module.
    """

    code = "JPL101"
    name = "global-rebinding"
    summary = "traced code rebinds a global or a class attribute; it happens once, at trace time"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL101.md).
    CONFIRM_EVIDENCE = (
        "The global's value after the calls: three calls of `step` leave `calls` at 3 eagerly and at 1 jitted, "
        "because the assignment ran once, while tracing."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Take the value as an argument and return its new value"
    ADVICE = "take the value as an argument and return the new value with the output"
    FIX_BUILDER = "state_return.build_global_write"
    GROUP_BY = GroupBy.STATE
    INVALID = [
        "import jax\nn = 0\n@jax.jit\ndef f(x):\n    global n\n    n += 1  # expect: JPL101\n    return x\n",
        "import jax\nclass Model:\n    calls = 0\n@jax.jit\ndef f(x):\n    Model.calls += 1  # expect: JPL101\n    return x\n",
        "import jax\nclass Stats:\n    calls = 0\n    @classmethod\n    def bump(cls):\n        cls.calls += 1  # expect: JPL101\n"
        "@jax.jit\ndef f(x):\n    Stats.bump()\n    return x\n",
    ]
    # `fix` on an example, and what it writes (tests/test_rule_registry.py runs each).
    FIX_EXAMPLES = [
        (
            'import jax\nn = 0\n@jax.jit\ndef f(x):\n    global n\n    n += 1\n    return x\n',
            'import jax\nn = 0\n@jax.jit\ndef f(x, n):\n    n += 1\n    return x, n\n',
        ),
    ]
    VALID = [
        "import jax\nn = 0\n@jax.jit\ndef f(x, n):\n    return x, n + 1\n",
        "import jax\n@jax.jit\ndef f(x):\n    n = 0\n    n += 1\n    return x + n\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for scope, trace in context.traced.items():
            for name in sorted(scope.global_names & scope.bindings.keys()):
                for binding in scope.bindings[name]:

                    def render(place_of, scope=scope, trace=trace, name=name) -> str:
                        return (
                            f"{where_traced(scope, trace, place_of)} rebinds global `{name}`; the assignment "
                            f"runs once, while tracing, and never again when the compiled function is called. "
                            f"Return the new value instead: `return out, new_{name}`, and pass `{name}` in"
                        )

                    yield self.finding(binding.node, scope, trace, name, render)
        for scope, trace, effect in traced_effects(context, EffectKind.ATTR_STORE):
            if effect.root is None or not effect.path:
                continue
            cls = context.resolver.cls_method(scope, effect.root)
            if cls is not None:
                state = dotted(cls.name, effect.path)  # `cls.count` in a classmethod of `Stats`: `Stats.count`
            else:
                resolved = context.resolver.resolve(scope, effect.root)
                if resolved is None or not resolved.is_global:
                    continue
                if context.resolver.class_of_binding(context.resolver.binding_at(resolved, None)) is None:
                    continue
                state = dotted(effect.root, effect.path)

            def render(place_of, scope=scope, trace=trace, state=state) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} rebinds class attribute `{state}`; it runs once, "
                    f"while tracing, so later calls leave it unchanged. Keep the value in explicit state "
                    f"passed in and returned"
                )

            yield self.finding(effect.node, scope, trace, state, render)
