"""Stacks deep enough for libcst: its native parser on the C stack, its visitors on Python's.

The native parser recurses on the C stack of the calling thread (with_native_stack): the main
thread's is ample, but threads can have far less (128 KB with musl, whatever a host application
chose), so elsewhere it parses on a thread of its own with a known, large stack.

Python-level recursion is retried (retry_deep): libcst's visitors, its position metadata and the
collector recurse once per nesting level, several Python frames each, so valid code a few hundred
levels deep (a long `elif` chain, thousands of implicitly concatenated strings, as in the standard
library's pydoc_data/topics.py) exceeds Python's default limit of 1,000 frames long before it
exceeds the machine. The preflight keeps what reaches this point within CPython's own parser
limits, so a 512 MB stack is ample.

The recursion limit is process-wide: it is raised only while the thread runs, one retry at a time.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable, TypeVar

T = TypeVar("T")

DEEP_STACK_BYTES = 512 * 1024 * 1024  # reserved address space; only the pages used are committed
DEEP_RECURSION_LIMIT = 50_000
NATIVE_STACK_BYTES = 64 * 1024 * 1024
_one_at_a_time = threading.Lock()
_stack_size_lock = threading.Lock()


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
    with _one_at_a_time:
        previous_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(previous_limit, DEEP_RECURSION_LIMIT))  # before the thread recurses
        try:
            return _on_new_thread(work, DEEP_STACK_BYTES)
        finally:
            sys.setrecursionlimit(previous_limit)


def with_native_stack(work: Callable[[], T]) -> T:
    """`work()` where libcst's native parser has the C stack it needs: on the main thread (the
    process's stack, 8 MB by default, ample for what the preflight lets through), or else on a
    fresh thread with NATIVE_STACK_BYTES, since other threads may have far less (512 KB on macOS,
    where the parser crashes the process near 1,000 levels of nesting)."""
    if threading.current_thread() is threading.main_thread():
        return work()
    return _on_new_thread(work, NATIVE_STACK_BYTES)


def _on_new_thread(work: Callable[[], T], stack_bytes: int) -> T:
    """`work()` on a fresh thread with `stack_bytes` of stack: its result, or its exception raised here."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # handed back to the caller's thread
            outcome["error"] = error

    _start_thread(run, stack_bytes).join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def _start_thread(run: Callable[[], None], stack_bytes: int) -> threading.Thread:
    """A started thread with the stack asked for, or a RecursionError when the platform refuses one.
    The stack size is process-wide state: set and restored under a lock."""
    with _stack_size_lock:
        try:
            previous_size = threading.stack_size(stack_bytes)
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
