"""A small project whose own tests (tests/test_model.py) exercise its bugs: `confirm --pytest` drives
the diagnosed trace sites through them (../../test_confirm_drives.py)."""
import jax

schedule = {"lr": 0.1}
offset = 0.0


@jax.jit
def step(w, g):
    return w - schedule["lr"] * g  # JPL100: the schedule is changed by train()


def train(steps):
    w = 1.0
    for _ in range(steps):
        w = step(w, 1.0)
        schedule["lr"] = schedule["lr"] / 2
    return float(w)


class Counter:
    def __init__(self):
        self.n = 0

    def count(self):
        self.n += 1  # JPL200: runs once, while tracing
        return self.n


def count_three_times():
    counter = Counter()
    fast = jax.jit(counter.count)
    return [int(fast()) for _ in range(3)]


@jax.jit
def shifted(x):
    return x + offset  # JPL100, latent: the tests call `shifted` but never change the offset


@jax.jit
def scaled(x):
    return x * offset  # JPL100: no test calls `scaled`


def set_offset(value):
    global offset
    offset = value
