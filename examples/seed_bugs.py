"""The two bugs of the JAX "Stateful Computations" tutorial, and their explicit-state cures.

Run `jax-purity-lint check examples/seed_bugs.py`: it flags the global read in `impure_uses_global`
(JPL100) and the `self.n += 1` of `Counter.count` (JPL200), and nothing in `CounterV2` or `update`.
Run `python examples/seed_bugs.py` (with JAX installed) to watch both bugs happen.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import jit

# 1) A jitted function that reads a global bakes its value in at trace time.
g = 0.0  # state


def impure_uses_global(x):
    return x + g


# 2) A jitted method that mutates `self` does so once, while tracing.
class Counter:
    """A simple counter."""

    def __init__(self):
        self.n = 0

    def count(self) -> int:
        self.n += 1
        return self.n

    def reset(self):
        self.n = 0


# The cure: explicit state, `stateless_method(state, *args) -> (out, new_state)`.
CounterState = int


class CounterV2:
    def count(self, n: CounterState) -> tuple[int, CounterState]:
        return n + 1, n + 1

    def reset(self) -> CounterState:
        return 0


class Params(NamedTuple):
    weight: jnp.ndarray
    bias: jnp.ndarray


def loss(params: Params, x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    pred = params.weight * x + params.bias
    return jnp.mean((pred - y) ** 2)


LEARNING_RATE = 0.005  # assigned once: a constant, never flagged


@jax.jit
def update(params: Params, x: jnp.ndarray, y: jnp.ndarray) -> Params:
    grad = jax.grad(loss)(params, x, y)
    return jax.tree.map(lambda param, g: param - g * LEARNING_RATE, params, grad)


def main():
    global g
    print("First call:", jit(impure_uses_global)(4.0))
    g = 10.0
    print("Second call:", jit(impure_uses_global)(5.0), "(eagerly 15.0)")

    counter = Counter()
    fast_count = jax.jit(counter.count)
    print("Counter under jit:", [int(fast_count()) for _ in range(3)], "(eagerly [1, 2, 3])")

    counter_v2 = CounterV2()
    state = counter_v2.reset()
    fast_count_v2 = jax.jit(counter_v2.count)
    values = []
    for _ in range(3):
        value, state = fast_count_v2(state)
        values.append(int(value))
    print("CounterV2 under jit:", values)


if __name__ == "__main__":
    main()
