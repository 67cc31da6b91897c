"""New identifiers that collide with nothing: parameters, state variables, temporaries."""

from __future__ import annotations

import builtins
import keyword
import re
from typing import Iterable, Optional

import libcst as cst

from .view import walk

_BUILTINS = frozenset(dir(builtins))


def identifiers_in(node: cst.CSTNode) -> set[str]:
    """Every identifier written anywhere under ``node`` (names, attributes' names, parameters)."""
    return {child.value for child in walk(node) if isinstance(child, cst.Name)}


def variables_in(node: cst.CSTNode) -> set[str]:
    """Names used as variables under ``node``: not attribute names (`x.name`) nor keywords (`f(name=1)`)."""
    attribute_names = set()
    for child in walk(node):
        if isinstance(child, cst.Attribute):
            attribute_names.add(id(child.attr))
        elif isinstance(child, cst.Arg) and child.keyword is not None:
            attribute_names.add(id(child.keyword))
    return {c.value for c in walk(node) if isinstance(c, cst.Name) and id(c) not in attribute_names}


def python_identifier(text: str) -> str:
    """`CONFIG["temperature"]` -> `config_temperature`, `settings.l2` -> `settings_l2`."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "_".join(words).lower() or "value"
    if name[0].isdigit():
        name = "v_" + name
    return name


class NamePool:
    """Hands out names unused in a region (a function, or the whole module) and remembers them."""

    def __init__(self) -> None:
        self._taken: dict[int, set[str]] = {}

    def _taken_in(self, region: cst.CSTNode) -> set[str]:
        if id(region) not in self._taken:
            self._taken[id(region)] = identifiers_in(region) | _BUILTINS
        return self._taken[id(region)]

    def reserve(self, region: cst.CSTNode, name: str) -> None:
        self._taken_in(region).add(name)

    def is_free(self, region: cst.CSTNode, name: str, also_avoid: Iterable[str] = ()) -> bool:
        return name not in self._taken_in(region) and name not in also_avoid and not keyword.iskeyword(name)

    def fresh(self, region: cst.CSTNode, *candidates: str, also_avoid: Iterable[str] = ()) -> str:
        """The first free candidate, else the last one with a number; reserved in ``region``."""
        avoid = set(also_avoid)
        chosen: Optional[str] = None
        for candidate in candidates:
            if self.is_free(region, candidate, avoid):
                chosen = candidate
                break
        if chosen is None:
            base = candidates[-1]
            number = 2
            while not self.is_free(region, f"{base}{number}", avoid):
                number += 1
            chosen = f"{base}{number}"
        self.reserve(region, chosen)
        return chosen
