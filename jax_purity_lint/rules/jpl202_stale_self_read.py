from __future__ import annotations

from typing import Iterator

import libcst as cst

from ..analysis.reachability import call_parameters, is_static_parameter
from ..analysis.scopes import BindingKind, EffectKind, Scope, scope_and_nested
from ..analysis.sites import SelfMode
from ..analysis.tree import argument_for
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

    The same holds for a static argument of a plain function: `fast = jax.jit(get_data,
    static_argnums=0)` where `get_data(m, x)` reads `m.data`, and the module changes `data` on an
    object of its own class that it hands to `fast` (`m = Holder(1.0)`; `fast(m, x)`; `m.data = 5.0`).
    `fix` gives advice only there.

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
        yield from self._static_argument_reads(context)

    def _static_argument_reads(self, context: RuleContext) -> Iterator[Finding]:
        """`fast = jax.jit(get_data, static_argnums=0)` with `get_data(m, x)` reading `m.data`, and code
        changing `data` on an object it hands to `fast`: the object is hashed into the cache key, so a
        later call with the same object replays the trace made with the old value."""
        classes_passed: dict[tuple[int, str], list[Scope]] = {}
        for scope, trace, effect in traced_effects(context, EffectKind.READ):
            if not trace.is_entry or scope is not trace.entry or not trace.site.compile_and_cache:
                continue
            root = effect.root
            if root is None or not effect.path or effect.detail == "metadata" or root == scope.self_name:
                continue
            if root not in scope.params or len(scope.bindings.get(root, [])) != 1:
                continue
            if not is_static_parameter(scope, trace, root):
                continue
            key = (id(trace.site.node), root)
            if key not in classes_passed:
                classes_passed[key] = _classes_handed_to(context, trace, call_parameters(scope, trace), root)
            attribute = effect.path[0]
            changed = [c for cls in classes_passed[key] for c in context.state.changed_attributes(cls).get(attribute, [])]
            if not changed:
                continue
            state = f"{root}.{attribute}"

            def render(place_of, scope=scope, trace=trace, state=state, changed=changed, root=root) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} reads `{state}`, which is "
                    f"{first_change(changed, place_of)}, but `{root}` is a static argument: jit hashes the "
                    f"object into its cache key, so a later call with the same object replays the trace made "
                    f"with the old value. Pass `{state}` itself as a traced argument"
                )

            yield self.finding(effect.node, scope, trace, state, render, variant="static-argument")


def _classes_handed_to(context: RuleContext, trace, params: list[str], parameter: str) -> list[Scope]:
    """Classes of the module whose objects are passed as `parameter` to the compiled function: the
    name bound to the site (`fast = jax.jit(...)`) called with `obj` made by `obj = Holder(...)`."""
    resolver = context.resolver
    holder = next(
        (name for name, bindings in trace.site.scope.bindings.items()
         if len(bindings) == 1 and bindings[0].kind is BindingKind.ASSIGNMENT and bindings[0].value is trace.site.node),
        None,
    )
    if holder is None:
        return []
    classes: list[Scope] = []
    for scope in scope_and_nested(resolver.module):
        for effect in scope.effects:
            call = effect.call
            if effect.kind is not EffectKind.CALL or call is None or not isinstance(call.func, cst.Name):
                continue
            if call.func.value != holder:
                continue
            resolved = resolver.resolve(scope, holder)
            if resolved is None or resolved.scope is not trace.site.scope:
                continue
            passed = argument_for(call, params, parameter)
            if not isinstance(passed, cst.Name):
                continue
            owner = resolver.resolve(scope, passed.value)
            if owner is None:
                continue
            binding = resolver.binding_at(owner, effect.order if owner.scope is scope else None)
            cls = resolver.instance_class(owner.scope, binding)
            if cls is not None and cls not in classes:
                classes.append(cls)
    return classes


def _own_scopes(method) -> set:
    scopes, stack = set(), [method]
    while stack:
        scope = stack.pop()
        scopes.add(scope)
        stack.extend(scope.children)
    return scopes
