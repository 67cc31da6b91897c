from __future__ import annotations

from typing import Iterator

from .base import Finding, FixAvailability, Rule, RuleContext, where_traced
from .host_calls import host_random, qualified_calls


# Clocks are read like random draws, once, but their cure differs: the time is passed in.
CLOCK_PREFIXES = ("time.", "datetime.")
DRAW_CURE = "Pass a `jax.random` key in, split it, and return the new key"
CLOCK_CURE = "Read the clock outside and pass the time in as an argument"


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
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Thread a `jax.random` key (or pass the time in)"
    ADVICE = "pass a `jax.random` key as an argument, split it, and return the new key (for a clock: pass the time in)"
    FIX_BUILDER = "prng_key.build_host_randomness"
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
            variant = "clock" if qualified.startswith(CLOCK_PREFIXES) else "draw"
            cure = CLOCK_CURE if variant == "clock" else DRAW_CURE

            def render(place_of, scope=scope, trace=trace, shown=shown, cure=cure) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} calls `{shown}`, which runs once, while tracing: "
                    f"its result is baked into the compiled program as a constant. {cure}"
                )

            yield self.finding(effect.node, scope, trace, shown, render, variant=variant)
