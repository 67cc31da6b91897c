"""Test helper: does a rewritten module, run jitted, do what the original did eagerly?

`compare_rewrite` uses the runtime checker itself (`jax_purity_lint.runtime`: a fresh sandboxed
interpreter per run, its eager mode with the known disable_jit gaps fixed, its comparison of values and
printed output). When that package cannot be imported, `run_pairs` below is the fallback.

A child interpreter runs both sides of each case (the rewritten module jitted first, then the original
eagerly), each loaded as its own module from its own file, with stdout captured; values come back as
plain JSON data (arrays as lists), compared with a small tolerance. Several cases share a child, so
jax is imported once per batch.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

CHILD = r"""
import contextlib, importlib.util, io, json, sys

def plain(value, depth=0):
    import numpy as np
    if depth > 30:
        return "<deep>"
    if hasattr(value, "__jax_array__") or type(value).__module__.startswith(("jax", "jaxlib")):
        try:
            value = np.asarray(value)
        except Exception:
            return repr(type(value))
    if isinstance(value, np.ndarray):
        return plain(value.tolist(), depth + 1)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return repr(value)

def run(path, mode, name):
    import jax
    buffer = io.StringIO()
    result = {}
    with contextlib.redirect_stdout(buffer):
        context = jax.disable_jit() if mode == "eager" else contextlib.nullcontext()
        try:
            with context:
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                value = module.scenario()
                jax.effects_barrier()
            result = {"ok": True, "value": plain(value)}
        except BaseException as error:
            result = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:300]}"}
        try:
            jax.effects_barrier()
        except BaseException:
            pass
    result["stdout"] = buffer.getvalue()
    return result

jobs = json.loads(sys.argv[1])
print(json.dumps([run(*job) for job in jobs]))
"""


@dataclass
class Run:
    ok: bool
    value: Any = None
    error: str = ""
    stdout: str = ""


def run_pairs(cases: list[tuple[str, Path]], timeout: float = 300.0) -> list[tuple[Run, Run]]:
    """For each (rewritten text, original file): (the rewrite run jitted, the original run eagerly).

    All cases share one child interpreter (jax is imported once); each module is loaded from its own
    file under its own name, so they do not see each other's globals.
    """
    with tempfile.TemporaryDirectory(prefix="jpl-rewrite-") as folder:
        jobs = []
        for index, (rewritten, original) in enumerate(cases):
            subfolder = Path(folder) / str(index)
            subfolder.mkdir()
            rewritten_path = subfolder / original.name
            rewritten_path.write_text(rewritten, encoding="utf-8")
            jobs.append([str(rewritten_path), "jit", f"rewritten_{index}_{original.stem}"])
            jobs.append([str(original.resolve()), "eager", f"original_{index}_{original.stem}"])
        environment = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONHASHSEED": "0"}
        completed = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(jobs)],
            capture_output=True, text=True, timeout=timeout, cwd=folder, env=environment,
        )
    if completed.returncode != 0:
        failure = Run(False, error=f"child exited {completed.returncode}: {completed.stderr[-800:]}")
        return [(failure, failure) for _ in cases]
    results = [Run(**result) for result in json.loads(completed.stdout.strip().splitlines()[-1])]
    return [(results[2 * i], results[2 * i + 1]) for i in range(len(cases))]


def run_pair(rewritten: str, original: Path, timeout: float = 180.0) -> tuple[Run, Run]:
    return run_pairs([(rewritten, original)], timeout)[0]


def same(a: Any, b: Any, rel: float = 1e-5, absolute: float = 1e-6) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rel, abs_tol=absolute)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, rel, absolute) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel, absolute) for k in a)
    return a == b


def compare_rewrite(rewritten: str, original: Path, timeout: float = 180.0) -> Optional[str]:
    """None when the rewrite, jitted, agrees with the original run eagerly; else what differs."""
    try:
        from jax_purity_lint.runtime.divergence import compare_runs
        from jax_purity_lint.runtime.experiment import describe_subject, run_experiment
        from jax_purity_lint.runtime.sandbox import SandboxLimits
    except ImportError:
        return difference(*run_pair(rewritten, original, timeout))
    source = original.read_text(encoding="utf-8")
    subject = describe_subject(original, source)
    limits = SandboxLimits(timeout=timeout)
    eager = run_experiment(subject, source, "eager", "eager original", limits)
    if not eager.ok:
        return f"the original fails eagerly: {eager.failure.summary()}"
    jitted = run_experiment(subject, rewritten, "jit", "jitted rewrite", limits)
    divergence = compare_runs(eager, jitted)
    if not divergence:
        return None
    return "; ".join(d.describe("jitted rewrite") for d in divergence.differences)


def difference(jitted: Run, eager: Run) -> Optional[str]:
    """None when the jitted rewrite does what the original did eagerly (value and printed output)."""
    if not eager.ok:
        return f"the original fails eagerly: {eager.error}"
    if not jitted.ok:
        return f"the rewritten module fails jitted: {jitted.error}"
    if not same(jitted.value, eager.value):
        return f"values differ: jitted rewrite {jitted.value!r} vs eager original {eager.value!r}"
    if jitted.stdout != eager.stdout:
        return f"printed output differs: {jitted.stdout!r} vs {eager.stdout!r}"
    return None
