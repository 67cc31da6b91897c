"""A diagnosed test module: its own closure is the state (JPL103); `confirm --pytest` instruments it too."""
import jax


def test_calls_are_counted():
    calls = 0

    def my_fn(x):
        nonlocal calls
        calls += 1
        return x

    fast = jax.jit(my_fn)
    fast(1.0)
    fast(2.0)
    assert calls == 2
