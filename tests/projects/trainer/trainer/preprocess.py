"""Arguments and output: a jitted step that changes the caller's dict in place, and one that prints."""
import jax

from .model import schedule  # a relative import: the module only works inside its package


@jax.jit
def normalize(batch):
    batch["count"] = batch["count"] + 1  # JPL300: the caller's dict gets a tracer, once
    return batch["x"] / 2 * (schedule["lr"] > 0)  # JPL100: model.train() changes the schedule


@jax.jit
def report(loss):
    print("loss", loss)  # JPL400: printed once, while tracing, as a tracer
    return loss * 1.0
