"""Child side: the instrumented source of a diagnosed module, handed to whoever imports it.

A module inside a package (`diffrax/_integrate.py`) cannot be run on its own (its relative imports
need the package), and a project's tests import the module themselves: in both cases the module is
imported the normal way, through this finder, which loads the file at the diagnosed path from the
instrumented code instead (same path, same line numbers).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
from types import CodeType, ModuleType
from typing import Any, Optional


class InstrumentedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds modules as the path finder does; the one whose file is `original` is loaded from `code`."""

    def __init__(self, original: str, code: CodeType) -> None:
        self.original = os.path.realpath(original)
        self.code = code

    def find_spec(self, name: str, path: Any = None, target: Optional[ModuleType] = None):
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.origin is None or os.path.realpath(spec.origin) != self.original:
            return None
        return importlib.util.spec_from_file_location(name, spec.origin, loader=_InstrumentedLoader(self.code))


class _InstrumentedLoader(importlib.abc.Loader):
    def __init__(self, code: CodeType) -> None:
        self.code = code

    def create_module(self, spec):
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)

    # What runpy asks of a loader (`python -m pkg.mod` is run through get_code).
    def get_code(self, fullname: str) -> CodeType:
        return self.code

    def is_package(self, fullname: str) -> bool:
        return False

    def get_source(self, fullname: str) -> None:
        return None
