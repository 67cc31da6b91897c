"""A file written whole or not at all: a temporary file in the same folder, renamed over the target
(os.replace is atomic), so a reader or a crash sees the old content or the new, never half."""

from __future__ import annotations

import os
import tempfile
from typing import Union


def write_atomically(target: Union[str, "os.PathLike[str]"], text: str, suffix: str = "") -> None:
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.fspath(target)) or ".", prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
