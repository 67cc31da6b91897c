"""The command line: `check` (lint), `confirm` (runtime confirmation), `rules` (list the codes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .surfaces.config import ConfigError
from .surfaces.project import Project, add_configuration_arguments

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

    server = commands.add_parser("server", help="run the Language Server over stdio (needs the lsp extra)")
    server.set_defaults(handler=run_server)

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


STDIN = Path("-")


def add_check_arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="files and folders; folders are walked; `-` reads stdin"
    )
    check.add_argument("--format", choices=("text", "json", "sarif", "github"), default="text")
    add_configuration_arguments(check)
    check.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply the excludes to paths named on the command line too, and to --stdin-filename "
        "(pre-commit names every file)",
    )
    check.add_argument(
        "--stdin-filename",
        type=Path,
        metavar="PATH",
        help="with `-`: the name of the source read from stdin, used in the output and to find its configuration",
    )
    check.add_argument("-j", "--jobs", type=_positive, default=1, help="files analysed in parallel (default: 1)")
    check.add_argument("--no-cache", action="store_true", help="neither read nor write the results cache")
    check.add_argument(
        "--cache-dir",
        type=Path,
        help="where results are cached (default: .jpl_cache beside the pyproject.toml that configures the files)",
    )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def run_check(args: argparse.Namespace) -> int:
    from .surfaces.check import check_paths, check_stdin
    from .surfaces.formats import FORMATTERS

    problem = stdin_usage_problem(args)
    if problem:
        return usage_error(problem)
    try:
        project = Project.from_arguments(args)
    except ConfigError as error:
        return usage_error(str(error))
    missing = [str(p) for p in args.paths if p != STDIN and not p.exists()]
    if missing:
        return usage_error(f"no such file or folder: {', '.join(missing)}")
    try:
        if args.paths == [STDIN]:
            name = args.stdin_filename or Path("stdin")  # as flake8 names it; configured from the working directory
            results = check_stdin(sys.stdin.buffer.read(), name, project, force_exclude=args.force_exclude)
        else:
            results = check_paths(
                args.paths, project, jobs=args.jobs, force_exclude=args.force_exclude, cache=results_cache(args)
            )
    except ConfigError as error:
        return usage_error(str(error))
    sys.stdout.write(FORMATTERS[args.format](results))
    return EXIT_FINDINGS if any(r.diagnostics for r in results) else EXIT_CLEAN


def stdin_usage_problem(args: argparse.Namespace) -> str:
    """What is wrong with how `-` and --stdin-filename are combined, or "" if nothing."""
    if STDIN in args.paths and len(args.paths) > 1:
        return "`-` (read the source from stdin) cannot be combined with other paths"
    if args.stdin_filename is not None and args.paths != [STDIN]:
        return "--stdin-filename names the source read from stdin: give `-` as the only path"
    if args.stdin_filename is not None and args.stdin_filename.suffix == ".ipynb":
        return "a notebook cannot be read from stdin: give the .ipynb file's path instead"
    return ""


def results_cache(args: argparse.Namespace):
    """Results cached per file content (surfaces/cache.py), unless --no-cache: in --cache-dir, or
    beside the pyproject.toml of each file's project."""
    if args.no_cache:
        return None
    from .surfaces.cache import CachePerProject, ResultCache

    return ResultCache(args.cache_dir) if args.cache_dir else CachePerProject()


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


def run_server(args: argparse.Namespace) -> int:
    """Imported here: `check` and the others never load pygls."""
    try:
        from .surfaces.lsp import main as serve
    except ModuleNotFoundError as error:
        if error.name not in ("pygls", "lsprotocol") and not (error.name or "").startswith(("pygls.", "lsprotocol.")):
            raise
        return usage_error("the server needs pygls: install the lsp extra: pip install -e '.[lsp]'")
    return serve()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)
