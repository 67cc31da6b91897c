"""The command line: `check` (lint), `confirm` (runtime confirmation), `rules` (list the codes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .surfaces.config import Config, ConfigError, command_line_config

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jax-purity-lint",
        description="Find Python state that jax.jit and other trace-caching transformations freeze at trace time.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    check = commands.add_parser("check", help="lint files and folders (.py and .ipynb)")
    add_check_arguments(check)
    check.set_defaults(handler=run_check)

    rules = commands.add_parser("rules", help="list the codes, or show one code's documentation")
    rules.add_argument("code", nargs="?", type=str.upper, help="a code, e.g. JPL100: print its page")
    rules.set_defaults(handler=run_rules)

    for surface in ("runtime", "rewrites"):
        _register_optional(commands, surface)
    return parser


def _register_optional(commands, package: str) -> None:
    """`confirm` (runtime) and `fix` (rewrites) register their own subcommands."""
    import importlib

    try:
        module = importlib.import_module(f"jax_purity_lint.{package}.cli")
    except ModuleNotFoundError as error:
        if error.name != f"jax_purity_lint.{package}.cli" and error.name != f"jax_purity_lint.{package}":
            raise
        return
    module.register(commands)


def add_check_arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files and folders; folders are walked")
    check.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    check.add_argument("--select", type=_list, help="comma-separated codes or prefixes to report (default: JPL)")
    check.add_argument("--ignore", type=_list, help="comma-separated codes or prefixes to leave out")
    check.add_argument("--exclude", type=_list, help="comma-separated glob patterns to skip (replaces the default)")
    check.add_argument("--extend-exclude", type=_list, help="more glob patterns to skip")
    check.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply the excludes to paths named on the command line too (pre-commit names every file)",
    )
    check.add_argument(
        "--jit-functions", type=_list, help="extra compile-and-cache transformations, e.g. mylib.compile"
    )
    check.add_argument(
        "--state-aware-functions", type=_list, help="transformations that carry module state, like flax.nnx.jit"
    )
    check.add_argument("--config", type=Path, help="the pyproject.toml to read (default: the nearest one)")
    check.add_argument("-j", "--jobs", type=_positive, default=1, help="files analysed in parallel (default: 1)")
    check.add_argument("--no-cache", action="store_true", help="neither read nor write the results cache")
    check.add_argument(
        "--cache-dir", type=Path, help="where results are cached (default: .jpl_cache beside pyproject.toml)"
    )


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def run_check(args: argparse.Namespace) -> int:
    from .surfaces.check import check_paths
    from .surfaces.formats import FORMATTERS

    try:
        config = command_line_config(args)
    except ConfigError as error:
        return usage_error(str(error))
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        return usage_error(f"no such file or folder: {', '.join(missing)}")
    cache = results_cache(args, config)
    results = check_paths(args.paths, config, jobs=args.jobs, force_exclude=args.force_exclude, cache=cache)
    sys.stdout.write(FORMATTERS[args.format](results))
    return EXIT_FINDINGS if any(r.diagnostics for r in results) else EXIT_CLEAN


def results_cache(args: argparse.Namespace, config: Config):
    """Results cached per file content (surfaces/cache.py), unless --no-cache."""
    if args.no_cache:
        return None
    from .surfaces.cache import ResultCache, default_cache_folder

    return ResultCache(args.cache_dir or default_cache_folder(config))


def usage_error(message: str) -> int:
    print(f"jax-purity-lint: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_rules(args: argparse.Namespace) -> int:
    from .docs import docs_by_code, render_page

    docs = docs_by_code()
    if args.code is None:
        for doc in docs.values():
            print(f"{doc.code}  {doc.name}: {doc.summary}{' (opt-in: select it by its code)' if doc.opt_in else ''}")
        return EXIT_CLEAN
    if args.code not in docs:
        return usage_error(f"unknown code {args.code!r}: the codes are {', '.join(docs)}")
    print(render_page(docs[args.code]), end="")
    return EXIT_CLEAN


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)
