"""Pause Python's cyclic garbage collector while a libcst tree is alive.

A libcst tree of a large file is millions of container objects, and every full collection traverses
all of them: on a 60,000-line file the collector ran 18 full passes, a fifth of the analysis, which
bent the time per line upwards with the file's size. The tree holds no reference cycles of its own
and is freed by reference counting. The analysis's own cycles (scopes and their parents) would keep
it alive for the collector to traverse when it resumes, so they are cut once the result lets the
tree go (ModuleAnalysis.release).

The collector is process-wide: with several threads analysing at once it resumes only when the last
of them is done, and only if it was running before the first began.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_lock = threading.Lock()
_pausing = 0  # analyses in progress that asked for the pause
_resume = False  # whether the collector was running when the first of them began


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    global _pausing, _resume
    with _lock:
        if _pausing == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _resume:
                gc.enable()
