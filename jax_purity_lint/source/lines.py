"""Lines as CPython counts them: `\r\n`, `\r` and `\n` break a line; form feeds and the other
separators `str.splitlines` breaks at do not."""

from __future__ import annotations

import re

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def python_lines(text: str) -> list[str]:
    """The lines of `text`, without their breaks, numbered as Python numbers them."""
    lines = LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def line_of(text: str, index: int) -> int:
    """The 1-based line holding the character at `index`."""
    return len(LINE_BREAK.findall(text, 0, index)) + 1
