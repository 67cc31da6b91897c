"""Which files are worth parsing with libcst: cheap checks that a file cannot hold a trace site.

libcst's parse is most of what the linter costs, and most files that mention JAX never hand a function
to a transformation. Two checks, each an over-approximation of what the site finder accepts, so they
never hide a diagnosis:

1. on the text (a substring search): the file names a package with transformations (`jax`, `flax`,
   `equinox`, a configured one's) and spells a transformation's last name part (`jit`, `scan`, ...);
2. on CPython's `ast` (built anyway, by the preflight or by flake8): some name or attribute chain in
   the file can be qualified, through the file's imports and simple aliases (`L = jax.lax`), to a
   transformation. Words in comments, docstrings and strings, `self.scan`, `re.compile`, or a
   library's own `jit` method no longer count.
"""

from __future__ import annotations

import ast
import collections
import functools
import re
from typing import Iterable, Iterator, NamedTuple, Optional

from ..settings import Settings
from ..analysis import jax_api

_MAX_ALIAS_DEPTH = 10  # the resolver follows `a = b` aliases 8 deep: a margin on top
_MAX_STATES = 10_000  # (name, path) pairs followed for one name before giving up


def might_trace(source: str, settings: Settings) -> bool:
    """The marker check: a file that never names a transformation's package (`jax`, `flax`,
    `equinox`, a configured one's), or never spells a transformation's last name part (`jit`,
    `scan`; an alias such as `from jax import jit as compile_fn` still spells `jit`), has no trace
    site and is not parsed."""
    marker = _text_marker(_transformations(settings.jit_functions | settings.state_aware_functions))
    if not any(package in source for package in marker.packages):
        return False
    if marker.names.search(source) is not None:
        return True
    # `map` alone is everywhere: jax.lax.map counts where the text also says `lax` (`lax.map`,
    # `from jax.lax import map`, `from jax import lax as L ... L.map`).
    return marker.lax_map and "lax" in source and _MAP_WORD.search(source) is not None


def names_a_transformation(tree: ast.AST, settings: Settings) -> bool:
    """Whether a name or attribute chain in `tree` may denote a transformation the site finder knows.

    Sound with respect to `Resolver.qualify`: that resolves a chain's root through an import binding,
    through an alias assignment (`name = chain`), or not at all (a builtin: the chain as written).
    Here every import and every alias anywhere in the file counts for every scope."""
    transformations = _transformations(settings.jit_functions | settings.state_aware_functions)
    last_parts = _last_parts(transformations)
    imports: dict[str, set[str]] = {}
    aliases: dict[str, set[str]] = {}
    candidates: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Attribute:
            if node.attr in last_parts:
                chain = _chain(node)
                if chain is not None:
                    candidates.append(chain)
        elif kind is ast.Name:
            if node.id in last_parts:
                candidates.append((node.id, ()))
        elif kind is ast.Import or kind is ast.ImportFrom:
            for bound, qualified in _import_bindings(node):
                if jax_api.canonical(qualified) in transformations:
                    return True  # `from jax import jit as compile_fn`: the name itself is one
                imports.setdefault(bound, set()).add(qualified)
        elif kind is ast.Assign or kind is ast.AnnAssign:
            _record_alias(node, aliases)
    bases: dict[str, Optional[set[str]]] = {}
    for root, path in candidates:
        if root not in bases:
            bases[root] = _qualifications(root, imports, aliases)
        found = bases[root]
        if found is None:
            return True  # too many aliases to follow: parse it rather than guess
        if any(jax_api.canonical(".".join((base, *path))) in transformations for base in found):
            return True
    return False


def may_hold_a_site(source: str, tree: Optional[ast.AST], settings: Settings) -> bool:
    """Both checks, for a caller that holds CPython's tree of `source` (flake8 does) and wants the
    answer before loading the engine: False only when the engine would return no diagnostic. With a
    tree, the preflight's text problems cannot arise (CPython's parser refuses null bytes and lone
    surrogates), so the engine's only other outcome for such a file is nothing to report."""
    if not might_trace(source, settings):
        return False
    return not isinstance(tree, ast.Module) or names_a_transformation(tree, settings)


class _TextMarker(NamedTuple):  # not a dataclass: this module is imported on every flake8 run
    packages: tuple[str, ...]
    names: "re.Pattern[str]"
    lax_map: bool


_LAX_MAP = "jax.lax.map"
_MAP_WORD = re.compile(r"\bmap\b")


@functools.lru_cache(maxsize=32)
def _text_marker(transformations: frozenset[str]) -> _TextMarker:
    """What the text of a file with a site must contain, derived from the transformation tables."""
    packages = tuple(sorted({name.split(".")[0] for name in transformations}))
    words = sorted(_last_parts(transformations - {_LAX_MAP}))
    names = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b")
    return _TextMarker(packages, names, _LAX_MAP in transformations)


@functools.lru_cache(maxsize=32)
def _transformations(configured: frozenset[str]) -> frozenset[str]:
    """Every qualified name the site finder treats as a transformation, canonical spellings."""
    return frozenset(
        {*jax_api.COMPILE_AND_CACHE, *jax_api.STATE_AWARE, *jax_api.IDENTITY_CACHED_ARGUMENTS,
         *jax_api.RUN_AT_ONCE, *configured}
    )


@functools.lru_cache(maxsize=32)
def _last_parts(transformations: frozenset[str]) -> frozenset[str]:
    """The last name part of each transformation and of each alias spelling of one."""
    spellings = {*transformations, *(alias for alias, name in jax_api.CANONICAL.items() if name in transformations)}
    return frozenset(name.rsplit(".", 1)[-1] for name in spellings)


def _chain(node: ast.expr) -> Optional[tuple[str, tuple[str, ...]]]:
    """`a.b.c` -> ("a", ("b", "c")); None when the chain does not start at a name (`f().jit`, `x[0].jit`)."""
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return node.id, tuple(reversed(path))


def _import_bindings(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(bound name, qualified name) per alias, as the collector binds them; relative imports bind nothing."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                yield alias.asname, alias.name
            else:
                top = alias.name.split(".")[0]
                yield top, top
    elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
        for alias in node.names:
            if alias.name != "*":
                yield alias.asname or alias.name, f"{node.module}.{alias.name}"


def _record_alias(node: ast.AST, aliases: dict[str, set[str]]) -> None:
    """`L = jax.lax`, `j: Any = jit`: a name bound to a chain may stand for what the chain denotes."""
    value = getattr(node, "value", None)
    targets: Iterable[ast.expr] = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
    chain = _chain(value) if isinstance(value, (ast.Name, ast.Attribute)) else None
    if chain is None:
        return
    for target in targets:
        if isinstance(target, ast.Name):
            aliases.setdefault(target.id, set()).add(".".join((chain[0], *chain[1])))


def _qualifications(root: str, imports: dict[str, set[str]], aliases: dict[str, set[str]]) -> Optional[set[str]]:
    """What `root` may stand for: itself (unbound or builtin), an import, or what an alias's chain
    does, following aliases as deep as the resolver does; None past _MAX_STATES (a hostile file)."""
    found: set[str] = set()
    seen: set[tuple[str, str]] = set()
    # Breadth first, so each (name, path) is reached by its shortest alias chain and the depth
    # limit cuts no chain the resolver would follow.
    pending = collections.deque([(root, "", 0)])  # a name, the path after it, aliases followed
    while pending:
        name, suffix, depth = pending.popleft()
        if (name, suffix) in seen:
            continue
        seen.add((name, suffix))
        if len(seen) > _MAX_STATES:
            return None
        found.add(name + suffix)
        found.update(qualified + suffix for qualified in imports.get(name, ()))
        if depth < _MAX_ALIAS_DEPTH:
            for dotted in aliases.get(name, ()):
                alias_root, dot, rest = dotted.partition(".")
                pending.append((alias_root, dot + rest + suffix, depth + 1))
    return found
