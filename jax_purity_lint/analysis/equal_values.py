"""Whether every binding of a name gives it the same value: a statement run again, the same code again.

A notebook's set-up cell run once more (`box = periodic(L)` after the same `L = 10.0`), or a training
loop that re-runs `n_batches, order = init()` every epoch, rebinds a name that a trace read, but to a
value computed the same way from the same inputs. A cached trace then computes what an eager call
would, as long as the computation gives equal results for equal inputs.

A value is named by how it is computed: the expression's code as CPython parses it (layout and
comments do not count), with, for each name it reads, the value that name holds. A name holds one
value when all of its bindings compute the same one and nothing changes it in place; a parameter holds
one value within its function's frame. Calls are taken to return equal results for equal inputs,
except where that is known not to hold or cannot be told: host randomness and clocks, `next` and the
other builtins that read host state, a method of an object (which may keep state), and a function or
class of the module itself (which may change its globals). That remains a guess: a loader closure
`get_batch()` from a library returns the next batch at each call. So findings resting on it are kept
apart, under an opt-in code (JPL104), not dropped.
"""

from __future__ import annotations

import ast
from typing import Hashable, Optional

import libcst as cst

from . import jax_api
from .resolution import Resolver
from .scopes import Binding, BindingKind, Scope, ScopeKind
from .state import StateModel

ValueKey = Hashable

# Builtins whose result depends on the host's state, not only on their arguments.
_HOST_BUILTINS = frozenset(
    {"next", "iter", "input", "open", "id", "hash", "globals", "locals", "vars", "object", "exec", "eval"}
)
_CODE = cst.Module(body=[])
_OPAQUE = (
    ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr, ast.Await, ast.Yield,
    ast.YieldFrom,
)


class EqualValues:
    """The values names hold, as far as the code shows them to be one value; one per module analysis."""

    def __init__(self, resolver: Resolver, state: StateModel) -> None:
        self.resolver = resolver
        self.state = state
        self._held: dict[tuple[int, int, str], Optional[ValueKey]] = {}
        self._made: dict[tuple[int, int], Optional[ValueKey]] = {}
        self._busy: set[tuple[int, int]] = set()

    def rebinds_to_equal(self, owner: Scope, name: str, node: cst.CSTNode) -> bool:
        """Is the binding at `node` one of the bindings of `owner`'s `name`, all of which compute one value?"""
        bindings = self._bindings(owner, name)
        if bindings is None or not any(binding.node is node for _, binding in bindings):
            return False
        return self.held(owner, owner, name) is not None

    def held(self, home: Scope, owner: Scope, name: str) -> Optional[ValueKey]:
        """The one value `owner`'s `name` holds whenever it is read, seen from code of `home` (whose
        parameters, and those of the functions around it, hold one value each); None when it may hold
        several."""
        memo = (id(home), id(owner), name)
        if memo not in self._held:
            self._held[memo] = None  # while it is worked out: `x = f(x)` is made from its own value
            bindings = self._bindings(owner, name)
            keys = {self._made_by(home, scope, binding) for scope, binding in bindings or []}
            self._held[memo] = keys.pop() if len(keys) == 1 else None
        return self._held[memo]

    def _bindings(self, owner: Scope, name: str) -> Optional[list[tuple[Scope, Binding]]]:
        """Every binding of the variable, with the scope that makes it (a `global`/`nonlocal` writer's
        included); None when something also changes it in place."""
        found = [(owner, binding) for binding in owner.bindings.get(name, [])]
        if owner.kind is ScopeKind.MODULE:
            changes = self.state.global_changes.get(name, [])
        else:
            changes = self.state.closure_changes.get((id(owner), name), [])
        for change in changes:
            if change.scope is owner and any(binding.node is change.node for _, binding in found):
                continue
            writer = next((b for b in change.scope.bindings.get(name, []) if b.node is change.node), None)
            if writer is None:
                return None  # changed in place, or through an attribute of its own
            found.append((change.scope, writer))
        return found

    def _made_by(self, home: Scope, scope: Scope, binding: Binding) -> Optional[ValueKey]:
        """The value one binding gives its name."""
        memo = (id(home), id(binding.node))
        if memo in self._made:
            return self._made[memo]
        if memo in self._busy:
            return None  # `x = f(x)`: computed from its own earlier value
        self._busy.add(memo)
        try:
            key = self._binding_value(home, scope, binding)
        finally:
            self._busy.discard(memo)
        self._made[memo] = key
        return key

    def _binding_value(self, home: Scope, scope: Scope, binding: Binding) -> Optional[ValueKey]:
        kind = binding.kind
        if kind is BindingKind.IMPORT:
            return ("import", binding.qualified, binding.imported)
        if kind in (BindingKind.FUNCTION, BindingKind.CLASS):
            return ("def", id(binding.node))  # the same code each time it runs
        if kind is BindingKind.ARGUMENT:
            return ("parameter", id(binding.node)) if _encloses(scope, home) else None
        if kind is not BindingKind.ASSIGNMENT:
            return None  # updated (`+=`), a loop target, deleted, bound by `with`/`except`/walrus
        if binding.value is not None:
            return self._expression_value(home, scope, binding.value, binding)
        if binding.unpacked_from is not None:
            value, position = binding.unpacked_from
            whole = self._expression_value(home, scope, value, binding)
            return None if whole is None else ("element", whole, position)
        return None

    def _expression_value(
        self, home: Scope, scope: Scope, expression: cst.BaseExpression, at: Binding
    ) -> Optional[ValueKey]:
        """The value `expression`, evaluated where `at` binds it, computes."""
        try:
            tree = ast.parse("(\n" + _CODE.code_for_node(expression) + "\n)", mode="eval")
        except (SyntaxError, ValueError, RecursionError):
            return None
        inputs: dict[str, ValueKey] = {}
        for node in ast.walk(tree):
            if isinstance(node, _OPAQUE):
                return None  # makes a new function or binds names of its own
            if isinstance(node, ast.Call) and not self._repeatable_call(scope, node.func):
                return None
            if isinstance(node, ast.Name) and node.id not in inputs:
                value = self._name_value(home, scope, node.id, at)
                if value is None:
                    return None
                inputs[node.id] = value
        return (ast.dump(tree), tuple(sorted(inputs.items(), key=lambda item: item[0])))

    def _name_value(self, home: Scope, scope: Scope, name: str, at: Binding) -> Optional[ValueKey]:
        """The value `name` has when the statement binding `at` runs."""
        resolved = self.resolver.resolve(scope, name)
        if resolved is None:
            return ("builtin", name)
        held = self.held(home, resolved.scope, name)
        if held is not None or resolved.scope is not scope:
            return held
        # Rebound in between (`N = 1500`, a loop `for N in ...`, `N = 1500` again): in the scope's own
        # straight-line code, the binding in force is the last one above.
        in_force = self._binding_in_force(scope, name, at)
        return None if in_force is None else self._made_by(home, scope, in_force)

    def _binding_in_force(self, scope: Scope, name: str, at: Binding) -> Optional[Binding]:
        """The binding of `name` that a read at `at` sees for certain: the last one above it in the same
        scope, outside any branch or loop that `at` is not in; None when another may be in force (a
        binding in the loop around `at`, a writer in another function, a change in place)."""
        bindings = self._bindings(scope, name)
        if bindings is None or any(owner is not scope for owner, _ in bindings):
            return None
        if at.loop is not None and any(b.loop == at.loop for _, b in bindings):
            return None  # the next iteration may see the value bound further down the loop
        above = [b for _, b in bindings if b.order < at.order]
        if not above:
            return None
        last = max(above, key=lambda b: b.order)
        if last.loop is not None and last.loop != at.loop:
            return None  # a loop that may not run
        if last.branch != at.branch[: len(last.branch)]:
            return None  # an arm that may not run
        return last

    def _repeatable_call(self, scope: Scope, func: ast.expr) -> bool:
        """May a call of `func` be taken to return equal results for equal inputs?"""
        path: list[str] = []
        while isinstance(func, ast.Attribute):
            path.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            return False  # `f()()`, `fns[0]()`
        resolved = self.resolver.resolve(scope, func.id)
        if resolved is None:
            return func.id not in _HOST_BUILTINS
        bindings = resolved.bindings
        if any(b.kind in (BindingKind.FUNCTION, BindingKind.CLASS) for b in bindings):
            return False  # the module's own code: it may change the module's state
        imports = [b for b in bindings if b.kind is BindingKind.IMPORT]
        if not path:
            return not imports or _repeatable(imports)
        # `space.periodic(L)` on a module is a function of that module; `loader.next()` on an object,
        # a method that may keep state.
        if not imports or len(imports) != len(bindings):
            return False
        return _repeatable(imports, tuple(reversed(path)))


def _repeatable(imports: list[Binding], path: tuple[str, ...] = ()) -> bool:
    for binding in imports:
        if binding.qualified is None:
            continue  # a module of the project, imported relatively: a function of it, as any other
        qualified = ".".join((binding.qualified, *path))
        if qualified in jax_api.HOST_RANDOMNESS_EXCEPTIONS:
            continue
        if qualified.startswith(jax_api.HOST_RANDOMNESS_PREFIXES) or qualified in jax_api.HOST_RANDOMNESS_FUNCTIONS:
            return False
        if qualified.split(".", 1)[0] in ("time", "datetime", "os", "sys"):
            return False  # clocks and the process's state
    return True


def _encloses(outer: Scope, inner: Scope) -> bool:
    scope: Optional[Scope] = inner
    while scope is not None:
        if scope is outer:
            return True
        scope = scope.parent
    return False
