"""A host random draw (`np.random.normal(0, 2, size=3)`, `random.randint(1, 6)`) as the matching
`jax.random` draw from a subkey (`0 + 2 * jax.random.normal(subkey, 3)`).

Each host function is described by its signature (names and defaults, as NumPy and the `random` module
document them) and a template over those names; a call is bound to the signature like Python binds it,
so positional and keyword arguments both work. A draw that has no counterpart, or a call this cannot
bind (`*args`, an unknown keyword), gets a reason instead, naming the jax.random function to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import libcst as cst

REQUIRED = object()
# Operands that need no parentheses before `+`/`*` (a unary minus binds tighter than both).
ATOMIC = (cst.Name, cst.Attribute, cst.Integer, cst.Float, cst.Call, cst.Subscript, cst.UnaryOperation)


@dataclass(frozen=True)
class HostDraw:
    """`template` names the bound parameters in braces and `{jax}`/`{key}`; `{_name}` is the parameter
    as an optional trailing argument (`, shape` or `, minval=low`), left out when the call leaves it at
    its default; `{name_plus}`/`{name_times}` are `name + `/`name * `, or nothing at the default.
    `dims`: the parameters are `*dims` (`np.random.rand(2, 3)`), which become the shape."""

    parameters: tuple[tuple[str, object], ...]
    template: str
    dims: bool = False
    loc_scale: tuple[str, ...] = ()  # parameters used as operands of `+`/`*`: parenthesized if needed
    keywords: tuple[tuple[str, str], ...] = ()  # parameter -> the jax.random keyword it is passed as


def _p(*names: Union[str, tuple[str, object]]) -> tuple[tuple[str, object], ...]:
    return tuple((name, REQUIRED) if isinstance(name, str) else name for name in names)


SHAPE = ("size", "()")
NUMPY = {
    "normal": HostDraw(_p(("loc", "0.0"), ("scale", "1.0"), SHAPE),
                       "{loc_plus}{scale_times}{jax}.random.normal({key}{_size})",
                       loc_scale=("loc", "scale")),
    "standard_normal": HostDraw(_p(SHAPE), "{jax}.random.normal({key}{_size})"),
    "randn": HostDraw((), "{jax}.random.normal({key}{_dims})", dims=True),
    "uniform": HostDraw(_p(("low", "0.0"), ("high", "1.0"), SHAPE),
                        "{jax}.random.uniform({key}{_size}{_low}{_high})",
                        keywords=(("low", "minval"), ("high", "maxval"))),
    "rand": HostDraw((), "{jax}.random.uniform({key}{_dims})", dims=True),
    "random": HostDraw(_p(SHAPE), "{jax}.random.uniform({key}{_size})"),
    "random_sample": HostDraw(_p(SHAPE), "{jax}.random.uniform({key}{_size})"),
    "ranf": HostDraw(_p(SHAPE), "{jax}.random.uniform({key}{_size})"),
    "sample": HostDraw(_p(SHAPE), "{jax}.random.uniform({key}{_size})"),
    "randint": HostDraw(_p("low", ("high", None), SHAPE), "{jax}.random.randint({key}, {size}, {low}, {high})"),
    "choice": HostDraw(_p("a", SHAPE, ("replace", "True"), ("p", "None")),
                       "{jax}.random.choice({key}, {a}, {size}{_replace}{_p})",
                       keywords=(("replace", "replace"), ("p", "p"))),
    "permutation": HostDraw(_p("x"), "{jax}.random.permutation({key}, {x})"),
    "exponential": HostDraw(_p(("scale", "1.0"), SHAPE), "{scale_times}{jax}.random.exponential({key}{_size})",
                            loc_scale=("scale",)),
    "standard_exponential": HostDraw(_p(SHAPE), "{jax}.random.exponential({key}{_size})"),
    "poisson": HostDraw(_p(("lam", "1.0"), SHAPE), "{jax}.random.poisson({key}, {lam}{_size})"),
    "binomial": HostDraw(_p("n", "p", SHAPE), "{jax}.random.binomial({key}, {n}, {p}{_size})"),
    "beta": HostDraw(_p("a", "b", SHAPE), "{jax}.random.beta({key}, {a}, {b}{_size})"),
    "gamma": HostDraw(_p("shape", ("scale", "1.0"), SHAPE), "{scale_times}{jax}.random.gamma({key}, {shape}{_size})",
                      loc_scale=("scale",)),
    "laplace": HostDraw(_p(("loc", "0.0"), ("scale", "1.0"), SHAPE),
                        "{loc_plus}{scale_times}{jax}.random.laplace({key}{_size})", loc_scale=("loc", "scale")),
    "logistic": HostDraw(_p(("loc", "0.0"), ("scale", "1.0"), SHAPE),
                         "{loc_plus}{scale_times}{jax}.random.logistic({key}{_size})", loc_scale=("loc", "scale")),
    "gumbel": HostDraw(_p(("loc", "0.0"), ("scale", "1.0"), SHAPE),
                       "{loc_plus}{scale_times}{jax}.random.gumbel({key}{_size})", loc_scale=("loc", "scale")),
    "multivariate_normal": HostDraw(_p("mean", "cov", SHAPE),
                                    "{jax}.random.multivariate_normal({key}, {mean}, {cov}{_size})"),
}
PYTHON = {
    "random": HostDraw((), "{jax}.random.uniform({key})"),
    "uniform": HostDraw(_p("a", "b"), "{jax}.random.uniform({key}, minval={a}, maxval={b})"),
    "gauss": HostDraw(_p(("mu", "0.0"), ("sigma", "1.0")), "{mu_plus}{sigma_times}{jax}.random.normal({key})",
                      loc_scale=("mu", "sigma")),
    "normalvariate": HostDraw(_p(("mu", "0.0"), ("sigma", "1.0")), "{mu_plus}{sigma_times}{jax}.random.normal({key})",
                              loc_scale=("mu", "sigma")),
    "randint": HostDraw(_p("a", "b"), "{jax}.random.randint({key}, (), {a}, {b} + 1)", loc_scale=("b",)),
    "expovariate": HostDraw(_p("lambd"), "{jax}.random.exponential({key}) / {lambd}", loc_scale=("lambd",)),
}
# In place, or no jax.random counterpart: what to do instead.
NO_COUNTERPART = {
    "numpy.random.shuffle": "it shuffles in place: use `x = jax.random.permutation(subkey, x)`",
    "random.shuffle": "it shuffles in place: use `x = jax.random.permutation(subkey, x)`",
    "random.choice": "a Python sequence cannot be indexed by a traced draw: "
                     "use `jax.random.choice(subkey, jnp.asarray(seq))` when it holds numbers",
    "random.randrange": "use `jax.random.randint(subkey, (), start, stop)`",
    "random.sample": "use `jax.random.choice(subkey, jnp.asarray(population), (k,), replace=False)`",
}


def jax_draw(qualified: str, call: cst.Call, code_of, jax_name: str, subkey: str) -> Union[cst.BaseExpression, str]:
    """The jax.random expression for the host draw ``call`` (``qualified``: its resolved name), or the
    reason there is none. ``code_of``: the source of an argument's node."""
    module, _, function = qualified.rpartition(".")
    table = NUMPY if module == "numpy.random" else PYTHON if module == "random" else {}
    draw = table.get(function)
    if draw is None:
        how = NO_COUNTERPART.get(qualified, "find the matching `jax.random` function and draw from `subkey`")
        return f"no direct jax.random counterpart for `{qualified}`: {how}"
    bound = _bind(draw, call, code_of)
    if isinstance(bound, str):
        return f"cannot read the arguments of `{qualified}` ({bound}): draw it from `{subkey}` by hand"
    if function == "randint" and module == "numpy.random" and bound["high"] == "None":  # randint(high): from 0
        bound["low"], bound["high"] = "0", bound["low"]
    return cst.parse_expression(draw.template.format(jax=jax_name, key=subkey, **bound))


def _bind(draw: HostDraw, call: cst.Call, code_of) -> Union[dict[str, str], str]:
    """Parameter name -> source text of its value, as Python would bind the call."""
    if any(arg.star for arg in call.args):
        return "a * or ** argument"
    positional = [arg.value for arg in call.args if arg.keyword is None]
    keywords = {arg.keyword.value: arg.value for arg in call.args if arg.keyword is not None}
    if draw.dims:
        if keywords:
            return f"keyword `{next(iter(keywords))}`"
        dims = "(" + "".join(f"{code_of(value)}, " for value in positional).rstrip(" ") + ")"
        return {"dims": dims, "_dims": f", {dims}" if positional else ""}
    if len(positional) > len(draw.parameters):
        return "more arguments than it takes"
    names = [name for name, _default in draw.parameters]
    unknown = sorted(set(keywords) - set(names))
    if unknown:
        return f"keyword `{unknown[0]}`"
    values: dict[str, Optional[cst.BaseExpression]] = dict(zip(names, positional))
    bound: dict[str, str] = {}
    passed_as = dict(draw.keywords)
    for name, default in draw.parameters:
        value = values.get(name, keywords.get(name))
        if value is None and default is REQUIRED:
            return f"`{name}` is missing"
        text = code_of(value) if value is not None else str(default)
        if name == "size" and isinstance(value, cst.Integer):
            text = f"({text},)"  # a shape: some jax.random functions (choice) take a sequence only
        if name in draw.loc_scale and value is not None and not isinstance(value, ATOMIC):
            text = f"({text})"
        bound[name] = text
        bound[f"{name}_plus"] = "" if value is None else f"{text} + "  # `loc + draw`, or the draw alone
        bound[f"{name}_times"] = "" if value is None else f"{text} * "
        keyword = f"{passed_as[name]}=" if name in passed_as else ""
        bound[f"_{name}"] = "" if value is None else f", {keyword}{text}"
    return bound
