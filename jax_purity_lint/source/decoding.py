"""From bytes on disk to text, as Python itself reads a module."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path


def read_source(path: Path) -> str:
    """Decode as Python does: a coding cookie or BOM, else UTF-8."""
    with tokenize.open(path) as handle:
        return handle.read()


def decode_source(data: bytes) -> str:
    """Bytes decoded as Python decodes a file (coding cookie or BOM, else UTF-8), newlines kept."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)
