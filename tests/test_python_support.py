"""The Python versions the package declares are the ones it can run on."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from jax_purity_lint.runtime import experiment

ROOT = Path(__file__).resolve().parents[1]
# The first Python version that has each interpreter flag `confirm` starts its children with.
FLAG_SINCE = {"-s": (2, 6), "-B": (2, 6), "-P": (3, 11)}


def _declared_minimum() -> tuple[int, int]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        requires = tomllib.load(handle)["project"]["requires-python"]
    assert requires.startswith(">="), requires
    major, minor = requires[2:].split(".")[:2]
    return int(major), int(minor)


def test_the_declared_minimum_has_every_flag_confirm_uses():
    minimum = _declared_minimum()
    for flag in experiment._INTERPRETER_FLAGS:
        assert flag in FLAG_SINCE, f"add {flag} to FLAG_SINCE with the version that introduced it"
        assert FLAG_SINCE[flag] <= minimum, f"{flag} needs Python {FLAG_SINCE[flag]}, the package declares {minimum}"


def test_this_interpreter_is_a_declared_one():
    assert sys.version_info[:2] >= _declared_minimum()


def test_the_classifiers_name_the_declared_minimum():
    with open(ROOT / "pyproject.toml", "rb") as handle:
        classifiers = tomllib.load(handle)["project"]["classifiers"]
    major, minor = _declared_minimum()
    assert f"Programming Language :: Python :: {major}.{minor}" in classifiers
