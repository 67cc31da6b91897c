"""Each rule's VALID/INVALID examples, and the registry's promises (one code per rule, documented)."""

from __future__ import annotations

import pytest

from jax_purity_lint.engine import analyze_source
from jax_purity_lint.rules import ALL_RULES
from markers import expected_findings

EXAMPLES = [(rule, source, kind) for rule in ALL_RULES for kind in ("VALID", "INVALID") for source in getattr(rule, kind)]


@pytest.mark.parametrize(
    "rule,source,kind", EXAMPLES, ids=[f"{rule.code}-{kind}-{i}" for i, (rule, source, kind) in enumerate(EXAMPLES)]
)
def test_rule_examples(rule, source, kind):
    found = {(d.line, d.code) for d in analyze_source(source, "example.py")}
    if kind == "VALID":
        assert found == set()
    else:
        expected = expected_findings(source)
        assert expected and {code for _, code in expected} == {rule.code}
        assert found == expected


def test_every_rule_has_examples_and_documentation():
    codes = [rule.code for rule in ALL_RULES]
    assert len(codes) == len(set(codes))
    for rule in ALL_RULES:
        assert rule.VALID and rule.INVALID, rule.code
        for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety"):
            assert heading in (rule.__doc__ or ""), (rule.code, heading)


def _block_after(doc: str, heading: str) -> str:
    section = doc.split(heading, 1)[1]
    block = section.split("```python", 1)[1].split("```", 1)[0]
    import textwrap

    return textwrap.dedent(block)


@pytest.mark.parametrize("rule", ALL_RULES, ids=[rule.code for rule in ALL_RULES])
def test_documented_example_is_flagged_and_cure_is_clean(rule):
    doc = rule.__doc__ or ""
    import textwrap

    doc = textwrap.dedent(doc)
    bad = _block_after(doc, "## Example")
    good = _block_after(doc, "## Use instead")
    assert rule.code in {d.code for d in analyze_source(bad, "example.py")}
    assert analyze_source(good, "example.py") == []


def test_prefilter_knows_every_transformation_name():
    from jax_purity_lint.analysis import jax_api
    from jax_purity_lint.source.prefilter import might_trace
    from jax_purity_lint.settings import DEFAULT_SETTINGS, Settings

    aliases = {name for name in jax_api.CANONICAL if not name.startswith("eqx.")}  # `eqx` comes from `import equinox`
    qualified = jax_api.COMPILE_AND_CACHE | set(jax_api.IDENTITY_CACHED_ARGUMENTS) | aliases
    for name in sorted(qualified):
        module, _, last = name.rpartition(".")
        assert might_trace(f"import {module}\n{module}.{last}(f)\n", DEFAULT_SETTINGS), name
    assert not might_trace("import jax.numpy as jnp\nx = jnp.ones(3)\n", DEFAULT_SETTINGS)
    assert might_trace("import mylib\n@mylib.compile\ndef f(): ...\n", Settings(jit_functions=frozenset({"mylib.compile"})))
