"""The command line: `check` (lint), `confirm` (runtime confirmation), `rules` (list the codes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .rules import ALL_RULES, ANALYSIS_FAILURE_CODE
from .surfaces.config import ConfigError, find_pyproject, load_config, merge

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _codes(value: str) -> list[str]:
    return [code.strip().upper() for code in value.split(",") if code.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jax-purity-lint",
        description="Find Python state that jax.jit and other trace-caching transformations freeze at trace time.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser("check", help="lint files and folders (.py and .ipynb)")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    check.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    check.add_argument("--select", type=_codes, help="comma-separated codes or prefixes to report")
    check.add_argument("--ignore", type=_codes, help="comma-separated codes or prefixes to leave out")
    check.add_argument("--exclude", type=lambda v: [p for p in v.split(",") if p], help="glob patterns to skip")
    check.add_argument("--extend-exclude", type=lambda v: [p for p in v.split(",") if p])
    check.add_argument("--jit-functions", type=lambda v: [p for p in v.split(",") if p],
                       help="extra compile-and-cache transformations, e.g. mylib.compile")
    check.add_argument("--config", type=Path, help="pyproject.toml to read (default: the nearest one)")
    check.add_argument("-j", "--jobs", type=int, default=1, help="files analysed in parallel")
    check.set_defaults(handler=run_check)

    rules = commands.add_parser("rules", help="list the codes and what they mean")
    rules.set_defaults(handler=run_rules)

    try:
        from .runtime import cli as runtime_cli
    except ImportError:  # pragma: no cover - the runtime checker is part of the package
        runtime_cli = None
    if runtime_cli is not None:
        runtime_cli.register(commands)
    return parser


def run_check(args: argparse.Namespace) -> int:
    from .surfaces.check import check_paths
    from .surfaces.formats import FORMATTERS

    try:
        pyproject = args.config if args.config else find_pyproject(Path.cwd())
        config = merge(
            load_config(pyproject),
            select=args.select,
            ignore=args.ignore,
            exclude=args.exclude,
            extend_exclude=args.extend_exclude,
            jit_functions=args.jit_functions,
        )
    except ConfigError as error:
        print(f"jax-purity-lint: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"jax-purity-lint: error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    results = check_paths(args.paths, config, jobs=max(1, args.jobs))
    sys.stdout.write(FORMATTERS[args.format](results))
    return EXIT_FINDINGS if any(r.diagnostics for r in results) else EXIT_CLEAN


def run_rules(args: argparse.Namespace) -> int:
    print(f"{ANALYSIS_FAILURE_CODE}  analysis-failure: the file could not be analysed")
    for rule in ALL_RULES:
        print(f"{rule.code}  {rule.name}: {rule.summary}")
    return EXIT_CLEAN


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)
