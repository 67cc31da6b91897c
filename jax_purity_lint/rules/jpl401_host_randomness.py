from __future__ import annotations

from typing import Iterator

from .base import Finding, Rule, RuleContext, where_traced
from .host_calls import host_random, qualified_calls


class HostRandomness(Rule):
    """
    ## What it does
    Flags calls to `numpy.random`, the `random` module, host random generators, clocks (`time.time`,
    `datetime.now`), `uuid` and `os.urandom` in traced code.

    Not reported when no compiled cache serves a second call: the jitted function is made afresh
    for each call of the function around it and called once, or rebound before it is called again.

    ## Why is this bad?
    They run once, while tracing; the number they return is baked into the compiled program as a
    constant, so every call of the jitted function gets the same "random" number or timestamp.

    ## Example
    ```python
    import jax
    import numpy as np

    @jax.jit
    def noisy(x):
        return x + np.random.normal()
    ```

    ## Use instead
    ```python
    import jax

    @jax.jit
    def noisy(x, key):
        key, subkey = jax.random.split(key)
        return x + jax.random.normal(subkey), key
    ```

    ## Fix safety
    The rewrite adds a `key` argument and returns the split key; callers must thread it, so it is
    applied as a diff.
    """

    code = "JPL401"
    name = "host-randomness"
    NEEDS_REUSE = "run"  # a second call or loop iteration repeats the same draw
    summary = "host randomness or a clock in traced code is baked in as a constant"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL401.md).
    CONFIRM_EVIDENCE = (
        "Two calls with the same input: eagerly they return different numbers, jitted the same one, the draw "
        "made once at trace time."
    )
    INVALID = [
        "import jax\nimport numpy as np\n@jax.jit\ndef f(x):\n    return x + np.random.normal()  # expect: JPL401\n",
    ]
    VALID = [
        "import jax\n@jax.jit\ndef f(x, key):\n    return x + jax.random.normal(key)\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for scope, trace, effect, qualified, factory in qualified_calls(context):
            if not host_random(qualified, factory):
                continue
            shown = qualified or "a host random generator"

            def render(line_of, scope=scope, trace=trace, shown=shown) -> str:
                return (
                    f"{where_traced(scope, trace, line_of)} calls `{shown}`, which runs once, while tracing: "
                    f"its result is baked into the compiled program as a constant. Pass a `jax.random` key "
                    f"in, split it, and return the new key"
                )

            yield self.finding(effect.node, scope, trace, shown, render)
