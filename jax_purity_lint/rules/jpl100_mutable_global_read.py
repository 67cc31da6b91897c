from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import libcst as cst

from ..analysis.reachability import TraceContext
from ..analysis.scopes import BindingKind, Effect, EffectKind, Scope, ScopeKind
from ..analysis.state import Change
from .base import (
    GroupBy,
    Finding,
    FixAvailability,
    Rule,
    PlaceOf,
    RuleContext,
    call_with_extra_argument,
    calls_of_helpers_elsewhere,
    dotted,
    first_change,
    first_remote_change,
    remote_place,
    through,
    traced_effects,
    where_traced,
)


class MutableGlobalRead(Rule):
    """
    ## What it does
    Flags traced code that reads a module-level name whose value changes: it is bound again, updated,
    or changed in place somewhere in the module, and a call can go through a compiled cache traced
    before the change. jit caches by the traced function object, so where the module's order of
    execution is known (scripts, notebooks in cell order), a change is not reported when that object is
    rebound before any later call (a notebook's "section 2" redefining the function), made afresh after
    the change (in a loop, or by a factory called again), or first called after the change (set-up at
    import time, a setter the module calls before any jitted call). A change made by a function that
    the module never calls itself is reported: others may call it at any time, unless that function
    builds the site itself after the change, and the change is the global's only one, to a value made
    of constants alone (a test's `global BATCH; BATCH = len(jax.devices()) * PER_DEVICE` above its
    `jax.jit(gen_data)`): every run sets the same value again.

    State imported from another module of the project counts too ([more](../projects.md)): `config.LR`
    read after `import config` is reported when any module of the project changes it after something
    may have traced (`config.LR = 0.5` after a first call, a setter called by the training loop), and
    an object imported by name (`from .state import CFG`) when any module changes it in place. A
    name imported with `from config import LR` is a copy: rebinding `config.LR` never reaches it, and
    is not reported. Set-up before anything traces (a module imported first, a setter called before
    the first jitted call, a registry filled while the modules load) is not reported. Neither is a
    stack of scopes that the code pushing it pops again (a `@contextmanager` that appends a name and
    pops it in `finally`, a class whose `__enter__` appends and `__exit__` pops): between two calls it
    holds what it held before. (A compiled function called inside a scope other than the one it was
    traced in replays the old stack: that case is not told apart.)

    A rebinding that runs again the code that made the value, with the same inputs (a notebook's
    set-up cell run once more), is left to the opt-in [JPL104](JPL104.md): it almost always gives an
    equal value. Any other rebinding is reported, to an equal value too (the two cannot be compared).

    ## Why is this bad?
    `jax.jit` runs the Python function once, while tracing, and compiles what it saw. The global's
    value at that moment is baked into the compiled program as a constant; when the global changes
    later, the jitted function keeps returning results for the old value, silently.

    ## Example
    ```python
    import jax

    g = 0.0

    @jax.jit
    def shift(x):
        return x + g

    print(shift(1.0))  # 1.0
    g = 10.0
    print(shift(1.0))  # still 1.0: the trace kept g = 0.0
    ```

    ## Use instead
    ```python
    import jax

    g = 0.0

    @jax.jit
    def shift(x, g):
        return x + g

    print(shift(1.0, g))  # 1.0
    g = 10.0
    print(shift(1.0, g))  # 11.0
    ```

    ## Fix safety
    The fix adds a parameter and passes the global at every call in the module; calls from other
    modules must be updated by hand, so it is offered as a diff, applied only where every call is local.
    State of another module is never rewritten: the rewrite needs review, and nothing is written.
    """

    code = "JPL100"
    name = "mutable-global-read"
    NEEDS_REUSE = "call"  # a stale value needs a second call through the same trace
    summary = "traced code reads a global that changes; its value is frozen at trace time"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL100.md).
    CONFIRM_EVIDENCE = (
        "A call after the global changes: once `shift` has run, `g = 10.0` makes `shift(1.0)` return 11.0 "
        "eagerly, while jitted it still returns 1.0, computed with the value `g` had when `shift` was traced."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Pass the global in as an argument"
    ADVICE = "pass the global as an argument: `f(x, g)`"
    FIX_BUILDER = "global_read.build_global_read"
    GROUP_BY = GroupBy.STATE
    INVALID = [
        "import jax\ng = 0.0\n@jax.jit\ndef f(x):\n    return x + g  # expect: JPL100\nf(1.0)\ng = 1.0\n",
        "import jax\nhistory = []\ndef log(v):\n    history.append(v)\n@jax.jit\ndef f(x):\n    return x * len(history)  # expect: JPL100\n",
    ]
    # `fix` on an example, and what it writes (tests/test_rule_registry.py runs each).
    FIX_EXAMPLES = [
        (
            'import jax\ng = 0.0\n@jax.jit\ndef f(x):\n    return x + g\nf(1.0)\ng = 1.0\n',
            'import jax\ng = 0.0\n@jax.jit\ndef f(x, g):\n    return x + g\nf(1.0, g)\ng = 1.0\n',
        ),
    ]
    VALID = [
        "import jax\nLEARNING_RATE = 0.005\n@jax.jit\ndef f(x):\n    return x * LEARNING_RATE\n",
        "import jax\ng = 0.0\n@jax.jit\ndef f(x, g):\n    return x + g\ng = 1.0\n",
        "import jax\ng = 0.0\n@jax.jit\ndef f(x):\n    g = 2.0\n    return x + g\ng = 1.0\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for read in stale_global_reads(context):
            if not read.changes:
                remote = self._changed_in_another_module(context, read.scope, read.trace, read.effect)
                if remote is not None:
                    yield remote
                continue
            if not read.late:
                continue  # only the code that made it runs again: JPL104, when selected
            yield self.finding(read.effect.node, read.scope, read.trace, read.state, read.render(list(read.late)))
        yield from self._reads_in_other_modules(context)

    def _reads_in_other_modules(self, context: RuleContext) -> Iterator[Finding]:
        """A call of a project function of another module that reads (itself or through its calls)
        state of its module, or of a third, that changes late."""
        relative_to = os.path.dirname(context.module_path or "")
        for scope, trace, effect, called, reads in calls_of_helpers_elsewhere(context, "read"):
            owner = context.cache_owner(trace)
            if context.lives is not None and context.lives.lives_within_one_run(owner):
                continue
            if not context.cache_reused(trace):
                continue
            first = reads[0]
            where = remote_place(first.path, first.line, relative_to) + through(first.helper, called)
            changed = first_remote_change(list(first.changes), relative_to)

            def render(place_of, scope=scope, trace=trace, called=called, first=first, where=where, changed=changed) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} calls `{called}`, which reads `{first.what}` at {where}"
                    f", state changed at {changed}; its value is frozen when the function is traced, so "
                    f"later changes are ignored. Make the state explicit: pass it in as an argument"
                )

            related = tuple(
                (c.path, c.line, f"`{e.what}` changes here ({c.how})") for e in reads for c in e.changes
            )
            module = called.rsplit(".", 1)[0] if "." in called else ""
            state = f"{module}.{first.what}" if module else first.what  # as this module can reach it
            yield self.finding(effect.node, scope, trace, state, render, variant="remote", related=related)

    def _changed_in_another_module(self, context: RuleContext, scope, trace, effect) -> Optional[Finding]:
        """State of a project module, read through an import: changed by whichever module changes it."""
        assert effect.root is not None
        owner = context.cache_owner(trace)
        if context.lives is not None and context.lives.lives_within_one_run(owner):
            return None  # made afresh by each run of its maker: traced after whatever other modules did
        changes, depth = context.remote_changes(effect.root, effect.path)
        if not changes or not context.cache_reused(trace):
            return None
        state = dotted(effect.root, effect.path[:depth])
        root = effect.root
        relative_to = os.path.dirname(context.module_path or "")

        def render(place_of, scope=scope, trace=trace, state=state, changes=changes, root=root) -> str:
            cure = _pass_it_in(scope, trace, state.replace(".", "_"))
            return (
                f"{where_traced(scope, trace, place_of)} reads `{state}`, state of another module changed at "
                f"{first_remote_change(changes, relative_to)}; its value is frozen when the function is "
                f"traced, so later changes are ignored. Make the state explicit and {cure}"
            )

        related = tuple((c.path, c.line, f"`{c.state}` changes here ({c.how})") for c in changes)
        return self.finding(effect.node, scope, trace, state, render, variant="remote", related=related)


@dataclass(frozen=True)
class StaleGlobalRead:
    """A read, in traced code, of a global of this module that changes after a trace may have seen it."""

    scope: Scope
    trace: TraceContext
    effect: Effect
    # Those a call through a cache traced before them can see; none: it may change in another module.
    changes: tuple[Change, ...]
    state: str  # `g`, `cfg.lr`: what the message names
    # Those of `changes` that are not the code that made the value run again (analysis/equal_values.py):
    # JPL100's; when there are none, the read is JPL104's.
    late: tuple[Change, ...] = ()

    def render(self, changes: list[Change]) -> Callable[[PlaceOf], str]:
        scope, trace, state, root = self.scope, self.trace, self.state, self.effect.root

        def message(place_of: PlaceOf) -> str:
            cure = _pass_it_in(scope, trace, root)
            return (
                f"{where_traced(scope, trace, place_of)} reads global `{state}`, which is "
                f"{first_change(changes, place_of)}; its value is frozen when the function is traced, "
                f"so later changes are ignored. Make the state explicit and {cure}"
            )

        return message


def stale_global_reads(context: RuleContext) -> list[StaleGlobalRead]:
    """Every read of a global of this module by traced code, with the changes that reach a cache traced
    before them (none when this module does not change it); shared by JPL100 and JPL104, found once."""
    return context.once("stale-global-reads", lambda: list(_stale_global_reads(context)))


def _stale_global_reads(context: RuleContext) -> Iterator[StaleGlobalRead]:
    for scope, trace, effect in traced_effects(context, EffectKind.READ):
        if effect.root is None or effect.detail == "metadata":
            continue
        resolved = context.resolver.resolve(scope, effect.root)
        if resolved is None or not resolved.is_global:
            continue
        if effect.root in scope.global_names and effect.root in scope.bindings:
            continue  # the function writes it too: reported once, as JPL101
        attribute = effect.path[0] if effect.path else None
        # `counter.count()`: the call is followed into the method, which reports what it reads of
        # the object; here only a new object bound to the name is stale (`OPT = SGD(0.5)`).
        method_call = attribute is not None and _is_method_of_instance(context, effect.root, attribute)
        changes = [
            c
            for c in context.state.changes_of_global(effect.root, None if method_call else attribute)
            if (c.rebinds or not method_call)
            and not c.before_tracing(trace.site.order, context.resolver.module)
            and context.change_reaches(trace, c, scope)
        ]
        if changes and _settled_before_the_site(context, trace, effect.root):
            continue
        if changes and all(c.scope is scope and c.order >= effect.order for c in changes):
            continue
        state = effect.root if method_call else dotted(effect.root, effect.path)
        module = context.resolver.module
        late = tuple(c for c in changes if not context.equal_values.rebinds_to_equal(module, effect.root, c.node))
        yield StaleGlobalRead(scope, trace, effect, tuple(changes), state, late)


def _pass_it_in(scope, trace, argument: str) -> str:
    """The cure, with the call to write when the traced function is a def: `f(x, g)`."""
    if scope.kind is ScopeKind.MODULE:
        return "pass it in as an argument"
    return f"pass it in as an argument: {call_with_extra_argument(trace, argument)}"


def _settled_before_the_site(context: RuleContext, trace, name: str) -> bool:
    """`global BATCH_SIZE; BATCH_SIZE = len(jax.devices()) * PER_DEVICE` in a test function, then
    `jax.jit(gen_data)` built and called below it in the same function: the global's only change, made
    before the site, to a value that no argument, local or changing global feeds, so every run of the
    function sets the same value again and no trace of this site sees another."""
    every = context.state.changes_of_global(name, None)  # the changes the caller found are among them
    if len(every) != 1:
        return False
    change = every[0]
    function = change.scope
    if function.kind is not ScopeKind.FUNCTION or not change.rebinds or change.in_loop or change.branch:
        return False
    if trace.site.scope is not function or trace.site.order <= change.order:
        return False
    binding = next((b for b in function.bindings.get(name, []) if b.node is change.node), None)
    if binding is None or binding.kind is not BindingKind.ASSIGNMENT or binding.value is None:
        return False
    return _made_of_constants(context, function, binding.value)


def _made_of_constants(context: RuleContext, scope, value: cst.BaseExpression) -> bool:
    """Every name the expression reads is a builtin or a module-level name that never changes."""
    names = _NamesRead()
    value.visit(names)
    if names.opaque:
        return False
    for name in names.found:
        resolved = context.resolver.resolve(scope, name)
        if resolved is None:
            continue  # a builtin
        if not resolved.is_global or context.state.changes_of_global(name, None):
            return False
    return True


class _NamesRead(cst.CSTVisitor):
    """The names an expression reads (not attribute names or keywords); lambdas and comprehensions,
    which bind names of their own, make it opaque."""

    def __init__(self) -> None:
        self.found: set[str] = set()
        self.opaque = False

    def visit_Name(self, node: cst.Name) -> None:
        self.found.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        self.opaque = True
        return False

    def visit_ListComp(self, node) -> bool:
        self.opaque = True
        return False

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp


def _is_method_of_instance(context: RuleContext, name: str, attribute: str) -> bool:
    resolver = context.resolver
    resolved = resolver.resolve(resolver.module, name)
    if resolved is None:
        return False
    binding = resolver.binding_at(resolved, None)
    cls = resolver.instance_class(resolver.module, binding) or resolver.class_of_binding(binding)
    return cls is not None and resolver.methods(cls, attribute) is not None
