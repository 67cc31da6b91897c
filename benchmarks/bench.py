"""The performance benchmark of jax-purity-lint against libcst's parse and flake8's default checks.

Run it with `bash benchmarks/run.sh` (which builds its two environments and calls this script);
docs/performance.md explains the figures and holds the latest results. `--quick` is a smoke run.

(a) libcst.parse_module alone over the corpus files that pass the prefilter: the floor for a libcst tool
(b) the full analysis (engine.analyze_source, prefilter included) over the whole corpus
(c) flake8 with its default checks;  (d) the same flake8 with our plugin installed
(e) `jax-purity-lint check -j 2`: an empty cache, then the same tree again, and with --no-cache
a scaling series of one synthetic file of 1k, 4k, 16k and 64k lines, and the on-save latency of
flake8 on one file with and without the plugin (on_save.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import libcst as cst

from jax_purity_lint.engine import analyze_source
from jax_purity_lint.settings import DEFAULT_SETTINGS
from jax_purity_lint.surfaces.cache_folder import CACHE_FOLDER_NAME

sys.path.insert(0, str(Path(__file__).parent))
from corpus import CORPUS_PACKAGES, SourceFile, corpus_files, load, scaling_series  # noqa: E402
from measure import Stopwatch, Timing, machine, peak_memory, run_command, scaling_exponent  # noqa: E402
import on_save  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
FIXTURES = REPOSITORY / "tests" / "fixtures"
SERIES_UNITS = (1, 4, 16, 64)  # thousands of lines
QUICK_PACKAGES, QUICK_UNITS = ("equinox",), (1, 2, 4)

# name: (limit, "max" or "min")
TARGETS = {
    "b/a": (1.3, "max"),
    "(d-c)/c": (0.5, "max"),
    "t(largest)/t(1k)": (80.0, "max"),
    "warm cache speedup": (10.0, "min"),
}


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain-flake8", type=Path, required=True, help="flake8 without this package's plugin")
    parser.add_argument("--our-flake8", type=Path, required=True, help="flake8 with this package installed")
    parser.add_argument("--our-cli", type=Path, required=True, help="the jax-purity-lint command")
    parser.add_argument("--site-packages", type=Path, required=True, help="where the corpus packages are installed")
    parser.add_argument("--quick", action="store_true", help="a smoke run: equinox only, a short series")
    parser.add_argument("--jobs", type=int, default=2, help="-j of figure (e) (default: 2)")
    parser.add_argument(
        "--json", type=Path, default=REPOSITORY / "benchmarks" / "results" / "latest.json", help="where to write"
    )
    return parser.parse_args(argv)


# -- (a) and (b): in this process ------------------------------------------------------------------


def parse_only(source: SourceFile) -> None:
    try:
        cst.parse_module(source.text)
    except cst.ParserSyntaxError:
        pass  # the analysis reports these as JPL001 after the same failed parse


def time_parse_and_analysis(corpus: Sequence[SourceFile]) -> tuple[Timing, Timing, Timing, int]:
    """(a) and (b), file by file and in alternating order, so that neither always runs second, on
    warm caches, and a change of the machine's load between the two figures does not skew them.
    Also (a'), the part of (a) spent on the files that pass the whole prefilter (which the engine
    does parse with libcst)."""
    parse_reaching, parse_other, analysis = Stopwatch(), Stopwatch(), Stopwatch()
    findings = 0
    for index, source in enumerate(corpus):
        steps = [lambda: analysis.run(lambda: analyze_source(source.text, str(source.path), DEFAULT_SETTINGS))]
        if source.marked:
            parse = parse_reaching if source.reaches_libcst else parse_other
            steps.append(lambda: parse.run(lambda: parse_only(source)))
        for step in steps if index % 2 else reversed(steps):
            result = step()
            if isinstance(result, list):
                findings += len(result)
    return parse_reaching.timing + parse_other.timing, parse_reaching.timing, analysis.timing, findings


# -- (c), (d) and (e): commands --------------------------------------------------------------------


def flake8_command(flake8: Path, files: Sequence[Path]) -> list[str]:
    # --isolated: no configuration file is read; default checks and flake8's default -j (all CPUs).
    return [str(flake8), "--isolated", *map(str, files)]


def time_flake8(plain: Path, ours: Path, files: Sequence[Path], cwd: Path, rounds: int) -> tuple[Timing, Timing]:
    """(c) and (d), run as c d d c ... and averaged, so a steady change of load cancels out. (d) is
    a first run, as CI's on a fresh clone: the plugin's cache (in `cwd`, there being no pyproject.toml)
    is emptied before each."""
    c_runs, d_runs = [], []
    for round_ in range(rounds):
        order = [(plain, c_runs), (ours, d_runs)]
        for flake8, runs in order if round_ % 2 == 0 else reversed(order):
            if flake8 == ours:
                shutil.rmtree(cwd / CACHE_FOLDER_NAME, ignore_errors=True)
            runs.append(run_command(flake8_command(flake8, files), cwd))
    return _mean(c_runs), _mean(d_runs)


def _mean(timings: Sequence[Timing]) -> Timing:
    total = Timing()
    for timing in timings:
        total = total + timing
    mean = total.scaled(1 / len(timings))
    mean.max_rss_kib = max(t.max_rss_kib or 0 for t in timings)
    return mean


def time_cli(cli: Path, files: Sequence[Path], cwd: Path, jobs: int) -> tuple[dict[str, Timing], bool]:
    """(e): with an empty cache, again over the unchanged files, and without the cache. Also
    whether the second run only hit: the package is installed editable, so an edit to it during
    the run changes the cache key, and the second run would recompute (and store) everything."""
    cache = cwd / "jpl-cache"
    shutil.rmtree(cache, ignore_errors=True)
    check = [str(cli), "check", "-j", str(jobs)]
    paths = list(map(str, files))
    cold = run_command([*check, "--cache-dir", str(cache), *paths], cwd)
    stored = len(list(cache.glob("*/*.json")))
    warm = run_command([*check, "--cache-dir", str(cache), *paths], cwd)
    only_hits = len(list(cache.glob("*/*.json"))) == stored
    no_cache = run_command([*check, "--no-cache", *paths], cwd)
    return {"cold": cold, "warm": warm, "no_cache": no_cache}, only_hits


# -- the scaling series ----------------------------------------------------------------------------


def repetitions(units: int) -> int:
    return 7 if units <= 1 else 5 if units <= 4 else 3 if units <= 16 else 2


def time_series(files: Sequence[Path], units: Sequence[int]) -> list[dict[str, Any]]:
    """Parse and full analysis of each synthetic file, alternating; the fastest repetition counts."""
    points = []
    for path, count in zip(files, units):
        source = SourceFile(path, path.read_text(encoding="utf-8"))
        parse_cpu, analysis_cpu, findings = [], [], 0
        for repetition in range(repetitions(count)):
            gc.collect()
            parse, analysis = Stopwatch(), Stopwatch()
            steps = [
                lambda: parse.run(lambda: parse_only(source)),
                lambda: analysis.run(lambda: analyze_source(source.text)),
            ]
            for step in steps if repetition % 2 else reversed(steps):
                result = step()
                findings = len(result) if isinstance(result, list) else findings
            parse_cpu.append(parse.timing.cpu)
            analysis_cpu.append(analysis.timing.cpu)
        points.append(
            {
                "file": path.name,
                "lines": source.lines,
                "parse_cpu_s": min(parse_cpu),
                "analysis_cpu_s": min(analysis_cpu),
                "findings": findings,
            }
        )
    return points


# -- ratios and the report -------------------------------------------------------------------------


def ratios(
    a: Timing, a_reaching: Timing, b: Timing, c: Timing, d: Timing, cli: dict[str, Timing], series: list[dict]
) -> dict:
    first, last = series[0], series[-1]
    ours_only = [(p["lines"], max(p["analysis_cpu_s"] - p["parse_cpu_s"], 1e-6)) for p in series]
    return {
        "b/a": b.cpu / a.cpu,
        "b/a (wall)": b.wall / a.wall,
        "b/a' (a': only the files libcst parses)": b.cpu / a_reaching.cpu,
        "(d-c)/c": (d.cpu - c.cpu) / c.cpu,
        "(d-c)/c (wall)": (d.wall - c.wall) / c.wall,
        "t(largest)/t(1k)": last["analysis_cpu_s"] / first["analysis_cpu_s"],
        "t(largest)/t(1k), libcst.parse_module alone": last["parse_cpu_s"] / first["parse_cpu_s"],
        "lines(largest)/lines(1k)": last["lines"] / first["lines"],
        "scaling exponent (analysis)": scaling_exponent([(p["lines"], p["analysis_cpu_s"]) for p in series]),
        "scaling exponent (parse)": scaling_exponent([(p["lines"], p["parse_cpu_s"]) for p in series]),
        "scaling exponent (analysis minus parse)": scaling_exponent(ours_only),
        "warm cache speedup": cli["cold"].wall / cli["warm"].wall,
        "warm cache speedup (cpu)": cli["cold"].cpu / cli["warm"].cpu,
    }


def verdicts(figures: dict[str, float]) -> dict[str, dict[str, Any]]:
    verdict = {}
    for name, (limit, kind) in TARGETS.items():
        value = figures[name]
        verdict[name] = {"value": value, "target": f"{'≤' if kind == 'max' else '≥'} {limit:g}",
                         "met": value <= limit if kind == "max" else value >= limit}
    return verdict


def render(report: dict[str, Any]) -> str:
    sections = [render_setting(report), render_figures(report), render_series(report), render_ratios(report),
                [on_save.render(report["on_save"]).rstrip("\n")]]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def render_setting(report: dict[str, Any]) -> list[str]:
    m, corpus = report["machine"], report["corpus"]
    packages = ", ".join(f"{name} {version}" for name, version in m["corpus"].items())
    return [
        f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Python {m['python']}; "
        f"load average {m['load_average_at_start']} at start, {report['load_average_at_end']} at end",
        "tools: " + ", ".join(f"{name} {version}" for name, version in m["tools"].items()),
        f"corpus: {packages}: {corpus['files']} files, {corpus['lines']} lines; "
        f"{corpus['marked_files']} files ({corpus['marked_lines']} lines) pass the marker check, "
        f"{corpus['parsed_files']} ({corpus['parsed_lines']} lines) the whole prefilter",
    ]


def render_figures(report: dict[str, Any]) -> list[str]:
    lines = [f"{'figure':<58}{'files':>7}{'lines':>9}{'wall s':>9}{'cpu s':>9}"]
    for row in report["table"]:
        lines.append(
            f"{row['figure']:<58}{row['files']:>7}{row['lines']:>9}{row['wall_s']:>9.2f}{row['cpu_s']:>9.2f}"
        )
    for name, memory in report["peak_memory"].items():
        python_peak = memory["python_peak_kib"]
        lines.append(
            f"peak memory of (b) on {name} ({memory['lines']} lines): resident size "
            f"+{memory['rss_growth_kib'] / 1024:.0f} MiB (process {memory['max_rss_kib'] / 1024:.0f} MiB)"
            + ("" if python_peak is None else f", Python allocations {python_peak / 1024:.0f} MiB")
        )
    return lines


def render_series(report: dict[str, Any]) -> list[str]:
    header = f"{'scaling series':<22}{'lines':>8}{'parse cpu s':>13}{'analysis cpu s':>16}{'µs/line':>9}"
    lines = [f"{header}{'findings':>10}"]
    for point in report["series"]:
        per_line = point["analysis_cpu_s"] / point["lines"] * 1e6
        lines.append(
            f"{point['file']:<22}{point['lines']:>8}{point['parse_cpu_s']:>13.2f}"
            f"{point['analysis_cpu_s']:>16.2f}{per_line:>9.0f}{point['findings']:>10}"
        )
    return lines


def render_ratios(report: dict[str, Any]) -> list[str]:
    lines = ["ratios (on CPU time, unless marked wall):"]
    for name, value in report["ratios"].items():
        verdict = report["verdicts"].get(name)
        suffix = f"   target {verdict['target']}: {'met' if verdict['met'] else 'MISSED'}" if verdict else ""
        lines.append(f"  {name:<42}{value:>9.3f}{suffix}")
    if not report["second_run_only_hit"]:
        lines.append("  WARNING: the second `check` stored new entries: the package changed during the run; run again")
    return lines


def main(argv: Sequence[str]) -> int:
    args = parse_arguments(argv)
    packages, units = (QUICK_PACKAGES, QUICK_UNITS) if args.quick else (CORPUS_PACKAGES, SERIES_UNITS)
    check_environments(args.plain_flake8, args.our_flake8)
    report: dict[str, Any] = {"quick": args.quick, "machine": machine(REPOSITORY, args.site_packages, packages)}

    corpus = load(corpus_files(args.site_packages, packages))
    files = [source.path for source in corpus]
    marked = [source for source in corpus if source.marked]
    reaching = [source for source in marked if source.reaches_libcst]
    lines, marked_lines = sum(s.lines for s in corpus), sum(s.lines for s in marked)
    reaching_lines = sum(s.lines for s in reaching)
    report["corpus"] = {"packages": list(packages), "files": len(corpus), "lines": lines,
                        "marked_files": len(marked), "marked_lines": marked_lines,
                        "parsed_files": len(reaching), "parsed_lines": reaching_lines}
    progress(f"corpus: {len(corpus)} files, {lines} lines ({len(marked)} pass the marker check, "
             f"{len(reaching)} the whole prefilter)")

    progress("(a) and (b): parse and analysis, in this process")
    a, a_reaching, b, findings = time_parse_and_analysis(corpus)
    with tempfile.TemporaryDirectory(prefix="jpl-bench-") as scratch:
        workdir = Path(scratch)  # no configuration file of flake8's or ours above it
        progress("(c) and (d): flake8 without and with the plugin")
        c, d = time_flake8(args.plain_flake8, args.our_flake8, files, workdir, rounds=1 if args.quick else 2)
        progress(f"(e): jax-purity-lint check -j {args.jobs}, cold cache, warm cache, no cache")
        cli, report["second_run_only_hit"] = time_cli(args.our_cli, files, workdir, args.jobs)
        progress(f"scaling series: {', '.join(f'{n}k' for n in units)} lines")
        series_files = scaling_series(sorted(FIXTURES.glob("*.py")), units, workdir / "series")
        series = time_series(series_files, units)
        progress("on save: flake8 on one file after an edit, without and with the plugin")
        report["on_save"] = on_save.measure(args.plain_flake8.resolve(), args.our_flake8.resolve(),
                                            args.site_packages.resolve(), rounds=3 if args.quick else 9)
        progress("peak memory")
        largest = max(corpus, key=lambda source: source.lines)
        report["peak_memory"] = {
            str(largest.path.relative_to(args.site_packages)): {"lines": largest.lines, **peak_memory(largest.path)},
            series_files[-1].name: {"lines": series[-1]["lines"], **peak_memory(series_files[-1], python_peak=False)},
        }

    row = table_row
    report["table"] = [
        row("(a) libcst.parse_module, files passing the marker check", a, len(marked), marked_lines),
        row("(a') the same, files passing the whole prefilter", a_reaching, len(reaching), reaching_lines),
        row(f"(b) our full analysis, whole corpus ({findings} findings)", b, len(corpus), lines),
        row("(c) flake8, default checks", c, len(corpus), lines),
        row("(d) flake8, default checks + our plugin", d, len(corpus), lines),
        row(f"(e) jax-purity-lint check -j {args.jobs}, empty cache", cli["cold"], len(corpus), lines),
        row(f"    jax-purity-lint check -j {args.jobs}, second run (cache)", cli["warm"], len(corpus), lines),
        row(f"    jax-purity-lint check -j {args.jobs} --no-cache", cli["no_cache"], len(corpus), lines),
    ]
    report["series"] = series
    report["ratios"] = ratios(a, a_reaching, b, c, d, cli, series)
    report["verdicts"] = verdicts(report["ratios"])
    report["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(render(report))
    print(f"\nwritten to {args.json}")
    return 0


def table_row(figure: str, timing: Timing, files: int, lines: int) -> dict[str, Any]:
    return {"figure": figure, "files": files, "lines": lines, "wall_s": timing.wall, "cpu_s": timing.cpu}


def check_environments(plain: Path, ours: Path) -> None:
    """(c) is meaningless if the plugin is installed beside flake8, and (d) if it is not."""
    def plugins(flake8: Path) -> str:
        return subprocess.run([str(flake8), "--version"], capture_output=True, text=True, check=True).stdout

    if "jax-purity-lint" in plugins(plain):
        raise SystemExit(f"{plain} runs the jax-purity-lint plugin: figure (c) needs a flake8 without it")
    if "jax-purity-lint" not in plugins(ours):
        raise SystemExit(f"{ours} does not run the jax-purity-lint plugin")


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
