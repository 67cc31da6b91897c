"""Child side: eager implementations that take the place of a switched-off trace site.

A switched-off jit-like site simply runs its function (no stand-in needed). These cover the
transformations that do something besides caching: pmap maps over an axis, lax control flow loops
or branches, eval_shape returns shapes. Each runs the user's function as plain Python on concrete
values, every time, as ``jax.disable_jit()`` would -- but for this one site only, so other jitted
functions stay jitted. Where Python cannot drive the loop (bounds or predicates that are tracers,
because the site sits inside another trace) the real transformation is used: that site is then not
switched off, and attribution fails honestly rather than pretending.
"""

from __future__ import annotations

import contextlib
import functools
import io
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.jax_api import canonical

# The real transformations, taken before the eager run patches any of them.
_REAL = {
    "jax.lax.scan": jax.lax.scan,
    "jax.lax.fori_loop": jax.lax.fori_loop,
    "jax.lax.while_loop": jax.lax.while_loop,
    "jax.lax.cond": jax.lax.cond,
    "jax.lax.switch": jax.lax.switch,
    "jax.lax.associative_scan": jax.lax.associative_scan,
    "jax.eval_shape": jax.eval_shape,
}

_NOT_CONCRETE = (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError)


def _is_concrete(value: Any) -> bool:
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value))


def zero_length_scan(f: Callable, init: Any, xs: Any, length: Any, reverse: bool, **options: Any) -> Any:
    """A scan that runs no iteration still needs its output shapes, which only tracing the body gives:
    trace it with jit enabled and its printed output thrown away (it would not print eagerly)."""
    with jax.disable_jit(False), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return _REAL["jax.lax.scan"](f, init, xs, length=length, reverse=reverse, **options)


def python_scan(f: Callable, init: Any, xs: Any = None, length: Any = None, reverse: bool = False, **options: Any) -> Any:
    xs_leaves, xs_tree = jax.tree_util.tree_flatten(xs)
    if length is None:
        length = xs_leaves[0].shape[0] if xs_leaves else None
    if length is None:
        return _REAL["jax.lax.scan"](f, init, xs, length=length, reverse=reverse, **options)
    length = int(length)
    if length == 0:
        return zero_length_scan(f, init, xs, length, reverse, **options)
    carry = init
    ys = []
    for i in reversed(range(length)) if reverse else range(length):
        x = jax.tree_util.tree_unflatten(xs_tree, [leaf[i] for leaf in xs_leaves])
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *ys)


def python_fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any, **options: Any) -> Any:
    if not (_is_concrete(lower) and _is_concrete(upper)):
        return _REAL["jax.lax.fori_loop"](lower, upper, body_fun, init_val, **options)
    value = init_val
    index_dtype = jnp.result_type(lower, upper)
    for i in range(int(lower), int(upper)):
        value = body_fun(jnp.asarray(i, dtype=index_dtype), value)  # an array, as under jit
    return value


def python_while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    value = jax.tree_util.tree_map(jnp.asarray, init_val)
    try:
        keep_going = bool(cond_fun(value))
    except _NOT_CONCRETE:
        return _REAL["jax.lax.while_loop"](cond_fun, body_fun, init_val)
    while keep_going:
        value = jax.tree_util.tree_map(jnp.asarray, body_fun(value))
        keep_going = bool(cond_fun(value))
    return value


def python_cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any, **options: Any) -> Any:
    if "operand" in options:
        operands = (options.pop("operand"),)
    if not _is_concrete(pred):
        return _REAL["jax.lax.cond"](pred, true_fun, false_fun, *operands, **options)
    return true_fun(*operands) if bool(pred) else false_fun(*operands)


def python_switch(index: Any, branches: Any, *operands: Any, **options: Any) -> Any:
    if "operand" in options:
        operands = (options.pop("operand"),)
    if not _is_concrete(index):
        return _REAL["jax.lax.switch"](index, branches, *operands, **options)
    chosen = min(max(int(index), 0), len(branches) - 1)  # lax.switch clamps the index
    return branches[chosen](*operands)


def python_map(f: Callable, xs: Any, **options: Any) -> Any:
    return python_scan(lambda _, x: (None, f(x)), None, xs)[1]


def eager_eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """Run ``fun`` for real and describe what it returned; abstract arguments need the real thing."""
    if any(_is_abstract(leaf) for leaf in jax.tree_util.tree_leaves((args, kwargs))):
        return _REAL["jax.eval_shape"](fun, *args, **kwargs)
    result = fun(*args, **kwargs)
    return jax.tree_util.tree_map(lambda leaf: jax.ShapeDtypeStruct(jnp.shape(leaf), jnp.result_type(leaf)), result)


def _is_abstract(leaf: Any) -> bool:
    """A shape and a dtype with no values: `jax.ShapeDtypeStruct`, `jax.core.ShapedArray` (jax-md's
    `space.canonicalize_displacement_or_metric` passes these), or any such duck type. Arrays, tracers,
    numpy values and Python numbers have values."""
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic, int, float, complex, bool)):
        return False
    return hasattr(leaf, "shape") and hasattr(leaf, "dtype")


def _keywords_of(transform_expression: Any) -> dict:
    """`partial(jax.pmap, axis_name="i")` carries options the stand-in must honour."""
    if isinstance(transform_expression, functools.partial):
        return dict(transform_expression.keywords)
    return {}


def pmap_as_vmap(transform_expression: Any) -> Callable:
    preset = _keywords_of(transform_expression)

    def vmapped(fun: Callable, *args: Any, **options: Any) -> Callable:
        options = {**preset, **options}
        in_axes = options.get("in_axes", 0)
        static = options.get("static_broadcasted_argnums", ())
        static = (static,) if isinstance(static, int) else tuple(static)
        if static:
            # vmap has no static arguments: close over them per call instead
            def call(*call_args: Any) -> Any:
                axes = in_axes if isinstance(in_axes, (list, tuple)) else [in_axes] * len(call_args)
                axes = [None if i in static else axis for i, axis in enumerate(axes)]
                return jax.vmap(fun, in_axes=tuple(axes), out_axes=options.get("out_axes", 0),
                                axis_name=options.get("axis_name"))(*call_args)

            return call
        return jax.vmap(fun, in_axes=in_axes, out_axes=options.get("out_axes", 0), axis_name=options.get("axis_name"))

    return vmapped


def equinox_pmap_as_vmap(transform_expression: Any) -> Callable:
    import equinox

    preset = _keywords_of(transform_expression)

    def vmapped(fun: Callable, *args: Any, **options: Any) -> Callable:
        options = {**preset, **options}
        kept = {name: options[name] for name in ("in_axes", "out_axes", "axis_name") if name in options}
        return equinox.filter_vmap(fun, **kept)

    return vmapped


def real_associative_scan(fn: Callable, elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """`lax.associative_scan` keeps no trace: it calls ``fn`` on the arrays on every call (checked on
    jax 0.10.2), so the real thing is its own eager implementation."""
    return _REAL["jax.lax.associative_scan"](fn, elems, reverse=reverse, axis=axis)


# By the registry's qualified names (jax_api.TRANSFORMATIONS): one for every record that needs one.
STAND_INS: dict[str, Callable[[Any], Callable]] = {
    "jax.lax.scan": lambda _: python_scan,
    "jax.lax.fori_loop": lambda _: python_fori_loop,
    "jax.lax.while_loop": lambda _: python_while_loop,
    "jax.lax.cond": lambda _: python_cond,
    "jax.lax.switch": lambda _: python_switch,
    "jax.lax.map": lambda _: python_map,
    "jax.lax.associative_scan": lambda _: real_associative_scan,
    "jax.eval_shape": lambda _: eager_eval_shape,
    "jax.pmap": pmap_as_vmap,
    "flax.nnx.pmap": pmap_as_vmap,
    "equinox.filter_pmap": equinox_pmap_as_vmap,
}


def stand_in_for(transform: str, transform_expression: Any) -> Callable:
    """The eager implementation that replaces ``transform`` at a switched-off site."""
    name = canonical(transform)
    if name not in STAND_INS:
        raise LookupError(f"no eager stand-in for {transform}")
    return STAND_INS[name](transform_expression)
