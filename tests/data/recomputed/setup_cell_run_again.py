"""A notebook's set-up cell run again after a trace (jax-md's cargese notebook): the same code with the
same inputs, after a loop that rebound `N` and a line that set it back. `box` is an equal value, so the
cached trace computes what an eager call does: both runs give 6.0 twice."""
import jax
import jax.numpy as jnp

N = 3
L = float(N) * 2
box = jnp.eye(2) * L


@jax.jit
def corner(x):
    return (x @ box)[0]


first = corner(jnp.ones(2))
sizes = []
for N in [5, 6]:
    sizes.append(N)
N = 3
L = float(N) * 2
box = jnp.eye(2) * L


def scenario():
    return [float(first), float(corner(jnp.ones(2))), sizes]
