"""What a user can configure; shared by the flake8 options, the CLI and pyproject.toml."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    # Extra compile-and-cache transformations, by qualified name (`mylib.compile`).
    jit_functions: frozenset[str] = field(default_factory=frozenset)
    # Extra transformations that carry Python-side module state in and out (like `flax.nnx.jit`).
    state_aware_functions: frozenset[str] = field(default_factory=frozenset)


DEFAULT_SETTINGS = Settings()
