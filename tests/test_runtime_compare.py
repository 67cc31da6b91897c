"""compare.py and serialize.py: encoded pytrees compared eager against jitted, texts line by line."""

import math
from collections import namedtuple

import numpy as np
import pytest

from jax_purity_lint.runtime.compare import compare_text, compare_values, describe
from jax_purity_lint.runtime.serialize import blank_addresses, encode


def scalar_array(value, dtype="float32"):
    return {"$array": {"dtype": dtype, "shape": [], "values": [value]}}


def test_equal_values_have_no_difference():
    value = encode({"a": [1, 2.5, "x", None, True], "b": (np.arange(3.0),)})
    assert compare_values(value, value) == []


def test_python_scalar_equals_zero_d_array_of_the_same_number():
    # eagerly `jax.jit(f)(2.0)` returns what f returns; jitted, a 0-d array
    assert compare_values(3, scalar_array(3, "int32")) == []
    assert compare_values(1.0, scalar_array(1.0000001)) == []


def test_floats_within_tolerance_ints_exact():
    assert compare_values(1.0, 1.0 + 1e-9) == []
    assert compare_values(1.0, 1.001) != []
    assert compare_values(1, 2)[0].describe() == "the value: eager 1, jitted 2"
    assert compare_values(encode(float("nan")), encode(float("nan"))) == []
    assert compare_values(encode(float("inf")), encode(float("-inf"))) != []


def test_first_difference_is_located_by_path():
    eager = encode({"loss": [1.0, 2.0], "steps": 3})
    jitted = encode({"loss": [1.0, 5.0], "steps": 1})
    differences = compare_values(eager, jitted)
    assert [d.path for d in differences] == ["['loss'][1]", "['steps']"]
    assert differences[0].describe("result") == "result['loss'][1]: eager 2.0, jitted 5.0"


def test_dict_order_does_not_matter_but_keys_do():
    assert compare_values(encode({"a": 1, "b": 2}), encode({"b": 2, "a": 1})) == []
    (difference,) = compare_values(encode({"a": 1}), encode({"a": 1, "b": 2}))
    assert "only jitted" in difference.reason


def test_arrays_compare_shape_then_elements():
    (shape,) = compare_values(encode(np.zeros(3)), encode(np.zeros(4)))
    assert shape.reason == "shape (3,) vs (4,)"
    (elements,) = compare_values(encode(np.array([[1.0, 2.0], [3.0, 4.0]])), encode(np.array([[1.0, 2.0], [3.0, 9.0]])))
    assert "1 of 4 elements differ; first at (1, 1): 4.0 vs 9.0" in elements.reason


def test_container_types_and_lengths():
    assert compare_values(encode([1, 2]), encode((1, 2)))[0].reason == "type list vs tuple"
    assert compare_values(encode([1, 2]), encode([1]))[0].reason == "length 2 vs 1"
    Point = namedtuple("Point", "x y")
    assert compare_values(encode(Point(1, 2)), encode(Point(1, 3)))[0].path == ".y"


def test_leaked_tracer_is_described():
    assert "tracer" in describe({"$traced": "jax._src.interpreters.partial_eval.DynamicJaxprTracer"})


def test_encode_survives_cycles_bad_reprs_and_objects():
    class Bad:
        __slots__ = ()

        def __repr__(self):
            raise RuntimeError("no")

    class Holder:
        def __init__(self):
            self.n = 1
            self.me = self

    cyclic = []
    cyclic.append(cyclic)
    assert encode(cyclic) == [{"$cycle": "list"}]
    assert "repr failed" in encode(Bad())["$repr"]
    holder = encode(Holder())
    assert holder["fields"][1] == ["n", 1]
    assert encode(math.inf) == {"$float": "inf"}


def test_large_arrays_are_summarised_and_compared_by_hash_and_sum():
    big = np.arange(200_000, dtype=np.float64)
    encoded = encode(big)
    assert "summary" in encoded["$array"]
    assert compare_values(encoded, encode(big.copy())) == []
    assert compare_values(encoded, encode(big + 1.0)) != []


def test_a_container_cut_short_ends_with_one_marker_for_the_rest():
    assert encode(list(range(10)), max_nodes=4) == [0, 1, 2, {"$truncated": "7 more values"}]
    assert encode({"a": 1, "b": 2, "c": 3}, max_nodes=3) == {"$dict": [["a", 1], [{"$truncated": "2 more values"}, None]]}
    assert compare_values(encode(list(range(10)), max_nodes=4), encode(list(range(11)), max_nodes=4)) != []


def test_addresses_are_blanked():
    assert blank_addresses("<object object at 0x7f3a12345678>") == "<object object at 0x…>"


def test_text_differences():
    assert compare_text("a\nb\n", "a\nb\n") == []
    differences = compare_text("tracing\nstep 1\nstep 2\n", "tracing\n")
    assert {d.key for d in differences} == {("missing", "step 1", 0), ("missing", "step 2", 0)}
    assert differences[0].describe("stdout") == "stdout line 2: eager 'step 1', jitted (no more lines)"
    assert [d.key for d in compare_text("a\nb\n", "b\na\n")] == [("order",)]
    assert compare_text("<X at 0xdeadbeef>\n", "<X at 0xcafef00d>\n") == []


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, frozenset({"a"}), 3 + 4j, np.float32(2.5), np.array(["a", "b"])])
def test_encode_is_json_safe(value):
    import json

    json.dumps(encode(value))
    assert compare_values(encode(value), encode(value)) == []
