"""Run work that recursed too deeply once more, on a thread with a deep stack and a raised limit.

libcst's visitors, its position metadata and the collector recurse once per nesting level, several
Python frames each: valid code a few hundred levels deep (a long `elif` chain, thousands of
implicitly concatenated strings, as in the standard library's pydoc_data/topics.py) exceeds
Python's default limit of 1,000 frames long before it exceeds the machine. The preflight checks
keep what reaches this point within CPython's own parser limits, so a 512 MB stack is ample.

The recursion limit is process-wide: it is raised only while the thread runs, one retry at a time.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable, TypeVar

T = TypeVar("T")

DEEP_STACK_BYTES = 512 * 1024 * 1024  # reserved address space; only the pages used are committed
DEEP_RECURSION_LIMIT = 50_000
_one_at_a_time = threading.Lock()


def retry_deep(work: Callable[[], T]) -> T:
    """`work()`; if it runs out of recursion (even behind another exception), once more on a deep stack."""
    try:
        return work()
    except Exception as error:
        if not raised_by(error, RecursionError):
            raise
    return on_deep_stack(work)


def on_deep_stack(work: Callable[[], T]) -> T:
    """`work()` on a fresh thread with a deep stack: its result, or its exception raised here."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # handed back to the caller's thread
            outcome["error"] = error

    with _one_at_a_time:
        previous_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(previous_limit, DEEP_RECURSION_LIMIT))  # before the thread recurses
        try:
            _start_deep_thread(run).join()
        finally:
            sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def _start_deep_thread(run: Callable[[], None]) -> threading.Thread:
    """A started thread with a deep stack, or a RecursionError when the platform refuses one."""
    try:
        previous_size = threading.stack_size(DEEP_STACK_BYTES)
    except (ValueError, RuntimeError) as error:
        raise RecursionError("no deep stack available on this platform") from error
    try:
        thread = threading.Thread(target=run, name="jax-purity-lint deep stack", daemon=True)
        thread.start()
        return thread
    except (RuntimeError, MemoryError) as error:
        raise RecursionError("could not start a thread with a deep stack") from error
    finally:
        threading.stack_size(previous_size)


def raised_by(error: BaseException, kind: type[BaseException]) -> bool:
    """`error`, or an exception it was raised while handling, is a `kind` (libcst turns a
    RecursionError in position tracking into a KeyError)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
