"""Child side: the ``__jpl_runtime__`` object the rewritten source calls at each trace site.

``site(line, col, transform, applied)`` applies ``applied`` (the original transformation, a
stand-in, or ``None`` for "no transformation": the site switched off) and records what comes back:
for a function transform (jit, pmap, checkpoint, ...) every call of the transformed function, for an
immediate one (lax.scan, cond, ...) the call itself. Calls made while another trace is active
(inside a jitted function, under grad/vmap) carry tracers, not results: they are only counted as
nested. The state the site's diagnoses name (state_watch.py) is read before and after each recorded
call, from the globals of the module that holds the site.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..analysis.jax_api import FUNCTION_KEYWORDS
from .serialize import encode
from .state_watch import StateReader
from .stand_ins import stand_in_for
from .transforms import is_immediate

MAX_ERROR_CHARS = 500
# The watched state is read for the first calls of each site only: every read is an encode.
MAX_STATE_CALLS = 50


def _inside_a_trace() -> bool:
    try:
        from jax._src import core
    except ImportError:  # pragma: no cover - jax internals moved
        return False
    return not core.trace_state_clean()


def _original_transform(applied: Any) -> Any:
    """Undo the eager run's patches (checkpoint -> identity, ...) for the site kept jitted."""
    from .eager_patches import original_of

    return original_of(applied)


def _with_jit_enabled(function: Callable) -> Callable:
    """Calls of ``function`` run with jit on, even inside the eager run's ``jax.disable_jit()``."""
    import jax

    @functools.wraps(function)
    def jitted_even_in_eager_run(*args: Any, **kwargs: Any) -> Any:
        with jax.disable_jit(False):
            return function(*args, **kwargs)

    return jitted_even_in_eager_run


def describe_exception(error: BaseException) -> dict:
    kind = type(error)
    module = kind.__module__
    name = kind.__qualname__ if module in ("builtins", "") else f"{module}.{kind.__qualname__}"
    lines = str(error).strip().splitlines()
    first_line = lines[0] if lines else ""  # the rest is in the traceback
    return {"type": name, "message": first_line[:MAX_ERROR_CHARS]}


@dataclass
class SiteLog:
    key: str
    transform: str
    # {"index": n, "value": ...} or {"index": n, "error": {...}}, with "state": {name: {"before", "after"}}
    calls: list = field(default_factory=list)
    recorded_calls: int = 0
    nested_calls: int = 0
    dropped_calls: int = 0  # beyond the record limit
    tests: list = field(default_factory=list)  # under `confirm --pytest`: the tests that called it, in order
    watches: list = field(default_factory=list)  # state_watch watches of the diagnoses made at this site
    namespace: Optional[dict] = None  # the globals of the module holding the site

    def export(self) -> dict:
        return {
            "transform": self.transform,
            "tests": self.tests,
            "calls": self.calls,
            "recorded_calls": self.recorded_calls,
            "nested_calls": self.nested_calls,
            "dropped_calls": self.dropped_calls,
        }


def _function_argument(args: tuple, kwargs: dict) -> Optional[Callable]:
    if args and callable(args[0]):
        return args[0]
    for name in FUNCTION_KEYWORDS:
        if callable(kwargs.get(name)):
            return kwargs[name]
    return None


class RecordingCallable:
    """Stands where the transformed function stood: forwards calls (recording them), attribute access
    (`.lower`, `.clear_cache`, ...) and method binding."""

    def __init__(self, recorder: "SiteRecorder", log: SiteLog, target: Callable, state: Optional[StateReader] = None) -> None:
        object.__setattr__(self, "_jpl_recorder", recorder)
        object.__setattr__(self, "_jpl_log", log)
        object.__setattr__(self, "_jpl_target", target)
        object.__setattr__(self, "_jpl_state", state)
        try:
            functools.update_wrapper(self, target)  # type: ignore[arg-type]
        except (AttributeError, TypeError):
            pass

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._jpl_recorder.record_call(self._jpl_log, self._jpl_target, args, kwargs, self._jpl_state)

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        return functools.partial(self, instance)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_jpl_target"), name)

    def __repr__(self) -> str:
        return repr(self._jpl_target)


class SiteRecorder:
    def __init__(self, record_limit: int = 200, watches: Optional[dict[str, list[dict]]] = None) -> None:
        self.record_limit = record_limit
        self.watches = watches or {}  # site key -> the state its diagnoses name (state_watch.watches_for)
        self.logs: dict[str, SiteLog] = {}
        self.current_test: Optional[str] = None  # under `confirm --pytest`: the test running now

    def _log(self, line: int, col: int, transform: str, namespace: Optional[dict] = None) -> SiteLog:
        key = f"{line}:{col}"
        if key not in self.logs:
            self.logs[key] = SiteLog(key, transform, watches=self.watches.get(key, []))
        if namespace is not None:
            self.logs[key].namespace = namespace
        return self.logs[key]

    # -- called by the rewritten source -----------------------------------------------------------

    def stand_in(self, transform: str, transform_expression: Any) -> Callable:
        return stand_in_for(transform, transform_expression)

    def site(self, line: int, col: int, transform: str, applied: Optional[Callable], jit_enabled: bool = False) -> Callable:
        """``jit_enabled``: this site stays jitted (caching) although the run is eager."""
        log = self._log(line, col, transform, _caller_globals())
        if jit_enabled and applied is not None:
            applied = _original_transform(applied)
        if is_immediate(transform):
            if applied is None:
                raise RuntimeError(f"{transform} cannot be switched off without a stand-in")
            immediate = _with_jit_enabled(applied) if jit_enabled else applied

            def call_immediately(*args: Any, **kwargs: Any) -> Any:
                return self.record_call(log, immediate, args, kwargs, self._immediate_state(log, args, kwargs))

            return call_immediately

        def apply(*args: Any, **kwargs: Any) -> Any:
            function = _function_argument(args, kwargs)
            if function is None:  # a decorator factory, e.g. `jax.jit(static_argnames=...)` used later
                decorator = (lambda fn: fn) if applied is None else applied(*args, **kwargs)
                return lambda fn: self._wrap(log, decorator(fn), jit_enabled, fn)
            transformed = function if applied is None else applied(*args, **kwargs)
            return self._wrap(log, transformed, jit_enabled, function)

        return apply

    def _wrap(self, log: SiteLog, transformed: Any, jit_enabled: bool = False, function: Any = None) -> Any:
        if not callable(transformed):
            return transformed
        state = self._function_state(log, function)
        return RecordingCallable(self, log, _with_jit_enabled(transformed) if jit_enabled else transformed, state)

    # -- the watched state -------------------------------------------------------------------------

    @staticmethod
    def _function_state(log: SiteLog, function: Any) -> Optional[StateReader]:
        """The state of a transformed function, called with its own arguments (jit, pmap, ...)."""
        if not log.watches:
            return None
        return StateReader(log.watches, log.namespace, [] if function is None else [function], direct=True) or None

    @staticmethod
    def _immediate_state(log: SiteLog, args: tuple, kwargs: dict) -> Optional[StateReader]:
        """The state of an immediate call (lax.scan, cond, ...): the functions it is handed."""
        if not log.watches:
            return None
        functions = [value for value in (*args, *kwargs.values()) if callable(value)]
        return StateReader(log.watches, log.namespace, functions, direct=False) or None

    # -- recording ---------------------------------------------------------------------------------

    def record_call(self, log: SiteLog, target: Callable, args: tuple, kwargs: dict, state: Optional[StateReader] = None) -> Any:
        if _inside_a_trace():
            log.nested_calls += 1
            return target(*args, **kwargs)
        index = log.recorded_calls
        log.recorded_calls += 1
        test = {} if self.current_test is None else {"test": self.current_test}
        if self.current_test is not None and self.current_test not in log.tests:
            log.tests.append(self.current_test)
        watched = state if state and index < MAX_STATE_CALLS else None
        before = watched.read(args, kwargs) if watched else {}
        try:
            result = target(*args, **kwargs)
        except BaseException as error:
            state_around = _state_entry(watched, before, args, kwargs)
            self._keep(log, {"index": index, "error": describe_exception(error), **test, **state_around})
            raise
        state_around = _state_entry(watched, before, args, kwargs)
        self._keep(log, {"index": index, "value": encode(result, max_nodes=20_000), **test, **state_around})
        return result

    def _keep(self, log: SiteLog, entry: dict) -> None:
        if len(log.calls) < self.record_limit:
            log.calls.append(entry)
        else:
            log.dropped_calls += 1

    def export(self) -> dict:
        return {key: log.export() for key, log in self.logs.items()}


def _caller_globals() -> Optional[dict]:
    """The globals of the code that called ``site``: the module holding the site."""
    try:
        return sys._getframe(2).f_globals
    except ValueError:  # pragma: no cover - no such frame
        return None


def _state_entry(state: Optional[StateReader], before: dict, args: tuple, kwargs: dict) -> dict:
    """{"state": {name: {"before": ..., "after": ...}}} for a call whose state was watched; else {}."""
    if not state:
        return {}
    after = state.read(args, kwargs)
    return {"state": {name: {"before": before[name], "after": after[name]} for name in before}}
