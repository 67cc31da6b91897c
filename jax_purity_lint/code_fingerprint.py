"""A hash of the package's own sources, for the caches of what the analysis computes (`check`'s
results, the project-wide analysis's module summaries): an edited rule in a development checkout,
whose version has not changed, must not be answered with results of the old code."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
# Subpackages that never feed a `check` result: the runtime checker (`confirm`) and the rewrites (`fix`).
NOT_FEEDING_CHECK = frozenset({"runtime", "rewrites"})


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The surfaces that only run after `check` (confirm, fix) are left out; anything new is counted."""
    digest = hashlib.blake2b(digest_size=16)
    for source in sorted(PACKAGE_ROOT.rglob("*.py")):
        relative = source.relative_to(PACKAGE_ROOT)
        if relative.parts[0] in NOT_FEEDING_CHECK:
            continue
        digest.update(relative.as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()
