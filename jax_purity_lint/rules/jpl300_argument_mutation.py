from __future__ import annotations

from typing import Iterator

import libcst as cst

from ..analysis import jax_api
from ..analysis.scopes import BindingKind, EffectKind, ScopeKind
from ..analysis.state import describe_effect
from ..analysis.tree import argument_for
from .base import Finding, FixAvailability, Rule, RuleContext, dotted, function_name, traced_effects, where_traced

_MUTATIONS = (EffectKind.ATTR_STORE, EffectKind.ITEM_STORE, EffectKind.MUTATOR_CALL)


def _stateful_annotation(context: RuleContext, scope, name: str) -> bool:
    annotation = scope.param_annotations.get(name)
    if annotation is None:
        return False
    qualified = context.resolver.qualify(scope.parent or scope, annotation) or ""
    return qualified.startswith(jax_api.STATEFUL_ARGUMENT_PREFIXES)


class ArgumentMutation(Rule):
    """
    ## What it does
    Flags a jitted function that changes one of its own arguments in place:
    `state["step"] += 1`, `params.append(p)`, `config.lr = ...`.

    A helper the jitted function hands its argument to counts too (`preprocess(batch)` doing
    `batch["image"] = ...`), reported in the helper; `fix` gives advice only there.

    `**kwargs` (and `*args`) are built afresh for every call: `kwargs.pop("dt")` changes nothing the
    caller holds, so it is not reported; `kwargs["cfg"]["lr"] = 1.0` (a caller's dict inside it) is.

    Opt-in: on public repositories no flag was a bug the caller could see: the changed dict was the
    batch of an evaluation step that the caller never reads again, or it was returned as the new state
    and the caller rebound its name to the result (`state = step(state)`). The rule does not yet ask
    whether the caller reads the argument after the call.

    ## Why is this bad?
    jit flattens its arguments into arrays and rebuilds fresh containers inside the trace. Eagerly
    the caller's dict is updated; under jit the update happens to a copy and is lost.

    ## Example
    ```python
    import jax

    @jax.jit
    def step(state, x):
        state["count"] = state["count"] + 1
        return x * 2
    ```

    ## Use instead
    ```python
    import jax

    @jax.jit
    def step(state, x):
        new_state = {**state, "count": state["count"] + 1}
        return x * 2, new_state
    ```

    ## Fix safety
    Safe when every call in the module is updated to take the returned state; applied as a diff.
    """

    code = "JPL300"
    OPT_IN = True  # 0 true of 16 flags on real code (docs/real-world.md): select JPL300 to turn it on
    name = "argument-mutation"
    summary = "a jitted function mutates an argument in place; the caller's object is not updated"
    # What `jax-purity-lint confirm` shows for it, eager against jitted (docs/rules/JPL300.md).
    CONFIRM_EVIDENCE = (
        "The argument in the caller after each call: eagerly `state['count']` goes up at every call, jitted "
        "it never changes, because the update happened to a copy inside the trace."
    )
    FIX = FixAvailability.SOMETIMES
    FIX_TITLE = "Return the updated argument with the output"
    ADVICE = "return the updated argument (`return out, new_state`) instead of changing it"
    FIX_BUILDER = "state_return.build_argument_return"
    INVALID = [
        "import jax\n@jax.jit\ndef f(state, x):\n    state['step'] = state['step'] + 1  # expect: JPL300\n    return x\n",
    ]
    VALID = [
        "import jax\n@jax.jit\ndef f(state, x):\n    return x, {**state, 'step': state['step'] + 1}\n",
        "import jax\n@jax.jit\ndef f(state, x):\n    state = dict(state)\n    state['step'] = 1\n    return x, state\n",
    ]

    def check(self, context: RuleContext) -> Iterator[Finding]:
        for scope, trace, effect in traced_effects(context, *_MUTATIONS):
            if not trace.is_entry or trace.entry is not scope or not trace.site.compile_and_cache:
                continue
            if trace.state_aware or effect.root is None or effect.root == scope.self_name:
                continue
            if not context.state.is_mutation(scope, effect):
                continue
            bindings = scope.bindings.get(effect.root, [])
            if not bindings or bindings[0].kind is not BindingKind.ARGUMENT:
                continue
            if any(b.kind is not BindingKind.ARGUMENT and b.order < effect.order for b in bindings):
                continue  # rebound to a local copy first
            if effect.root in scope.packed_params and _changes_the_packed_object(effect):
                continue  # `kwargs.pop("dt")`: Python builds `**kwargs` afresh for every call
            if context.hijax and effect.kind is EffectKind.ITEM_STORE:
                continue  # `v["a"] += 1` on a hijax nnx Variable: a ref update jit carries out
            if _stateful_annotation(context, scope, effect.root):
                continue  # `metrics: nnx.Variable`: a reference type whose updates jit carries out
            if context.state.mutable_default(scope, effect.root) is not None:
                continue  # `seen=[]`: the shared default object is JPL102's finding
            if effect.root in scope.returned_names:
                continue  # mutated and returned: the caller rebinds from the result, explicit state
            state = dotted(effect.root, effect.path)
            how = describe_effect(effect)
            root = effect.root

            def render(place_of, scope=scope, trace=trace, state=state, how=how, root=root) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} mutates its argument `{state}` in place ({how}); "
                    f"under jit it changes a copy, so the caller's `{root}` is left as it was. Return the new "
                    f"value instead: `return out, new_{root}` from `{function_name(scope)}`"
                )

            yield self.finding(effect.node, scope, trace, state, render)
        yield from self._mutated_by_helpers(context)

    def _mutated_by_helpers(self, context: RuleContext) -> Iterator[Finding]:
        """`step(batch)` jitted calls `preprocess(batch)`, which does `batch["image"] = ...`: the
        helper changes the caller's argument as surely as the jitted function would."""
        for scope, trace, effect in traced_effects(context, *_MUTATIONS):
            if trace.is_entry or scope.kind is not ScopeKind.FUNCTION or effect.root not in scope.params:
                continue
            if not trace.site.compile_and_cache or trace.state_aware or effect.root == scope.self_name:
                continue
            if any(b.kind is not BindingKind.ARGUMENT for b in scope.bindings.get(effect.root, [])):
                continue  # rebound to a copy somewhere in the helper
            if not context.state.is_mutation(scope, effect) or effect.root in scope.returned_names:
                continue
            if context.state.mutable_default(scope, effect.root) is not None:
                continue
            entry = trace.entry
            passed = _entry_argument_passed(context, entry, scope, effect.root)
            if passed is None:
                continue
            argument, call = passed
            state = dotted(effect.root, effect.path)
            how = describe_effect(effect)

            def render(place_of, scope=scope, trace=trace, state=state, how=how, argument=argument, call=call) -> str:
                return (
                    f"{where_traced(scope, trace, place_of)} mutates `{state}` in place ({how}), which is "
                    f"`{argument}`, the argument of `{function_name(trace.entry)}` passed to it at "
                    f"{place_of(call)}; under jit it changes a copy, so the caller's `{argument}` is left as "
                    f"it was. Return the new value instead, from `{function_name(scope)}` and from "
                    f"`{function_name(trace.entry)}`"
                )

            yield self.finding(effect.node, scope, trace, state, render, variant="helper")


def _entry_argument_passed(context: RuleContext, entry, helper, parameter: str):
    """(the entry's argument, the call) when the traced entry calls `helper` handing it one of its
    own arguments, not rebound, as `parameter`; None otherwise."""
    for effect in entry.effects:
        call = effect.call
        if effect.kind is not EffectKind.CALL or call is None or not isinstance(call.func, cst.Name):
            continue
        resolved = context.resolver.resolve(entry, call.func.value)
        binding = context.resolver.binding_at(resolved, None) if resolved else None
        if binding is None or binding.scope is not helper:
            continue
        if any(a.star for a in call.args):
            continue
        passed = argument_for(call, helper.params, parameter)
        if not isinstance(passed, cst.Name):
            continue
        name = passed.value
        bindings = entry.bindings.get(name, [])
        if not bindings or any(b.kind is not BindingKind.ARGUMENT for b in bindings):
            continue
        if name in entry.packed_params or name in entry.returned_names or name == entry.self_name:
            continue
        return name, call
    return None


def _changes_the_packed_object(effect) -> bool:
    """`kwargs.pop(k)` / `kwargs[k] = v` change the dict itself; `kwargs[k][j] = v` changes a caller's value."""
    if effect.kind is EffectKind.MUTATOR_CALL and effect.call is not None:
        func = effect.call.func
        return isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
    if effect.kind is EffectKind.ITEM_STORE:
        return isinstance(effect.node, cst.Subscript) and isinstance(effect.node.value, cst.Name)
    return False
