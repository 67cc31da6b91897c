"""A diagnosed module whose test suite misbehaves (tests/test_app.py): `confirm --pytest` must keep its
isolation (../../test_confirm_drives.py)."""
import jax

scale = 1.0


@jax.jit
def step(x):
    return x * scale  # JPL100: set_scale rebinds it


def set_scale(value):
    global scale
    scale = value
