"""On-save latency: flake8 on one file, in a fresh process, as an editor runs it after each save, with
and without this plugin.

    python benchmarks/on_save.py --plain-flake8 PLAIN --our-flake8 OURS --site-packages DIR [--rounds N]

(`bash benchmarks/run.sh --on-save` builds the two environments and runs only this; the full run
includes it.) PLAIN is flake8 of an environment without this package, OURS the same flake8 with it.

Each case is `flake8 --isolated FILE`, run with PLAIN and with OURS alternately, N rounds each. Before
every run the file gets one more line (`# save 3`), as a save changes it, so the plugin's cache never
holds the file's own result; only its imports' summaries (kept from a first run that is not timed).
One case instead reopens its file unchanged, which the results cache answers. The figure of each
side is its fastest run, the one least disturbed by the machine's other load (a latency, so wall
time); the ratio is OURS / PLAIN. Ratios are printed beside their targets and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

sys.path.insert(0, str(Path(__file__).parent))
from measure import Timing, run_command  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    name: str
    source: str  # the file, relative to site-packages ("repo:" for this repository)
    project: Optional[str] = None  # a package copied along, so that the file has its project's imports
    edited: bool = True  # False: reopened unchanged, its result cached
    target: Optional[float] = None  # the limit for OURS / PLAIN


CASES = (
    Case("no transformation named in the text", "jax/_src/partition_spec.py", target=1.1),
    Case("a JAX module without a trace site", "optax/_src/base.py", target=1.1),
    # The 3,107-line file "with trace sites": jax defines its transformations there rather
    # than calling them, so the prefilter turns it away, and the target of a file without a site holds.
    Case("jax's loops.py, 3,107 lines (no site the analysis can see)", "jax/_src/lax/control_flow/loops.py",
         target=1.1),
    Case("flax/linen/module.py, 3,298 lines with trace sites, imports cached", "flax/linen/module.py",
         project="flax", target=1.3),
    Case("the same, reopened unchanged (result cached)", "flax/linen/module.py", project="flax", edited=False),
    Case("the seed example, examples/seed_bugs.py", "repo:examples/seed_bugs.py"),
)


def prepare(case: Case, site_packages: Path, workdir: Path) -> Path:
    """A copy of the case's file (and of its package, for a project), which the runs may edit."""
    folder = workdir / case.name.split(",")[0].replace(" ", "-").replace("/", "-")
    if case.project is not None:
        if not folder.exists():
            shutil.copytree(site_packages / case.project, folder / case.project,
                            ignore=shutil.ignore_patterns("__pycache__"))
        return folder / case.source
    origin = REPOSITORY / case.source[len("repo:"):] if case.source.startswith("repo:") else site_packages / case.source
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / origin.name
    shutil.copyfile(origin, target)
    return target


def time_case(case: Case, path: Path, plain: Path, ours: Path, rounds: int) -> dict[str, Any]:
    cwd = path.parent if case.project is None else next(p for p in path.parents if not (p / "__init__.py").exists())
    original = path.read_bytes()
    command = lambda flake8: [str(flake8), "--isolated", str(path)]  # noqa: E731
    run_command(command(ours), cwd)  # untimed: fills the summaries of its imports (and its result)
    runs: dict[str, list[Timing]] = {"plain": [], "ours": []}
    try:
        for round_ in range(rounds):
            order = [("plain", plain), ("ours", ours)]
            for side, flake8 in order if round_ % 2 == 0 else reversed(order):
                if case.edited:
                    path.write_bytes(original + f"# save {round_} {side}\n".encode())
                runs[side].append(run_command(command(flake8), cwd))
    finally:
        path.write_bytes(original)
    best = {side: min(timings, key=lambda t: t.wall) for side, timings in runs.items()}
    return {
        "case": case.name,
        "file": case.source,
        "lines": original.count(b"\n"),
        "plain_wall_s": best["plain"].wall,
        "ours_wall_s": best["ours"].wall,
        "plain_cpu_s": best["plain"].cpu,
        "ours_cpu_s": best["ours"].cpu,
        "ratio": best["ours"].wall / best["plain"].wall,
        "target": case.target,
    }


def measure(plain: Path, ours: Path, site_packages: Path, rounds: int) -> list[dict[str, Any]]:
    # An editor's interpreter writes bytecode; one told not to would time compiling any module
    # installed without it on every run.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="jpl-on-save-") as scratch:
        workdir = Path(scratch)
        return [time_case(case, prepare(case, site_packages, workdir), plain, ours, rounds) for case in CASES]


def render(results: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'on save: flake8 FILE':<66}{'lines':>7}{'flake8 s':>10}{'+ ours s':>10}{'ratio':>7}  target"]
    for row in results:
        target = row["target"]
        verdict = "" if target is None else f"≤ {target:g}: {'met' if row['ratio'] <= target else 'MISSED'}"
        lines.append(f"{row['case']:<66}{row['lines']:>7}{row['plain_wall_s']:>10.3f}{row['ours_wall_s']:>10.3f}"
                     f"{row['ratio']:>7.2f}  {verdict}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain-flake8", type=Path, required=True, help="flake8 without this package's plugin")
    parser.add_argument("--our-flake8", type=Path, required=True, help="flake8 with this package installed")
    parser.add_argument("--site-packages", type=Path, required=True, help="where the corpus packages are installed")
    parser.add_argument("--rounds", type=int, default=9, help="runs of each side per case (default: 9)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    results = measure(args.plain_flake8.resolve(), args.our_flake8.resolve(), args.site_packages.resolve(), args.rounds)
    sys.stdout.write(render(results))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
