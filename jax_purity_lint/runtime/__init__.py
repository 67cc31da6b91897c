"""The runtime checker: `jax-purity-lint confirm` runs each diagnosed module eagerly and jitted, in
isolated subprocesses, and turns every static diagnosis into a verdict backed by evidence.

Parent side (never imports jax): confirm, sandbox, warm_start, experiment, divergence, compare,
site_removal, verdicts, report, cli. Child side (runs inside the sandboxed interpreter): child,
site_runtime, eager_patches, serialize; warm_server is the interpreter each run is forked from. See
docs/runtime-checker.md.

This package imports nothing at import time, so the child interpreter starts fast.
"""
