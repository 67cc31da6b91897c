"""What the JAX ecosystem's transformations do to a function, by qualified name (verified on jax 0.10.2).

One record per transformation (TRANSFORMATIONS): the analysis, the rewrites (`fix`) and the runtime
checker (`confirm`) all read it, through the sets derived from it below. Only the standard library is
imported: the runtime's child interpreter imports this module without libcst.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable, Optional


class Kind(Enum):
    """What a transformation does to the trace of the function it is given."""

    # The body runs once per cache key; globals, closures and a non-argument `self` are frozen into
    # the compiled program.
    COMPILE_AND_CACHE = "compile and cache"
    # Cached by function identity even without jit (`lax.cond`, `jax.checkpoint`).
    IDENTITY_CACHED = "cached by function identity"
    # Identity-cached loop primitives: one trace of the body serves every iteration.
    LOOP_BODY = "loop body"
    # Retraces on every call: not a site of its own; what it wraps is traced only when reached.
    TRANSPARENT = "transparent"


class RuntimeView(Enum):
    """How `confirm` treats a site of the transformation in the child interpreter."""

    FUNCTION = "function"  # returns a new function: each call of that function is recorded
    IMMEDIATE = "immediate"  # runs at once: the call itself is recorded
    TRACE_ONLY = "trace only"  # its value is a jaxpr, which no eager run can produce
    NOT_A_SITE = "not a site"  # transparent: never a trace site of its own


@dataclass(frozen=True)
class Transformation:
    """One transformation of the JAX ecosystem, as every part of the linter sees it.

    ``function_positions``/``function_keywords``: where its function arguments go (the positions of
    the positional arguments holding functions, and the keyword names they may be passed under;
    none for a positional-only parameter). ``call_preserving``: the function it returns is called
    like the original (same arguments, same results), so `fix` may follow calls through it.
    ``per_device``: the function runs once per device (pmap), so output it makes is repeated.
    ``retraced_per_call``: one trace of the body serves every element of one call, but each call
    traces it again (`lax.map`, `lax.associative_scan` on jax 0.10): nothing is cached across calls.
    ``copies_arguments``: module arguments are copied before the function sees them, with jit disabled
    too (equinox's filter transforms), so `object.__setattr__` on an argument is lost in both modes.
    """

    qualified: str
    kind: Kind
    runtime: RuntimeView
    function_positions: tuple[int, ...] = (0,)
    function_keywords: tuple[str, ...] = ("fun",)
    aliases: tuple[str, ...] = ()
    state_aware: bool = False
    run_at_once: bool = False
    call_preserving: bool = False
    per_device: bool = False
    retraced_per_call: bool = False
    copies_arguments: bool = False

    @property
    def caches_by_identity(self) -> bool:
        return self.kind in (Kind.IDENTITY_CACHED, Kind.LOOP_BODY)

    @property
    def needs_stand_in(self) -> bool:
        """Switching a site off needs an eager implementation, not just the bare function: an
        immediate transformation has no bare-function form, pmap maps over an axis."""
        return self.runtime is RuntimeView.IMMEDIATE or self.per_device

    @property
    def wraps_without_calling(self) -> bool:
        """Returns a wrapper holding the function without calling it (unless it is applied at once)."""
        return self.runtime is not RuntimeView.IMMEDIATE


_CACHING, _IDENTITY, _LOOP, _TRANSPARENT = Kind.COMPILE_AND_CACHE, Kind.IDENTITY_CACHED, Kind.LOOP_BODY, Kind.TRANSPARENT
_FUNCTION, _IMMEDIATE, _TRACE_ONLY, _NOT_A_SITE = (
    RuntimeView.FUNCTION, RuntimeView.IMMEDIATE, RuntimeView.TRACE_ONLY, RuntimeView.NOT_A_SITE
)


def _transparent(qualified: str, keywords: tuple[str, ...] = ("fun",), positions: tuple[int, ...] = (0,)) -> Transformation:
    return Transformation(qualified, _TRANSPARENT, _NOT_A_SITE, positions, keywords)


# Function parameters as in the signatures of jax 0.10.2, equinox and flax (checked with inspect).
TRANSFORMATIONS: tuple[Transformation, ...] = (
    Transformation("jax.jit", _CACHING, _FUNCTION, function_keywords=(), aliases=("jax.api.jit",), call_preserving=True),
    Transformation("jax.pmap", _CACHING, _FUNCTION, call_preserving=True, per_device=True),
    Transformation("jax.experimental.pjit.pjit", _CACHING, _FUNCTION, aliases=("jax.pjit",), call_preserving=True),
    Transformation("jax.make_jaxpr", _CACHING, _TRACE_ONLY),
    Transformation("jax.eval_shape", _CACHING, _IMMEDIATE, run_at_once=True),
    Transformation(
        "equinox.filter_jit", _CACHING, _FUNCTION, aliases=("eqx.filter_jit",), call_preserving=True,
        copies_arguments=True,
    ),
    Transformation("equinox.filter_pmap", _CACHING, _FUNCTION, per_device=True, copies_arguments=True),
    Transformation(
        "flax.nnx.jit",
        _CACHING,
        _FUNCTION,
        # `flax.nnx.compat.jit` is partial(nnx.jit, graph=True, graph_updates=True)
        aliases=("flax.nnx.transforms.compilation.jit", "flax.nnx.compat.jit"),
        state_aware=True,
        call_preserving=True,
    ),
    Transformation("flax.nnx.pmap", _CACHING, _FUNCTION, function_keywords=("f",), state_aware=True, per_device=True),
    Transformation(
        "flax.linen.jit", _CACHING, _FUNCTION, function_keywords=("target",), aliases=("flax.linen.transforms.jit",), state_aware=True
    ),
    Transformation("flax.core.lift.jit", _CACHING, _FUNCTION, function_keywords=("fn",), state_aware=True),
    Transformation("jax.lax.scan", _LOOP, _IMMEDIATE, (0,), ("f",)),
    Transformation("jax.lax.fori_loop", _LOOP, _IMMEDIATE, (2,), ("body_fun",)),
    Transformation("jax.lax.while_loop", _LOOP, _IMMEDIATE, (0, 1), ("cond_fun", "body_fun")),
    Transformation("jax.lax.cond", _IDENTITY, _IMMEDIATE, (1, 2), ("true_fun", "false_fun")),
    Transformation("jax.lax.switch", _IDENTITY, _IMMEDIATE, (1,), ("branches",)),  # a sequence of branches
    Transformation("jax.lax.map", _LOOP, _IMMEDIATE, (0,), ("f",), retraced_per_call=True),
    Transformation("jax.lax.associative_scan", _LOOP, _IMMEDIATE, (0,), ("fn",), retraced_per_call=True),
    Transformation(
        "jax.checkpoint", _IDENTITY, _FUNCTION, aliases=("jax.remat", "jax.ad_checkpoint.checkpoint", "jax.ad_checkpoint.remat")
    ),
    _transparent("jax.vmap"),
    _transparent("jax.grad"),
    _transparent("jax.value_and_grad"),
    _transparent("jax.jvp"),
    _transparent("jax.vjp"),
    _transparent("jax.jacfwd"),
    _transparent("jax.jacrev"),
    _transparent("jax.hessian"),
    _transparent("jax.linearize"),
    _transparent("jax.custom_jvp"),
    _transparent("jax.custom_vjp"),
    _transparent("jax.named_call"),
    _transparent("jax.named_scope", keywords=(), positions=()),  # takes a name; decorates through the result
    _transparent("equinox.filter_vmap"),
    _transparent("equinox.filter_grad"),
    _transparent("equinox.filter_value_and_grad"),
    _transparent("functools.partial", keywords=()),  # `func` is positional-only
)

BY_NAME: dict[str, Transformation] = {record.qualified: record for record in TRANSFORMATIONS}


def _named(wanted: Callable[[Transformation], bool]) -> frozenset[str]:
    return frozenset(record.qualified for record in TRANSFORMATIONS if wanted(record))


# Aliases that name the same transformation.
CANONICAL = {alias: record.qualified for record in TRANSFORMATIONS for alias in record.aliases}

COMPILE_AND_CACHE = _named(lambda record: record.kind is Kind.COMPILE_AND_CACHE)

# State-aware: Python-side mutation of modules passed in is carried back out (nnx graph state,
# linen variables through the lifted transformation).
STATE_AWARE = _named(lambda record: record.state_aware)

# Cached by function identity even without jit: positions of the function arguments.
IDENTITY_CACHED_ARGUMENTS = {record.qualified: record.function_positions for record in TRANSFORMATIONS if record.caches_by_identity}

LOOP_BODIES = _named(lambda record: record.kind is Kind.LOOP_BODY)

# Trace at once and return a result rather than a reusable compiled function.
RUN_AT_ONCE = _named(lambda record: record.run_at_once)

TRANSPARENT = _named(lambda record: record.kind is Kind.TRANSPARENT)

PARTIAL = "functools.partial"

WRAPS_WITHOUT_CALLING = _named(lambda record: record.wraps_without_calling)

# Keyword names under which the transformations take their functions (analysis, rewrites and runtime).
FUNCTION_KEYWORDS = tuple(dict.fromkeys(keyword for record in TRANSFORMATIONS for keyword in record.function_keywords))

# Their function is called like the original: `fix` follows calls through them.
CALL_PRESERVING = _named(lambda record: record.call_preserving)

# Loop primitives traced afresh at every call: a change between two calls reaches the second one.
RETRACED_EVERY_CALL = _named(lambda record: record.retraced_per_call)

COPIES_ARGUMENTS = _named(lambda record: record.copies_arguments)

# The function runs once per device: a print in it prints once per device.
RUNS_PER_DEVICE = _named(lambda record: record.per_device)

# Their function arguments run on the host at run time, not while tracing (not transformations).
HOST_CALLBACKS = frozenset(
    {
        "jax.debug.callback",
        "jax.pure_callback",
        "jax.experimental.io_callback",
        "jax.experimental.host_callback.call",
        "jax.experimental.host_callback.id_tap",
        "jax.experimental.host_callback.id_print",
        "jax.experimental.compute_on.compute_on",
    }
)

# Ways a class becomes a pytree that jit flattens and rebuilds (as a decorator, or called on the
# class at module level): a traced function's argument of such a class is a copy inside the trace.
PYTREE_REGISTRATIONS = frozenset(
    {
        "jax.tree_util.register_pytree_node_class",
        "jax.tree_util.register_pytree_with_keys_class",
        "jax.tree_util.register_dataclass",
        "jax.tree_util.register_pytree_node",
        "jax.tree_util.register_pytree_with_keys",
    }
)

# Argument types whose in-place updates jit carries back out (JAX refs, flax nnx variables and modules).
STATEFUL_ARGUMENT_PREFIXES = ("flax.nnx.", "jax.Ref", "jax.core.Ref", "jax.experimental.mutable_array")

# Host side effects that run only while tracing.
PRINT_FUNCTIONS = frozenset(
    {
        "print",
        "sys.stdout.write",
        "sys.stderr.write",
        "pprint.pprint",
        "logging.debug",
        "logging.info",
        "logging.warning",
        "logging.warn",
        "logging.error",
        "logging.exception",
        "logging.critical",
        "logging.log",
        "tqdm.tqdm.write",
    }
)
LOGGER_FACTORIES = frozenset({"logging.getLogger", "logging.get_logger", "absl.logging"})
LOGGER_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})
# Progress bars draw on the terminal: `pbar.update(1)` in a loop body advances the bar once per trace.
PROGRESS_BAR_FACTORIES = frozenset(
    {"tqdm.tqdm", "tqdm.trange", "tqdm.auto.tqdm", "tqdm.auto.trange", "tqdm.notebook.tqdm",
     "tqdm.notebook.trange", "tqdm.std.tqdm", "tqdm.rich.tqdm"}
)
PROGRESS_BAR_METHODS = frozenset(
    {"update", "set_description", "set_description_str", "set_postfix", "set_postfix_str", "write"}
)

HOST_RANDOMNESS_PREFIXES = ("numpy.random.", "random.", "secrets.", "uuid.")
HOST_RANDOMNESS_FUNCTIONS = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.process_time",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "os.urandom",
        "os.getrandom",
    }
)
# Calls that build a host random generator: calling its methods in traced code is host randomness.
HOST_GENERATOR_FACTORIES = frozenset(
    {"numpy.random.default_rng", "numpy.random.RandomState", "numpy.random.Generator", "random.Random"}
)
# Constructors and helpers under those prefixes that draw nothing.
HOST_RANDOMNESS_EXCEPTIONS = frozenset({"uuid.UUID", "random.Random", "numpy.random.Generator"})


def canonical(qualified: str) -> str:
    return CANONICAL.get(qualified, qualified)


def transformation(qualified: str) -> Optional[Transformation]:
    """The record of a transformation by any of its names; None for one the registry does not know
    (a configured jit function, for instance)."""
    return BY_NAME.get(canonical(qualified))


def is_call_preserving(qualified: str, jit_functions: frozenset[str] = frozenset()) -> bool:
    """A configured jit function is declared to compile and cache like `jax.jit`: it is taken to be
    called like the function it was given, as jit is."""
    record = transformation(qualified)
    return record.call_preserving if record is not None else qualified in jit_functions


def is_print_like(qualified: str, factory: Optional[str] = None, method: Optional[str] = None) -> bool:
    """`print`, `logging.info`, `absl.logging.info`, `logger.info` on a logger made by a factory, or
    `pbar.update()` on a tqdm progress bar."""
    if qualified in PRINT_FUNCTIONS:
        return True
    if qualified.startswith("logging.") and qualified.rsplit(".", 1)[-1] in LOGGER_METHODS:
        return True
    if qualified.startswith("absl.logging.") and qualified.rsplit(".", 1)[-1] in LOGGER_METHODS:
        return True
    if factory in PROGRESS_BAR_FACTORIES:
        return method in PROGRESS_BAR_METHODS
    return factory in LOGGER_FACTORIES and method in LOGGER_METHODS


def is_host_randomness(qualified: str) -> bool:
    if qualified in HOST_RANDOMNESS_FUNCTIONS:
        return True
    if qualified in HOST_RANDOMNESS_EXCEPTIONS:
        return False
    return qualified.startswith(HOST_RANDOMNESS_PREFIXES)
