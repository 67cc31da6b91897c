"""`# noqa` comments, with flake8's meaning: bare silences every code, `# noqa: JPL100,JPL2` some."""

from __future__ import annotations

import re
from typing import Optional

# flake8's own pattern (flake8/defaults.py, NOQA_INLINE_REGEXP), so a comment means the same in both.
# Codes are letters then digits (`JPL100`); a list that does not parse counts as a bare `# noqa`.
NOQA_INLINE = re.compile(
    r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?",
    re.IGNORECASE,
)


def noqa_codes(line: str) -> Optional[frozenset[str]]:
    """None: no noqa; empty set: bare noqa (all codes); otherwise the listed codes or prefixes."""
    match = NOQA_INLINE.search(line)
    if match is None:
        return None
    codes = match.group("codes")
    if not codes:
        return frozenset()
    # Taken as written, as flake8 does: `# noqa: jpl100` matches the comment but silences nothing.
    return frozenset(code for code in re.split(r"[,\s]+", codes.strip()) if code)


def suppressed(code: str, line: str) -> bool:
    codes = noqa_codes(line)
    if codes is None:
        return False
    return not codes or any(code.startswith(prefix) for prefix in codes)
