"""Test helper: every fixture's rewrites, computed once per test session (planning is not free); and
modules written out by a test, with the settings they are fixed under."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from jax_purity_lint.diagnostics import Diagnostic
from jax_purity_lint.engine import analyze_source
from jax_purity_lint.rewrites import ModuleFix, fix_source
from jax_purity_lint.settings import DEFAULT_SETTINGS, Settings
from markers import fixture_files


# Fixtures whose state jit cannot trace, by kind: their rewrite needs review by design (a function,
# a string or an arbitrary object cannot become a traced argument).
UNTRACEABLE_STATE = {
    "a function": "jpl100_global_function_rebound.py",
    "a string": "jpl100_global_mode_string.py",
    "an object with methods": "jpl100_global_optimizer_object.py",
}

# Diagnoses whose state belongs to the caller's object (a method run on the traced function's argument,
# an attribute of a static argument):
# moving it would change the caller's code, so `fix` gives advice only, by design.
ADVICE_BY_DESIGN = {
    "a method of a pytree argument": "jpl200_pytree_argument_method.py",
    "a method of an annotated argument": "jpl200_annotated_argument_method.py",
    "an attribute of a static argument": "jpl202_static_argument_changed.py",
}


@dataclass(frozen=True)
class FixtureFix:
    path: Path
    source: str
    diagnostics: tuple[Diagnostic, ...]
    safe: ModuleFix  # what `fix` writes
    everything: ModuleFix  # what `fix --diff` shows

    @property
    def fully_safe(self) -> bool:
        """Every diagnosis has a safe rewrite, and the rewritten module has no diagnosis left."""
        return bool(self.diagnostics) and self.safe.changed and not analyze_source(self.safe.rewritten, str(self.path))

    @property
    def code(self) -> str:
        """The code the fixture is about, from its name (`jpl100_...`, `seed_...`)."""
        prefix = self.path.name.split("_")[0]
        return prefix.upper() if prefix.startswith("jpl") else prefix


@lru_cache(maxsize=None)
def fixture_fix(path: Path) -> FixtureFix:
    source = path.read_text(encoding="utf-8")
    diagnostics = tuple(analyze_source(source, str(path)))
    if not diagnostics:
        empty = fix_source(source, str(path))
        return FixtureFix(path, source, diagnostics, empty, empty)
    safe = fix_source(source, str(path))
    everything = fix_source(source, str(path), unsafe=True)
    return FixtureFix(path, source, diagnostics, safe, everything)


def diagnosed_fixtures() -> list[Path]:
    return [path for path in fixture_files() if analyze_source(path.read_text(encoding="utf-8"), str(path))]


# -- modules written out for a test: sites under aliased and configured jit functions ------------------


@dataclass(frozen=True)
class ModuleCase:
    """A module (with the modules next to it that it imports), analysed and fixed under ``settings``."""

    name: str
    source: str
    siblings: tuple[tuple[str, str], ...] = ()  # (module name, source)
    settings: Settings = DEFAULT_SETTINGS

    def write(self, folder: Path) -> Path:
        for module, text in self.siblings:
            (folder / f"{module}.py").write_text(text, encoding="utf-8")
        path = folder / f"{self.name}.py"
        path.write_text(self.source, encoding="utf-8")
        return path

    def diagnostics(self, text: Optional[str] = None) -> list[Diagnostic]:
        return analyze_source(self.source if text is None else text, f"{self.name}.py", self.settings)

    def fix(self) -> ModuleFix:
        return fix_source(self.source, f"{self.name}.py", settings=self.settings)


MY_JIT_PARTIAL = ModuleCase(
    "my_jit_partial",
    """\
from functools import partial

import jax
import jax.numpy as jnp

scale = [2.0]
my_jit = partial(jax.jit, static_argnums=1)


@my_jit
def step(x, n):
    return x * scale[0] * n  # expect: JPL100


def scenario():
    first = step(jnp.ones(2), 3)
    scale[0] = 5.0
    return first, step(jnp.ones(2), 3)
""",
)

ALIASED_JIT = ModuleCase(
    "aliased_jit",
    """\
import jax
import jax.numpy as jnp
from jax import jit as J

jit = jax.jit
offset = {"value": 1.0}


@J
def shift(x):
    return x + offset["value"]  # expect: JPL100


def double_shift(x):
    return jit(shift)(x) * 2


def scenario():
    first = shift(jnp.ones(2)), double_shift(jnp.ones(2))
    offset["value"] = 4.0
    return first, (shift(jnp.ones(2)), double_shift(jnp.ones(2)))
""",
)

MYLIB = """\
import jax


def compile(f):
    return jax.jit(f)
"""

CONFIGURED_JIT = ModuleCase(
    "configured_jit",
    """\
import jax.numpy as jnp

import mylib

weights = [1.0, 2.0]


@mylib.compile
def apply(x):
    return x * weights[1]  # expect: JPL100


def scenario():
    first = apply(jnp.ones(2))
    weights[1] = 7.0
    return first, apply(jnp.ones(2))
""",
    siblings=(("mylib", MYLIB),),
    settings=Settings(jit_functions=frozenset({"mylib.compile"})),
)

ALIASED_SITE_CASES = (MY_JIT_PARTIAL, ALIASED_JIT, CONFIGURED_JIT)
