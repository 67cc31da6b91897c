"""JPL401's rewrite of a host random draw: the matching `jax.random` draw, bound like Python binds the
call; each translation is then run and must give a draw of the same shape as the host's."""

from __future__ import annotations

import random

import libcst as cst
import numpy as np
import pytest

from jax_purity_lint.rewrites.host_draws import jax_draw

CASES = {
    "np.random.normal()": "jax.random.normal(subkey)",
    "np.random.normal(loc=-1.0)": "-1.0 + jax.random.normal(subkey)",
    "np.random.normal(2.0, 0.5, size=(3,))": "2.0 + 0.5 * jax.random.normal(subkey, (3,))",
    "np.random.normal(scale=a + 1, size=4)": "(a + 1) * jax.random.normal(subkey, (4,))",
    "np.random.randn(2, 3)": "jax.random.normal(subkey, (2, 3,))",
    "np.random.randn()": "jax.random.normal(subkey)",
    "np.random.rand(5)": "jax.random.uniform(subkey, (5,))",
    "np.random.standard_normal(7)": "jax.random.normal(subkey, (7,))",
    "np.random.uniform(-1.0, 1.0, 3)": "jax.random.uniform(subkey, (3,), minval=-1.0, maxval=1.0)",
    "np.random.uniform(high=2.0)": "jax.random.uniform(subkey, maxval=2.0)",
    "np.random.random((2, 2))": "jax.random.uniform(subkey, (2, 2))",
    "np.random.randint(10)": "jax.random.randint(subkey, (), 0, 10)",
    "np.random.randint(1, 7, size=(4,))": "jax.random.randint(subkey, (4,), 1, 7)",
    "np.random.choice(5, 3, replace=False)": "jax.random.choice(subkey, 5, (3,), replace=False)",
    "np.random.permutation(8)": "jax.random.permutation(subkey, 8)",
    "np.random.exponential(2.0, 3)": "2.0 * jax.random.exponential(subkey, (3,))",
    "np.random.poisson(3.0, (2,))": "jax.random.poisson(subkey, 3.0, (2,))",
    "np.random.binomial(10, 0.5, 3)": "jax.random.binomial(subkey, 10, 0.5, (3,))",
    "np.random.beta(2.0, 3.0)": "jax.random.beta(subkey, 2.0, 3.0)",
    "np.random.gamma(2.0, 1.5, 3)": "1.5 * jax.random.gamma(subkey, 2.0, (3,))",
    "np.random.laplace(size=2)": "jax.random.laplace(subkey, (2,))",
    "random.random()": "jax.random.uniform(subkey)",
    "random.uniform(1.0, 2.0)": "jax.random.uniform(subkey, minval=1.0, maxval=2.0)",
    "random.gauss(0.0, 2.0)": "0.0 + 2.0 * jax.random.normal(subkey)",
    "random.randint(1, 6)": "jax.random.randint(subkey, (), 1, 6 + 1)",
    "random.expovariate(2.0)": "jax.random.exponential(subkey) / 2.0",
}
NO_TRANSLATION = {
    "np.random.shuffle(x)": "shuffles in place",
    "random.choice(seq)": "cannot be indexed by a traced draw",
    "np.random.normal(*shape)": "a * or ** argument",
    "np.random.normal(0, 1, 3, 4)": "more arguments than it takes",
    "np.random.uniform(lo=0)": "keyword `lo`",
    "np.random.zipf(2.0)": "find the matching `jax.random` function",
}


def translate(text: str):
    call = cst.parse_expression(text)
    assert isinstance(call, cst.Call)
    qualified = text.split("(")[0].replace("np.", "numpy.", 1)
    module = cst.Module(body=[])
    result = jax_draw(qualified, call, lambda node: module.code_for_node(node), "jax", "subkey")
    return result if isinstance(result, str) else module.code_for_node(result)


@pytest.mark.parametrize("host", CASES, ids=list(CASES))
def test_a_host_draw_becomes_the_matching_jax_random_draw(host):
    assert translate(host) == CASES[host]


@pytest.mark.parametrize("host", NO_TRANSLATION, ids=list(NO_TRANSLATION))
def test_a_draw_without_a_counterpart_says_what_to_do(host):
    reason = translate(host)
    assert isinstance(reason, str) and NO_TRANSLATION[host] in reason


def test_every_translation_runs_and_draws_the_host_shape():
    jax = pytest.importorskip("jax")
    names = {"np": np, "random": random, "a": 1.0}
    for host, translated in CASES.items():
        expected = np.shape(eval(host, names))
        drawn = eval(translated, {**names, "jax": jax, "subkey": jax.random.key(0)})
        assert np.shape(drawn) == expected, (host, translated)
