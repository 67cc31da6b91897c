from __future__ import annotations

from typing import Iterator

from .base import Evidence, Finding, FixAvailability, Rule, RuleContext, where_traced
from .host_calls import qualified_calls, switched_off

WARNING_FUNCTIONS = frozenset({"warnings.warn", "warnings.warn_explicit"})


class TraceTimeWarning(Rule):
    """
    ## What it does
    Flags `warnings.warn` (and `warnings.warn_explicit`) in traced code. As for `print`, a call under
    `if verbose:` in a helper is not reported when every traced call of the helper passes a falsy literal.

    It does not look at what the warning is about: a warning about a shape or a dtype, which is the
    same at every call of one trace, is reported too (it is shown once per compilation, which may be
    what you want: then silence it with `# noqa: JPL403`).

    ## Why is this bad?
    The call runs while the function is traced, once. Later calls through the compiled function
    never warn, so a warning meant for every call (a value out of range, a deprecated argument)
    shows up at most once per compilation, and a message formatted from an argument shows a tracer
    (`JitTracer(~float32[])`) instead of its value. Warnings filters set after the first call
    (`warnings.simplefilter("error")`, `pytest.warns`) never see it.

    ## Example
    ```python
    import warnings

    import jax

    @jax.jit
    def scale(x):
        warnings.warn(f"scaling {x}")
        return x * 2
    ```

    ## Use instead
    ```python
    import warnings

    import jax

    def warn_scaling(x):
        warnings.warn(f"scaling {x}")

    @jax.jit
    def scale(x):
        jax.debug.callback(warn_scaling, x)
        return x * 2
    ```

    ## Fix safety
    No automatic fix: whether the warning belongs to the compilation (once) or to every call is a
    decision of the code's author. `fix --diff` writes a comment saying what to do.
    """

    code = "JPL403"
    name = "trace-time-warning"
    summary = "`warnings.warn` in traced code runs once, at trace time, not at every call"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL403.md).
    CONFIRM_EVIDENCE = (
        "The warnings shown: eagerly one per call with the value (`UserWarning: scaling 1.0`, then "
        "`scaling 2.0`), jitted a single one, shown while tracing and naming a tracer instead of the value."
    )
    FIX = FixAvailability.NEVER
    ADVICE = "warn outside the traced code, or from `jax.debug.callback(...)` to warn at every call"
    EVIDENCE = Evidence.OUTPUT
    INVALID = [
        "import warnings\nimport jax\n@jax.jit\ndef f(x):\n    warnings.warn(f'x = {x}')  # expect: JPL403\n    return x\n",
        "from warnings import warn\nimport jax\n@jax.jit\ndef f(x):\n    warn('deprecated')  # expect: JPL403\n    return x\n",
    ]
    VALID = [
        "import warnings\nimport jax\ndef f(x):\n    warnings.warn(f'x = {x}')\n    return x\n",
        "import warnings\nimport jax\ndef tell(x):\n    warnings.warn(f'x = {x}')\n@jax.jit\ndef f(x):\n    jax.debug.callback(tell, x)\n    return x\n",
        "import warnings\nimport jax\n@jax.grad\ndef f(x):\n    warnings.warn('grad traces, but caches nothing')\n    return x * x\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for scope, trace, effect, qualified, _factory in qualified_calls(context):
            if qualified not in WARNING_FUNCTIONS or switched_off(context, scope, effect):
                continue
            if trace.site.fresh_per_call:
                continue  # traced at every call, it warns once per call; Python's filter shows eager repeats once

            def render(place_of, scope=scope, trace=trace, qualified=qualified) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} calls `{qualified}`, which runs once, while tracing: "
                    f"later calls through the compiled function never warn, and values in the message are "
                    f"tracers. Warn outside the traced code, or from `jax.debug.callback` to warn at every call"
                )

            yield self.finding(effect.node, scope, trace, qualified, render)
