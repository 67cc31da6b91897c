"""What the JAX ecosystem's transformations do to a function, by qualified name (verified on jax 0.10.2)."""

from __future__ import annotations

# Aliases that name the same transformation.
CANONICAL = {
    "jax.remat": "jax.checkpoint",
    "jax.ad_checkpoint.checkpoint": "jax.checkpoint",
    "jax.ad_checkpoint.remat": "jax.checkpoint",
    "jax.pjit": "jax.experimental.pjit.pjit",
    "jax.api.jit": "jax.jit",
    "eqx.filter_jit": "equinox.filter_jit",
    "flax.nnx.transforms.compilation.jit": "flax.nnx.jit",
    "flax.nnx.compat.jit": "flax.nnx.jit",  # partial(nnx.jit, graph=True, graph_updates=True)
    "flax.linen.transforms.jit": "flax.linen.jit",
}

# Compile-and-cache: the body runs once per cache key; globals, closures and a non-argument
# `self` are frozen into the compiled program.
COMPILE_AND_CACHE = frozenset(
    {
        "jax.jit",
        "jax.pmap",
        "jax.experimental.pjit.pjit",
        "jax.make_jaxpr",
        "jax.eval_shape",
        "equinox.filter_jit",
        "equinox.filter_pmap",
        "flax.nnx.jit",
        "flax.nnx.pmap",
        "flax.linen.jit",
        "flax.core.lift.jit",
    }
)

# State-aware: Python-side mutation of modules passed in is carried back out (nnx graph state,
# linen variables through the lifted transformation).
STATE_AWARE = frozenset({"flax.nnx.jit", "flax.nnx.pmap", "flax.linen.jit", "flax.core.lift.jit"})

# Cached by function identity even without jit: positions of the function arguments.
IDENTITY_CACHED_ARGUMENTS = {
    "jax.lax.scan": (0,),
    "jax.lax.fori_loop": (2,),
    "jax.lax.while_loop": (0, 1),
    "jax.lax.cond": (1, 2),
    "jax.lax.switch": (1,),  # a sequence of branches
    "jax.lax.map": (0,),
    "jax.lax.associative_scan": (0,),
    "jax.checkpoint": (0,),
}

# Loop primitives: one trace of the body serves every iteration.
LOOP_BODIES = frozenset(
    {"jax.lax.scan", "jax.lax.fori_loop", "jax.lax.while_loop", "jax.lax.map", "jax.lax.associative_scan"}
)

# Trace at once and return a result rather than a reusable compiled function.
RUN_AT_ONCE = frozenset({"jax.eval_shape"})

# Their function arguments run on the host at run time, not while tracing.
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

# Argument types whose in-place updates jit carries back out (JAX refs, flax nnx variables and modules).
STATEFUL_ARGUMENT_PREFIXES = ("flax.nnx.", "jax.Ref", "jax.core.Ref", "jax.experimental.mutable_array")

# Retrace on every call: not a site on their own; what they wrap is traced only when reached.
TRANSPARENT = frozenset(
    {
        "jax.vmap",
        "jax.grad",
        "jax.value_and_grad",
        "jax.jvp",
        "jax.vjp",
        "jax.jacfwd",
        "jax.jacrev",
        "jax.hessian",
        "jax.linearize",
        "jax.custom_jvp",
        "jax.custom_vjp",
        "jax.named_call",
        "jax.named_scope",
        "equinox.filter_vmap",
        "equinox.filter_grad",
        "equinox.filter_value_and_grad",
        "functools.partial",
    }
)

PARTIAL = "functools.partial"

# Return a wrapper holding the function without calling it (unless the wrapper is applied at once).
WRAPS_WITHOUT_CALLING = (COMPILE_AND_CACHE | TRANSPARENT | {"jax.checkpoint"}) - RUN_AT_ONCE

# Keyword names under which the transformations take the function.
FUNCTION_KEYWORDS = ("fun", "f", "fn", "body_fun", "func")

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
    }
)
LOGGER_FACTORIES = frozenset({"logging.getLogger", "logging.get_logger", "absl.logging"})
LOGGER_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})

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


def is_host_randomness(qualified: str) -> bool:
    if qualified in HOST_RANDOMNESS_FUNCTIONS:
        return True
    if qualified in HOST_RANDOMNESS_EXCEPTIONS:
        return False
    return qualified.startswith(HOST_RANDOMNESS_PREFIXES)
