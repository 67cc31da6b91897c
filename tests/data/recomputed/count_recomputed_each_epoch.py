"""numpyro's vae example: each epoch re-runs `steps, rest = plan()`, the line that made `steps` before
the jitted `epoch` was defined; `plan` returns the same count every time, so the trace's constant is
the current value and jitted and eager agree (3.0 at each of the three epochs)."""
import functools

import jax
from jax import lax


def train(epochs):
    plan = functools.partial(divmod, 12, 4)
    steps, rest = plan()

    @jax.jit
    def epoch(w):
        return lax.fori_loop(0, steps, lambda i, v: v + 1.0, w)

    done = []
    for _ in range(epochs):
        steps, rest = plan()
        done.append(float(epoch(0.0)))
    return done


def scenario():
    return train(3)
