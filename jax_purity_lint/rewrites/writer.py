"""Reading a source file exactly as it is, and writing its rewrite back atomically.

The text is decoded as Python would (coding cookie or BOM, else UTF-8) and keeps its newlines
(libcst reproduces `\\r\\n` files as they are). Writing goes to a temporary file in the same folder,
which takes the original's permission bits and is then moved over it with `os.replace`, so a reader
never sees half a file. Nothing is written when the result does not compile, or when the file changed
on disk since it was read.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path


class RefusedWrite(Exception):
    """The file was left untouched; the message says why."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    raw: bytes
    encoding: str
    text: str

    @classmethod
    def read(cls, path: Path) -> "SourceFile":
        raw = path.read_bytes()
        encoding, _lines = tokenize.detect_encoding(io.BytesIO(raw).readline)
        # newline="" semantics: decode without translating `\r\n`, so the rewrite keeps the file's newlines.
        text = raw.decode(encoding)
        return cls(path, raw, encoding, text)


def write_rewrite(source: SourceFile, new_text: str) -> None:
    """Replace ``source.path`` with ``new_text``, or raise RefusedWrite and leave the file as it was."""
    path = source.path
    try:
        compile(new_text, str(path), "exec")
    except (SyntaxError, ValueError) as error:
        raise RefusedWrite(f"the rewritten code does not compile ({error}); {path} left unchanged") from error
    try:
        data = new_text.encode(source.encoding)
    except UnicodeEncodeError as error:
        raise RefusedWrite(f"the rewrite cannot be encoded as {source.encoding}; {path} left unchanged") from error
    replace_file(path, source.raw, data)


def replace_file(path: Path, expected: bytes, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically, unless the file no longer holds ``expected``."""
    if path.read_bytes() != expected:
        raise RefusedWrite(f"{path} changed since it was read; left unchanged (run fix again)")
    mode = stat.S_IMODE(path.stat().st_mode)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".jpl-fix")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
