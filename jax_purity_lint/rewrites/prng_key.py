"""JPL401: host randomness and clocks in traced code.

- `numpy.random` / `random` draws -> a `jax.random` key argument, split at the start of the function,
  the new key returned with the output: `noise = np.random.normal()` ->
  `key, subkey = jax.random.split(key)` ... `noise = jax.random.normal(subkey)` ... `return out, key`.
  Callers thread a module-level key (`rng_key = jax.random.key(0)`), like any other state.
- clocks (`time.time()`, `datetime.now()`) -> the time becomes an argument: `elapsed(x)` ->
  `elapsed(x, time.time())`.

Never marked safe: jax.random draws other numbers than NumPy's generator (the program's results change,
by design), and jit traces a clock reading as float32, which cannot hold epoch seconds precisely.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from .context import RewriteContext
from .functions import Slot, binds_locally
from .host_draws import jax_draw
from .model import Draft, Group
from .names import variables_in
from .threading import OuterTarget, Thread
from .uses import Use
from .view import FunctionNode, ModuleView

CLOCK_PRECISION = "jit traces the time as a float32 argument: epoch seconds lose precision; pass a difference instead"
RANDOMNESS_CHANGES = "jax.random draws different numbers than the host generator: results change (by design)"
LOOPS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def build_host_randomness(context: RewriteContext, group: Group) -> Draft:
    view = context.view
    calls = []
    for diagnostic in group.diagnostics:
        call = view.node_of(diagnostic, cst.Call)
        if call is not None:
            calls.append((diagnostic, call))
    if not calls:
        from .advice import build_advice

        return build_advice(context, group)
    function = view.enclosing_function(calls[0][1])
    clocks = [(d, c) for d, c in calls if d.variant == "clock"]
    draws = [(d, c) for d, c in calls if d.variant != "clock"]
    problems: list[str] = []
    threader = context.threader()
    summaries = []
    if clocks:
        summaries.append(_thread_clock(context, threader, function, clocks, problems))
    if draws:
        summaries.append(_thread_key(context, threader, function, draws, problems))
    threader.propagate()
    _name_slots(threader)
    threader.emit()
    problems.extend(threader.problems)
    return Draft(context.edits, "; ".join(summaries), list(dict.fromkeys(problems)),
                 ["check that the new randomness or time argument is what the program needs"], view.anchor_of(function))


def _thread_clock(context: RewriteContext, threader, function: FunctionNode, clocks, problems: list[str]) -> str:
    view = context.view
    problems.append(CLOCK_PRECISION)
    texts = {view.code(call) for _d, call in clocks}
    if len(clocks) > 1:
        problems.append("the function reads the clock more than once: one argument cannot stand for several readings")
    text = sorted(texts)[0]
    original = clocks[0][1]

    def outer_value(use: Use):
        return cst.parse_expression(text)

    def inside(converted: FunctionNode) -> list[cst.CSTNode]:
        return [call for _d, call in clocks if converted is function]

    thread = Thread(Slot("now"), outer_value, inside=inside, describe=view.code(original))
    threader.seed(function, thread, takes=True, gives=False)
    return f"the time ({text}) becomes the argument `now`"


def _thread_key(context: RewriteContext, threader, function: FunctionNode, draws, problems: list[str]) -> str:
    view = context.view
    problems.append(RANDOMNESS_CHANGES)
    jax_name = context.imports.module("jax")
    global_key = _module_key(context, jax_name)
    subkeys = ["subkey"] if len(draws) == 1 else [f"subkey{i + 1}" for i in range(len(draws))]
    for (diagnostic, call), subkey in zip(draws, subkeys):
        replacement = _jax_draw(view, jax_name, diagnostic.state, call, subkey, problems)
        if replacement is not None:
            context.edits.substitute(call, replacement)
        if any(isinstance(a, LOOPS) for a in _ancestors_within(view, call, function)):
            problems.append(
                f"{view.place_of_line(diagnostic.line)}: drawn in a loop: "
                "split the key per iteration or draw all at once with a shape"
            )

    def outer_value(use: Use):
        site = use.call if use.call is not None else use.node
        caller = view.enclosing_function(site)
        if caller is not None and binds_locally(view, caller, global_key):
            return f"the caller has its own `{global_key}`"
        return cst.Name(global_key)

    def outer_target(use: Use):
        problem = outer_value(use)
        return problem if isinstance(problem, str) else OuterTarget(cst.Name(global_key), declare_global=global_key)

    split_count = "" if len(subkeys) == 1 else f", {len(subkeys) + 1}"

    def entry(converted: FunctionNode):
        if converted is not function:
            return []
        local = thread.slot.local
        targets = ", ".join([local, *subkeys])
        return [cst.parse_statement(f"{targets} = {jax_name}.random.split({local}{split_count})\n")]

    thread = Thread(Slot("key"), outer_value, outer_target, entry=entry, describe="key")
    threader.seed(function, thread, takes=True, gives=True)
    return "a `jax.random` key argument replaces the host generator (split at the start, returned with the output)"


def _jax_draw(
    view: ModuleView, jax_name: str, qualified: str, call: cst.Call, subkey: str, problems: list[str]
) -> Optional[cst.BaseExpression]:
    draw = jax_draw(qualified, call, view.code, jax_name, subkey)
    if isinstance(draw, str):
        problems.append(draw)
        return None
    return draw


def _module_key(context: RewriteContext, jax_name: str) -> str:
    """The module's key: one made by an earlier rewrite (`rng_key = jax.random.key(0)`) is shared, since
    every draw threads the same random state; otherwise a new one after the imports."""
    view = context.view
    for statement in view.module.body:
        for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
            if (
                isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and small.targets[0].target.value.startswith("rng_key")
                and isinstance(small.value, cst.Call)
                and view.qualified(small.value.func) in ("jax.random.key", "jax.random.PRNGKey")
            ):
                return small.targets[0].target.value
    name = context.pool.fresh(view.module, "rng_key")
    line = cst.parse_statement(f"{name} = {jax_name}.random.key(0)  # the random state, passed explicitly\n")
    body = view.module.body
    imports = [s for s in body if isinstance(s, cst.SimpleStatementLine)
               and all(isinstance(small, (cst.Import, cst.ImportFrom)) for small in s.body)]
    leading_imports = []
    for statement in body:
        if statement not in imports:
            break
        leading_imports.append(statement)
    if leading_imports:
        context.edits.insert_after(leading_imports[-1], [line])
        return name
    first_definition = next((s for s in body if isinstance(s, (cst.FunctionDef, cst.ClassDef))), None)
    if first_definition is not None:
        context.edits.insert_before(first_definition, [line], blank_lines=2)
    return name


def _ancestors_within(view: ModuleView, node: cst.CSTNode, stop: FunctionNode):
    for ancestor in view.ancestors(node):
        if ancestor is stop:
            return
        yield ancestor


def _name_slots(threader) -> None:
    """`key` / `now` unless a converted function already uses the name."""
    for entry in threader.converted.values():
        for thread in entry.threads:
            slot = thread.slot
            if getattr(slot, "_named", False):
                continue
            taken = set().union(*(variables_in(e.conversion.function) for e in threader.converted.values()))
            base = slot.local
            for candidate in (base, f"{base}_arg", f"rng_{base}"):
                if candidate not in taken:
                    slot.local = candidate
                    break
            slot._named = True  # type: ignore[attr-defined]
