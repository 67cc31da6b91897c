from __future__ import annotations

import os
from typing import Iterator

import libcst as cst

from ..analysis import jax_api
from .base import (
    Evidence,
    Finding,
    FixAvailability,
    Rule,
    RuleContext,
    calls_of_helpers_elsewhere,
    run_unit,
    remote_place,
    through,
    where_traced,
)
from .host_calls import qualified_calls, switched_off


class TraceTimePrint(Rule):
    """
    ## What it does
    Flags `print`, `logging` calls, writes to `sys.stdout`/`sys.stderr` and a tqdm progress bar's
    `update()`/`set_postfix()`/`write()` in traced code, loop bodies included: a `lax.fori_loop`,
    `lax.scan` or `lax.while_loop` body defined inside a plain function is traced anew at every call
    of that function, but runs once per trace where the eager loop runs it at every iteration. A call under
    `if verbose:` in a helper is not reported when every call of the helper in traced code passes a
    falsy literal for `verbose` (or relies on a falsy default). A call of a function of another module
    of the project that prints (itself or through the functions it calls, outside any `if`) is
    reported at the call, with the place of the print ([more](../projects.md)).

    A function handed to a library through a callback keyword (`Solver(callback=report)`,
    `step_callback=`, `callbacks=[...]`) is not taken as run by the trace: libraries run such
    callbacks through `jax.debug.callback` or outside the trace. Not caught: a library that calls one
    directly while tracing.

    ## Why is this bad?
    They run while the function is traced, once, and print
    tracers such as `JitTracer(~float32[])` instead of values; later calls print nothing at all.

    ## Example
    ```python
    import jax

    @jax.jit
    def step(x):
        print("x =", x)
        return x * 2
    ```

    ## Use instead
    ```python
    import jax

    @jax.jit
    def step(x):
        jax.debug.print("x = {}", x)
        return x * 2
    ```

    ## Fix safety
    Safe for `print` with positional arguments: `jax.debug.print` prints the runtime values at every
    call. Logging calls are shown as a diff, since log levels and handlers do not carry over.
    """

    code = "JPL400"
    name = "trace-time-print"
    summary = "`print`/logging in traced code runs once, at trace time, not at every call"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL400.md).
    CONFIRM_EVIDENCE = (
        "The captured output: eagerly one line per call with the value (`x = 1.0`), jitted a single line in "
        "all, printed while tracing and showing a tracer (`x = JitTracer(~float32[])`) instead of the value."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Use `jax.debug.print`"
    ADVICE = "use `jax.debug.print` (or `jax.debug.callback`) for output at run time"
    FIX_BUILDER = "debug_print.build_debug_print"
    EVIDENCE = Evidence.OUTPUT
    INVALID = [
        "import jax\n@jax.jit\ndef f(x):\n    print('x =', x)  # expect: JPL400\n    return x\n",
        "import jax\ndef run(n):\n    def body(i, acc):\n        print('step', i)  # expect: JPL400\n        return acc + i\n"
        "    return jax.lax.fori_loop(0, n, body, 0)\n",
    ]
    # `fix` on an example, and what it writes (tests/test_rule_registry.py runs each).
    FIX_EXAMPLES = [
        (
            "import jax\n@jax.jit\ndef f(x):\n    print('x =', x)\n    return x\n",
            'import jax\n@jax.jit\ndef f(x):\n    jax.debug.print("x = {}", x)\n    return x\n',
        ),
    ]
    VALID = [
        "import jax\n@jax.jit\ndef f(x):\n    jax.debug.print('x = {}', x)\n    return x\n",
        "import jax\ndef f(x):\n    print('x =', x)\n    return x\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for scope, trace, effect, qualified, factory in qualified_calls(context):
            call = effect.call
            method = call.func.attr.value if isinstance(call.func, cst.Attribute) else None
            if not jax_api.is_print_like(qualified, factory, method) or switched_off(context, scope, effect):
                continue
            shown = qualified or f"{call.func.value.value}.{method}"  # type: ignore[union-attr]

            def render(place_of, scope=scope, trace=trace, shown=shown) -> str:
                unit = run_unit(trace)
                return (
                    f"{where_traced(scope, trace, place_of)} calls `{shown}`, which runs once, while tracing: "
                    f"later {unit}s print nothing, and a traced value prints as a tracer, not its value. Use "
                    f"`jax.debug.print(\"... {{}}\", value)` to print at every {unit} (keep it "
                    f"if the trace-time output is intended)"
                )

            yield self.finding(effect.node, scope, trace, shown, render)
        yield from self._prints_in_other_modules(context)

    def _prints_in_other_modules(self, context: RuleContext) -> Iterator[Finding]:
        """A call of a project function of another module that prints (itself or through its calls)."""
        relative_to = os.path.dirname(context.module_path or "")
        for scope, trace, effect, called, prints in calls_of_helpers_elsewhere(context, "print"):
            first = prints[0]
            where = remote_place(first.path, first.line, relative_to) + through(first.helper, called)

            def render(place_of, scope=scope, trace=trace, called=called, first=first, where=where) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} calls `{called}`, which calls `{first.what}` at "
                    f"{where}: it runs once, while tracing: later calls print nothing, and a traced value prints "
                    f"as a tracer, not its value. Use `jax.debug.print(\"... {{}}\", value)` there to print at "
                    f"every call (keep it if the trace-time output is intended)"
                )

            related = tuple((e.path, e.line, f"`{e.what}` runs here, while tracing") for e in prints)
            yield self.finding(effect.node, scope, trace, called, render, variant="remote", related=related)

