"""Child side: the eager run is ``jax.disable_jit()`` plus fixes for the places where disable_jit is
not the eager program the user has in mind (the known gaps, docs/runtime-checker.md):

- ``flax.linen.jit`` fails under disable_jit (it passes its scope as an extra argument): eagerly it
  becomes the identity;
- ``jax.checkpoint``/``jax.remat`` keep caching their trace by function identity under disable_jit:
  eagerly they become the identity;
- a zero-length ``lax.scan`` raises under disable_jit (its output shapes are unknown): it is traced
  for its shapes with its printed output discarded;
- ``lax.fori_loop`` hands its body Python ints under disable_jit, arrays under jit: the body gets
  arrays, as under jit, so ``i.astype(...)`` and friends behave the same in both runs;
- ``jax.eval_shape`` is cached like jit and disable_jit does not touch it: eagerly it runs the
  function and describes the result.

``jax.make_jaxpr`` is left alone: its value is a jaxpr, which no eager program produces.
"""

from __future__ import annotations

from typing import Any, Callable

import jax

from . import stand_ins


def identity_checkpoint(fun: Any = None, *args: Any, **options: Any) -> Any:
    if fun is None:  # `@jax.checkpoint(policy=...)`
        return lambda function: function
    return fun


def _scan_length(xs: Any, length: Any) -> Any:
    if length is not None:
        return length
    leaves = jax.tree_util.tree_leaves(xs)
    return leaves[0].shape[0] if leaves else None


def _eager_scan(real_scan: Callable) -> Callable:
    def scan(f: Callable, init: Any, xs: Any = None, length: Any = None, reverse: bool = False, **options: Any) -> Any:
        if _scan_length(xs, length) == 0:
            return stand_ins.zero_length_scan(f, init, xs, length, reverse, **options)
        return real_scan(f, init, xs, length=length, reverse=reverse, **options)

    return scan


def _eager_fori_loop(real_fori_loop: Callable) -> Callable:
    def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any, **options: Any) -> Any:
        import jax.numpy as jnp

        def body_with_array_index(i: Any, value: Any) -> Any:
            return body_fun(jnp.asarray(i), value)

        return real_fori_loop(lower, upper, body_with_array_index, init_val, **options)

    return fori_loop


# id(patched) -> the original, for the one site an eager run keeps jitted
_ORIGINALS: dict[int, Any] = {}


def original_of(function: Any) -> Any:
    return _ORIGINALS.get(id(function), function)


def _patch(namespace: Any, name: str, replacement: Any) -> None:
    _ORIGINALS[id(replacement)] = getattr(namespace, name)
    setattr(namespace, name, replacement)


def identity_linen_jit(target: Any = None, *args: Any, **options: Any) -> Any:
    """`flax.linen.jit` under disable_jit passes its scope as an extra argument and fails; eagerly
    it is the identity, on a method or a Module class alike."""
    if target is None:
        return lambda inner: inner
    return target


def apply_eager_patches(uses_flax_linen: bool = False) -> None:
    """Patch the jax namespace in place, before the user's module is loaded (so that `from jax import
    checkpoint` picks up the patched version too)."""
    import jax.ad_checkpoint

    if uses_flax_linen:  # importing flax costs a second: only for modules that use it
        import flax.linen
        import flax.linen.transforms

        for namespace in (flax.linen, flax.linen.transforms):
            _patch(namespace, "jit", identity_linen_jit)

    for namespace in (jax, jax.ad_checkpoint):
        for name in ("checkpoint", "remat"):
            if hasattr(namespace, name):
                _patch(namespace, name, identity_checkpoint)
    _patch(jax.lax, "scan", _eager_scan(jax.lax.scan))
    _patch(jax.lax, "fori_loop", _eager_fori_loop(jax.lax.fori_loop))
    _patch(jax, "eval_shape", stand_ins.eager_eval_shape)
