"""A rule owns its behaviour: the registry is discovered from the rule modules, and each rule declares
its fix (availability, title, builder), its advice, its group key and its runtime evidence channel."""

from __future__ import annotations

import pytest

from jax_purity_lint.codes import rule_modules
from jax_purity_lint.engine import analyse_file
from jax_purity_lint.rewrites.planner import fix_source, groups
from jax_purity_lint.rules import ALL_RULES, RULES_BY_CODE, Evidence, FixAvailability

RULE_IDS = [rule.code for rule in ALL_RULES]


def test_the_registry_is_the_rule_modules():
    assert sorted(rule_modules()) == sorted(RULES_BY_CODE)
    for rule in ALL_RULES:
        assert rule.__module__.rsplit(".", 1)[-1] == rule_modules()[rule.code]


@pytest.mark.parametrize("rule", ALL_RULES, ids=RULE_IDS)
def test_fix_availability_matches_the_builder(rule):
    builder = rule.fix_builder()
    if rule.FIX is FixAvailability.NEVER:
        assert builder is None and not rule.FIX_TITLE
    else:
        assert callable(builder) and rule.FIX_TITLE
    assert rule.ADVICE and not rule.ADVICE.endswith(".")


@pytest.mark.parametrize("rule", ALL_RULES, ids=RULE_IDS)
def test_findings_carry_their_rules_group_key(rule):
    for source in rule.INVALID:
        findings = [f for f in analyse_file(source, "example.py").findings if f.code == rule.code]
        assert findings, source
        for located in findings:
            assert located.group == rule.group_key(located.finding)
            assert located.group[0] in (rule.code, "self-state")


def test_reads_of_one_global_in_two_functions_are_one_group():
    source = (
        "import jax\ng = 1.0\n@jax.jit\ndef f(x):\n    return x + g\n@jax.jit\ndef h(x):\n    return x * g\n"
        "print(f(1.0), h(1.0))\ng = 2.0\n"
    )
    [group] = groups(list(analyse_file(source, "m.py").findings))
    assert group.key == ("JPL100", "g") and [f.function for f in group.diagnostics] == ["f", "h"]


def test_closure_reads_and_writes_are_grouped_apart_by_the_rules_variant():
    source = (
        "import jax\ndef main():\n    n = 0\n    scale = 1.0\n    def step(x):\n        nonlocal n\n"
        "        n = n + 1\n        return x * scale\n    f = jax.jit(step)\n    f(1.0)\n"
        "    scale = 2.0\n    return f\n"
    )
    keys = {located.group for located in analyse_file(source, "m.py").findings}
    assert ("JPL103", "n", "write") in keys and ("JPL103", "scale", "read") in keys


def test_a_rule_without_a_fix_gets_its_own_advice_as_a_comment():
    source = RULES_BY_CODE["JPL403"].INVALID[0].replace("  # expect: JPL403", "")
    result = fix_source(source, "m.py", unsafe=True)
    assert not any(r.applied and r.safe for r in result.rewrites)
    assert RULES_BY_CODE["JPL403"].ADVICE in result.rewritten
    assert fix_source(source, "m.py").rewritten == source  # nothing safe to apply


def test_clock_and_draw_are_told_apart_by_the_finding_not_by_its_text():
    source = (
        "import time\nimport random\nimport jax\n@jax.jit\ndef f(x):\n    t = time.time()\n"
        "    return x + t + random.random()\n"
    )
    found = {f.state: f for f in analyse_file(source, "m.py").findings}
    assert found["time.time"].variant == "clock" and "pass the time in" in found["time.time"].diagnostic.message
    assert found["random.random"].variant == "draw" and "jax.random" in found["random.random"].diagnostic.message


def test_output_rules_prefer_output_evidence():
    from jax_purity_lint.runtime.divergence import Difference
    from jax_purity_lint.runtime.verdicts import _evidence_priority

    warnings_differ = Difference(("warnings", "missing", "x", 0), "warnings line 1", "a", "b")
    result_differs = Difference(("result", "[0]"), "value", "1", "2")
    for code in ("JPL400", "JPL403"):
        assert RULES_BY_CODE[code].EVIDENCE is Evidence.OUTPUT
        assert _evidence_priority(code, warnings_differ) < _evidence_priority(code, result_differs)
    assert _evidence_priority("JPL100", result_differs) < _evidence_priority("JPL100", warnings_differ)


def test_a_notebook_message_names_cells_without_rewriting_text():
    from jax_purity_lint.surfaces.notebooks import JoinedNotebook, cell_place

    joined = JoinedNotebook("a\nb\nc\n", ((1, 1), (1, 2), (4, 1)))
    assert [cell_place(line, joined) for line in (1, 2, 3)] == ["cell 1, line 1", "cell 1, line 2", "cell 4, line 1"]


FIX_EXAMPLES = [(rule, before, after) for rule in ALL_RULES for before, after in rule.FIX_EXAMPLES]


@pytest.mark.parametrize(
    "rule,before,after", FIX_EXAMPLES, ids=[f"{rule.code}-{i}" for i, (rule, _, _) in enumerate(FIX_EXAMPLES)]
)
def test_fix_examples_are_what_fix_writes(rule, before, after):
    assert rule.FIX is not FixAvailability.NEVER
    assert rule.code in {d.code for d in analyse_file(before, "example.py").diagnostics}
    result = fix_source(before, "example.py")
    assert result.rewritten == after
    assert rule.code not in {d.code for d in analyse_file(after, "example.py").diagnostics}


def test_every_rule_with_a_safe_fix_shows_one():
    shown = {rule.code for rule, _, _ in FIX_EXAMPLES}
    assert {"JPL100", "JPL101", "JPL103", "JPL200", "JPL202", "JPL400"} <= shown
