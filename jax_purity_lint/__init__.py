"""jax-purity-lint: find Python state that `jax.jit` and friends freeze at trace time."""

__version__ = "0.1.0"
