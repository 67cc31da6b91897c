from __future__ import annotations

from typing import Iterator

from .base import Finding, Rule, RuleContext, first_change, where_traced
from .jpl100_mutable_global_read import stale_global_reads
from .jpl103_changing_closure import stale_closure_reads


class RecomputedStateRead(Rule):
    """
    ## What it does
    Flags traced code that reads a global or a closure variable whose only changes after the trace
    run again the code that made it: the same statement in a loop (`n_batches, order = init()` at
    every epoch) or a copy of it with the same inputs (a notebook's set-up cell run once more). JPL100
    and JPL103 report every other change and leave these to this code.

    Opt-in: on public repositories every such flag was a rebinding to an equal value (a set-up cell
    run again with the same sizes, a batch count recomputed each epoch), where the cached trace
    computes what an eager call would. The rebinding is stale only when that code returns another
    value for the same inputs, as a loader does, and a call's result cannot be read from the code.
    Not taken as the same code: calls of host randomness, clocks, `next` and `iter`, of methods of
    objects, and of the module's own functions and classes; these stay JPL100 and JPL103.

    ## Why is this bad?
    The traced function keeps the value it saw while tracing. If the code that rebinds the name
    returns something else the second time (the next batch of a loader, a shuffled index), later
    calls through the cached trace silently use the first value.

    ## Example
    ```python
    import itertools
    import jax

    next_batch = itertools.cycle([1.0, 2.0, 3.0]).__next__
    batch = next_batch()

    @jax.jit
    def loss(w):
        return (w - batch) ** 2

    for step in range(3):
        print(loss(0.0))  # 1.0 each time: the trace kept batch = 1.0
        batch = next_batch()
    ```

    ## Use instead
    ```python
    import itertools
    import jax

    next_batch = itertools.cycle([1.0, 2.0, 3.0]).__next__

    @jax.jit
    def loss(w, batch):
        return (w - batch) ** 2

    for step in range(3):
        print(loss(0.0, next_batch()))  # 1.0, 4.0, 9.0
    ```

    ## Fix safety
    No automatic fix: when the value is equal each time, nothing needs to change. Where it is not,
    pass the value in as an argument.
    """

    code = "JPL104"
    name = "recomputed-state-read"
    OPT_IN = True  # all 6 flags on the development corpus were equal values (docs/real-world.md)
    NEEDS_REUSE = "call"  # a stale value needs a second call through the same trace
    summary = "traced code reads state rebound only by re-running the code that made it"
    CONFIRM_EVIDENCE = (
        "A call after the rebinding, when the code returns another value: `loss(0.0)` returns 1.0, 4.0, 9.0 "
        "eagerly as `batch` moves through the loader, and 1.0 each time jitted."
    )
    ADVICE = "if that code can return another value for the same inputs, pass the value in as an argument"
    INVALID = [
        "import itertools\nimport jax\nnext_batch = itertools.cycle([1.0, 2.0]).__next__\nbatch = next_batch()\n"
        "@jax.jit\ndef loss(w):\n    return w - batch  # expect: JPL104\nfor _ in range(2):\n    loss(0.0)\n"
        "    batch = next_batch()\n",
    ]
    VALID = [
        # Run again before anything is traced: the first trace already sees the last binding.
        "import jax\nimport jax.numpy as jnp\nn = 3\nbox = jnp.ones(n)\nbox = jnp.ones(n)\n@jax.jit\ndef f(x):\n"
        "    return x * box\nf(1.0)\nf(2.0)\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for read in stale_global_reads(context):
            if read.changes and not read.late:
                what = f"global `{read.state}`"
                yield self._finding(read.effect.node, read.scope, read.trace, what, read.state, read.changes)
        for closure in stale_closure_reads(context):
            if not closure.late:
                yield self._finding(
                    closure.effect.node, closure.scope, closure.trace, f"closure variable `{closure.name}`",
                    closure.name, closure.changes,
                )

    def _finding(self, node, scope, trace, what: str, state: str, changes) -> Finding:
        def render(place_of) -> str:
            return (
                f"{where_traced(scope, trace, place_of)} reads {what}, which is "
                f"{first_change(list(changes), place_of)} by the code that made it, run again with the same "
                f"inputs; if that code can return another value (a loader, an iterator's `__next__`), later "
                f"calls keep the one seen while tracing. "
                f"Pass `{state}` in as an argument where it does"
            )

        return self.finding(node, scope, trace, state, render)
