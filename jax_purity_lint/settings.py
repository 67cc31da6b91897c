"""What a user can configure; shared by the flake8 options, the CLI and pyproject.toml."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

# The last part of every trace-caching transformation's name (analysis/jax_api.py); `lax.map` is
# matched with its module, since `map` alone is everywhere.
TRANSFORM_NAMES = frozenset(
    {"jit", "pmap", "pjit", "filter_jit", "filter_pmap", "make_jaxpr", "eval_shape", "scan", "fori_loop",
     "while_loop", "cond", "switch", "associative_scan", "checkpoint", "remat"}
)


@dataclass(frozen=True)
class Settings:
    # Extra compile-and-cache transformations, by qualified name (`mylib.compile`).
    jit_functions: frozenset[str] = field(default_factory=frozenset)
    # Extra transformations that carry Python-side module state in and out (like `flax.nnx.jit`).
    state_aware_functions: frozenset[str] = field(default_factory=frozenset)

    def markers(self) -> tuple[str, ...]:
        """Substrings one of which a file must contain to possibly hold a trace site."""
        extra = {name.split(".")[0] for name in self.jit_functions | self.state_aware_functions}
        return tuple(sorted({"jax", "equinox", "flax", *extra}))

    def transform_names(self) -> "re.Pattern[str]":
        """A pattern one match of which a file must contain: the last part of a transformation's name
        (an alias such as `from jax import jit as compile_fn` still spells `jit`)."""
        extra = frozenset(name.rsplit(".", 1)[-1] for name in self.jit_functions | self.state_aware_functions)
        return _transform_pattern(extra)


@functools.lru_cache(maxsize=32)
def _transform_pattern(extra: frozenset[str]) -> "re.Pattern[str]":
    names = sorted({*TRANSFORM_NAMES, *extra})
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b|lax\s*\.\s*map\b")


DEFAULT_SETTINGS = Settings()
