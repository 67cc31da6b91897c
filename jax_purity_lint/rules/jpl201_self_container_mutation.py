from __future__ import annotations

from typing import Iterator

from ..analysis.scopes import EffectKind
from ..analysis.state import describe_effect
from .base import GroupBy, Finding, FixAvailability, Rule, RuleContext, dotted, where_traced
from .jpl200_self_mutation import self_mutations


class SelfContainerMutation(Rule):
    """
    ## What it does
    Flags traced methods that change a container held by `self` in place: `self.losses.append(x)`,
    `self.cache[k] = v`.

    ## Why is this bad?
    The container is changed once, while tracing, and receives tracers; later calls of the compiled
    function do not change it. Logs stay one entry long and caches hold leaked tracers.

    ## Example
    ```python
    import jax

    class Trainer:
        def __init__(self):
            self.losses = []

        def step(self, x):
            loss = x ** 2
            self.losses.append(loss)
            return loss

    trainer = Trainer()
    step = jax.jit(trainer.step)
    ```

    ## Use instead
    ```python
    import jax

    class Trainer:
        def step(self, x):
            return x ** 2

    trainer = Trainer()
    step = jax.jit(trainer.step)
    losses = [step(x) for x in (1.0, 2.0)]  # record outside the traced code
    ```

    ## Fix safety
    No automatic fix: the diff shows the shape of returning the value to record.
    """

    code = "JPL201"
    name = "self-container-mutation"
    summary = "a traced method mutates a container held by `self`, once, at trace time"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL201.md).
    CONFIRM_EVIDENCE = (
        "The container held by `self` after the calls: three calls leave three losses in `trainer.losses` "
        "eagerly, and jitted one entry, a tracer."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Keep the state outside the object: `method(self, state, ...) -> (out, new_state)`"
    ADVICE = "return the value to record; update the container outside the traced code"
    FIX_BUILDER = "self_state.build_self_state"
    GROUP_BY = GroupBy.OBJECT
    INVALID = [
        "import jax\nclass T:\n    def __init__(self):\n        self.losses = []\n    def step(self, x):\n        self.losses.append(x)  # expect: JPL201\n        return x\nt = T()\nstep = jax.jit(t.step)\n",
    ]
    VALID = [
        "import jax\nclass T:\n    def step(self, x):\n        losses = []\n        losses.append(x)\n        return x\nt = T()\nstep = jax.jit(t.step)\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        kinds = (EffectKind.ITEM_STORE, EffectKind.MUTATOR_CALL)
        for scope, trace, effect, method in self_mutations(context, kinds, container=True):
            state = dotted("self", effect.path)
            how = describe_effect(effect)

            def render(place_of, scope=scope, trace=trace, state=state, how=how) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} mutates the container `{state}` in place "
                    f"({how}); this runs once, while tracing, with tracers, and later calls do not repeat "
                    f"it. Return the value and record it outside the traced code"
                )

            yield self.finding(effect.node, scope, trace, state, render)
