"""What following state across modules costs (the project-wide analysis), as ratios measured in one run.

    python benchmarks/project_bench.py --projects DIR [--plain-flake8 FLAKE8] [--rounds N]

DIR holds one folder per project (a checkout, or an installed package copied out of site-packages:
benchmarks/run.sh passes the corpus that way). Printed, each figure beside its target:

- check, project-wide / per file: the engine over every .py file, in-process, file by file, with the
  other modules followed (`analyse_file`'s default) and without (`project=False`); the summary cache
  cold (emptied first) and warm (as a second run finds it);
- flake8, (d - c) / c: flake8 with this plugin (d) against flake8 alone (c, FLAKE8 from an environment
  without this package), over every project, summary cache cold and warm;
- re-check after an edit: `check` over a project whose result cache is warm, after one file that reads
  another module's state was edited, against `check --no-cache` of that file alone.

Each figure is the fastest of N rounds (3 by default), the rounds measuring every figure in turn, so
that the machine's other load, which moves a single measurement by a quarter on a shared machine,
disturbs the two sides of a ratio alike; each round's ratios are printed too, to show the spread.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from jax_purity_lint.engine import analyse_file

TARGETS = {
    "check cold / per file": 1.3,
    "check warm / per file": 1.3,
    "flake8 (d-c)/c cold": 0.5,
    "flake8 (d-c)/c warm": 0.2,
    "edited file re-check / file alone": 2.0,
}


def python_files(projects: Path) -> list[Path]:
    return sorted(p for p in projects.rglob("*.py") if ".jpl_cache" not in p.parts)


def clear_caches(projects: Path) -> None:
    for cache in projects.rglob(".jpl_cache"):
        shutil.rmtree(cache, ignore_errors=True)


def engine_seconds(files: list[Path], project: bool, cache: Path) -> float:
    """A fresh interpreter per measurement: the per-process memo of summaries starts empty; the
    summaries on disk are kept in `cache`, as `check` keeps them beside its results."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from jax_purity_lint.analysis import cache_place\n"
        "from jax_purity_lint.engine import analyse_file\n"
        f"cache_place.use({str(cache)!r})\n"
        "files = [Path(p) for p in sys.stdin.read().split()]\n"
        "start = time.perf_counter()\n"
        "for path in files:\n"
        f"    analyse_file(path.read_bytes(), str(path), keep_tree=False, project={None if project else False})\n"
        "print(time.perf_counter() - start)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input="\n".join(map(str, files)), capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def flake8_seconds(flake8: str, projects: Path) -> float:
    start = time.perf_counter()
    # From the corpus folder: the plugin keeps summaries where `check` would keep results (its .jpl_cache).
    subprocess.run([flake8, "--isolated", "--exit-zero", "-q", "."], cwd=projects, capture_output=True, check=True)
    return time.perf_counter() - start


def our_flake8() -> str:
    return str(Path(sys.executable).with_name("flake8"))


def edited_file(files: list[Path]) -> Path:
    """The largest file whose result depends on another module of its project."""
    candidates = []
    for path in files:
        analysis = analyse_file(path.read_bytes(), str(path), keep_tree=False)
        if any(kind == "changes" for kind, _, _ in analysis.dependencies):
            candidates.append((path.stat().st_size, str(path)))
    if not candidates:
        raise SystemExit("no file of the corpus reads state of another module: nothing to edit")
    return Path(max(candidates)[1])


def cli(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "jax_purity_lint", "check", *args], cwd=cwd, capture_output=True)
    if result.returncode not in (0, 1):
        raise SystemExit(f"check {' '.join(args)} failed: {result.stderr.decode()[-2000:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=Path, required=True)
    parser.add_argument("--plain-flake8", help="flake8 of an environment without this package")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measurement; the fastest counts")
    args = parser.parse_args()
    projects = args.projects.resolve()
    files = python_files(projects)
    print(f"{len(files)} files in {projects}")
    plain = os.path.abspath(shutil.which(args.plain_flake8) or args.plain_flake8) if args.plain_flake8 else None

    rounds = [one_round(files, projects, plain) for _ in range(max(1, args.rounds))]
    for number, seconds in enumerate(rounds, start=1):
        print(f"round {number}: " + ", ".join(f"{name} {value:.2f} s" for name, value in seconds.items()))
        print("  ratios: " + ", ".join(f"{name} {value:.2f}" for name, value in ratios(seconds).items()))
    fastest = {name: min(seconds[name] for seconds in rounds) for name in rounds[0]}
    figures = ratios(fastest)

    edited = edited_file(files)
    project = next(parent for parent in edited.parents if parent.parent == projects)
    cli(".", cwd=project)  # fills the result cache and the summaries
    original = edited.read_bytes()
    try:
        edited.write_bytes(original + b"\n# edited\n")
        tree = cli(".", cwd=project)  # the edited file is analysed again, the others come from the cache
        linked = min(engine_seconds([edited], project=True, cache=project / ".jpl_cache") for _ in range(3))
        alone_file = min(engine_seconds([edited], project=False, cache=project / ".jpl_cache") for _ in range(3))
    finally:
        edited.write_bytes(original)
    print(
        f"edited {edited.relative_to(projects)}: analysed with its project's summaries {linked:.3f} s, alone "
        f"{alone_file:.3f} s; `check` of its whole project afterwards {tree:.2f} s"
    )
    figures["edited file re-check / file alone"] = linked / alone_file

    print(f"\nthe fastest of {len(rounds)} round(s)")
    print(f"{'figure':40} {'ratio':>7} {'target':>7}")
    for name, value in figures.items():
        print(f"{name:40} {value:7.2f} {'≤ ' + format(TARGETS[name], 'g'):>7}")
    return 0


def one_round(files: list[Path], projects: Path, plain: Optional[str]) -> dict[str, float]:
    """Seconds of each measurement, one after another: the engine per file, project-wide with the
    summary cache cold and warm; flake8 alone, and with the plugin cold and warm."""
    cache = projects / ".jpl_cache"
    seconds = {"engine per file": engine_seconds(files, project=False, cache=cache)}
    clear_caches(projects)
    seconds["engine project-wide cold"] = engine_seconds(files, project=True, cache=cache)
    seconds["engine project-wide warm"] = engine_seconds(files, project=True, cache=cache)
    if plain is not None:
        # flake8 runs from the corpus folder: a path relative to here would not be found there.
        seconds["flake8 alone"] = flake8_seconds(plain, projects)
        clear_caches(projects)
        seconds["flake8 with the plugin cold"] = flake8_seconds(our_flake8(), projects)
        seconds["flake8 with the plugin warm"] = flake8_seconds(our_flake8(), projects)
    return seconds


def ratios(seconds: dict[str, float]) -> dict[str, float]:
    per_file = seconds["engine per file"]
    found = {
        "check cold / per file": seconds["engine project-wide cold"] / per_file,
        "check warm / per file": seconds["engine project-wide warm"] / per_file,
    }
    if "flake8 alone" in seconds:
        alone = seconds["flake8 alone"]
        found["flake8 (d-c)/c cold"] = (seconds["flake8 with the plugin cold"] - alone) / alone
        found["flake8 (d-c)/c warm"] = (seconds["flake8 with the plugin warm"] - alone) / alone
    return found


if __name__ == "__main__":
    sys.exit(main())
