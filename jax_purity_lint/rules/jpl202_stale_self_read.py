from __future__ import annotations

from typing import Iterator

from ..analysis.scopes import EffectKind
from ..analysis.sites import SelfMode
from .base import (
    GroupBy,
    Finding,
    FixAvailability,
    Rule,
    RuleContext,
    first_change,
    self_method,
    traced_effects,
    where_traced,
)

# `self` is a constant of the trace: bound into `jax.jit(obj.method)`, static, or a module-level object.
FROZEN_SELF_MODES = (SelfMode.FROZEN, SelfMode.STATIC, SelfMode.GLOBAL)


class StaleSelfRead(Rule):
    """
    ## What it does
    Flags a traced method that reads `self.attr` when `self` is frozen into the trace (a bound method
    passed to `jax.jit`, a `static_argnums=0` method, or a module-level object) and another method of
    the class changes `attr`, or code using an instance does (`obj = Model(); ...; obj.target = 0.0`).

    Opt-in: on public repositories nearly every flag was an attribute set only during set-up
    (`__init__`, `load_params()`, before any traced call) or a method wrapped afresh at every call;
    the order in which users call methods is not in the code, so the rule cannot tell these apart.

    ## Why is this bad?
    With `self` static, jit caches the compiled program by the object's identity: after
    `model.set_scale(2.0)` the same object hits the cache and the old scale is still used.

    ## Example
    ```python
    from functools import partial
    import jax

    class Model:
        def __init__(self):
            self.scale = 1.0

        def set_scale(self, scale):
            self.scale = scale

        @partial(jax.jit, static_argnums=0)
        def apply(self, x):
            return x * self.scale
    ```

    ## Use instead
    ```python
    import jax

    class Model:
        @staticmethod
        @jax.jit
        def apply(scale, x):
            return x * scale
    ```

    ## Fix safety
    The attribute becomes an argument; callers in the module are updated. Applied as a diff.
    """

    code = "JPL202"
    name = "stale-self-read"
    OPT_IN = True  # 0 true of 39 flags on real code (docs/real-world.md): select JPL202 to turn it on
    NEEDS_REUSE = "call"  # a stale value needs a second call through the same trace
    summary = "a method with a frozen `self` reads an attribute other methods change"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL202.md).
    CONFIRM_EVIDENCE = (
        "A call after the attribute changes: after `model.set_scale(2.0)`, `model.apply(1.0)` returns 2.0 "
        "eagerly and still 1.0 jitted, from the program cached for the same object."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Pass the attribute in as an argument"
    ADVICE = "pass the attribute as an argument: `method(self, x, attr)`"
    FIX_BUILDER = "self_read.build_stale_self_read"
    GROUP_BY = GroupBy.CLASS_STATE
    INVALID = [
        "from functools import partial\nimport jax\nclass M:\n    def __init__(self):\n        self.scale = 1.0\n    def set_scale(self, s):\n        self.scale = s\n    @partial(jax.jit, static_argnums=0)\n    def apply(self, x):\n        return x * self.scale  # expect: JPL202\n",
    ]
    # `fix` on an example, and what it writes (tests/test_rule_registry.py runs each).
    FIX_EXAMPLES = [
        (
            'from functools import partial\nimport jax\nclass M:\n    def __init__(self):\n        self.scale = 1.0\n    def set_scale(self, s):\n        self.scale = s\n    @partial(jax.jit, static_argnums=0)\n    def apply(self, x):\n        return x * self.scale\n',
            'from functools import partial\nimport jax\nclass M:\n    def __init__(self):\n        self.scale = 1.0\n    def set_scale(self, s):\n        self.scale = s\n    @partial(jax.jit, static_argnums=0)\n    def apply(self, x, scale):\n        return x * scale\n',
        ),
    ]
    VALID = [
        "from functools import partial\nimport jax\nclass M:\n    def __init__(self):\n        self.scale = 1.0\n    @partial(jax.jit, static_argnums=0)\n    def apply(self, x):\n        return x * self.scale\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for scope, trace, effect in traced_effects(context, EffectKind.READ):
            if trace.self_mode not in FROZEN_SELF_MODES or not effect.path or effect.detail == "metadata":
                continue
            method = self_method(context, scope, effect)
            if method is None or method.enclosing_class is None:
                continue
            attribute = effect.path[0]
            changed = context.state.changed_attributes(method.enclosing_class).get(attribute, [])
            # Changes made by the traced method itself are JPL200/JPL201, not stale reads.
            own = _own_scopes(method)
            if any(c.scope in own for c in changed):
                continue  # the method writes it itself: JPL200/JPL201, not a stale read
            elsewhere = changed
            if not elsewhere or context.resolver.methods(method.enclosing_class, attribute) is not None:
                continue
            state = f"self.{attribute}"

            def render(place_of, scope=scope, trace=trace, state=state, elsewhere=elsewhere) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} reads `{state}`, which is "
                    f"{first_change(elsewhere, place_of)}, but `self` is frozen into the trace ({trace.self_mode.value}): the "
                    f"compiled function keeps the value seen when it was traced. Pass `{state.split('.')[1]}` "
                    f"in as an argument"
                )

            yield self.finding(effect.node, scope, trace, state, render)


def _own_scopes(method) -> set:
    scopes, stack = set(), [method]
    while stack:
        scope = stack.pop()
        scopes.add(scope)
        stack.extend(scope.children)
    return scopes
